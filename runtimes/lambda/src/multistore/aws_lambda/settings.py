"""What the Lambda runtime reads from its environment, once per container.

The same variables as the server where they apply: ``MULTISTORE_CONFIG`` (or Lambda's
customary ``CONFIG_PATH``), ``MULTISTORE_DOMAIN``, ``MULTISTORE_DEBUG_ERRORS``,
``MULTISTORE_PATH_MAPPING``; the config file's ``[server]`` table supplies ``domain``,
``max_object_size`` and ``cors_origins``. Listening, workers, TLS and timeouts are Lambda's
business, not ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from multistore.core.gateway import GatewayOptions
from multistore.static_config import StaticConfig


class SettingsError(ValueError):
    """An environment the function cannot start with."""


@dataclass(frozen=True, slots=True)
class LambdaSettings:
    config: Path
    domain: str | None = None
    debug_errors: bool = False
    path_mapping: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LambdaSettings:
        path = env.get("MULTISTORE_CONFIG") or env.get("CONFIG_PATH")
        if not path:
            raise SettingsError("set CONFIG_PATH (or MULTISTORE_CONFIG) to the gateway's config")
        return cls(
            config=Path(path),
            domain=env.get("MULTISTORE_DOMAIN") or None,
            debug_errors=env.get("MULTISTORE_DEBUG_ERRORS", "") == "1",
            path_mapping=env.get("MULTISTORE_PATH_MAPPING", "").lower() in ("1", "true"),
        )

    def options(self, config: StaticConfig) -> GatewayOptions:
        table = config.server
        return GatewayOptions(
            virtual_host_domain=self.domain or table.domain,
            max_object_size=table.max_object_size,
            debug_errors=self.debug_errors,
            cors_origins=table.cors_origins or (),
        )
