"""What the Lambda runtime reads from its environment, once per container.

The same variables as the server where they apply: ``MULTISTORE_CONFIG`` (or Lambda's
customary ``CONFIG_PATH``), ``MULTISTORE_DOMAIN``, ``MULTISTORE_MAX_OBJECT_SIZE``,
``MULTISTORE_DEBUG_ERRORS``, ``MULTISTORE_PATH_MAPPING``, ``MULTISTORE_LOG_LEVEL`` (or
``LOG_LEVEL``) and ``MULTISTORE_LOG_FORMAT``; as on the server, a variable wins over the
config file's ``[server]`` table, which supplies ``domain``, ``max_object_size``,
``cors_origins`` and ``log_level``. Listening, workers, TLS and timeouts are Lambda's
business, not ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from multistore.core.gateway import GatewayOptions
from multistore.static_config import StaticConfig
from multistore.static_config.sizes import parse_size

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """An environment the function cannot start with."""


@dataclass(frozen=True, slots=True)
class LambdaSettings:
    config: Path
    domain: str | None = None
    debug_errors: bool = False
    path_mapping: bool = False
    max_object_size: int | None = None
    """From ``MULTISTORE_MAX_OBJECT_SIZE``; None leaves it to the config's ``[server]``."""
    log_level: str | None = None
    """From ``MULTISTORE_LOG_LEVEL`` or ``LOG_LEVEL``; None leaves it to the config."""
    log_format: str = "text"

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
            max_object_size=_size(env, "MULTISTORE_MAX_OBJECT_SIZE"),
            log_level=_choice(env, ("MULTISTORE_LOG_LEVEL", "LOG_LEVEL"), LOG_LEVELS),
            log_format=_choice(env, ("MULTISTORE_LOG_FORMAT",), LOG_FORMATS) or "text",
        )

    def access_log_level(self, config: StaticConfig) -> str:
        return (self.log_level or config.server.log_level or "INFO").upper()

    def options(self, config: StaticConfig) -> GatewayOptions:
        table = config.server
        return GatewayOptions(
            virtual_host_domain=self.domain or table.domain,
            max_object_size=self.max_object_size or table.max_object_size,
            debug_errors=self.debug_errors,
            cors_origins=table.cors_origins or (),
        )


def _size(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if not value:
        return None
    try:
        return parse_size(value)
    except ValueError as exc:
        raise SettingsError(f"{name} {exc}") from None


def _choice(env: Mapping[str, str], names: tuple[str, ...], allowed: tuple[str, ...]) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            if value.lower() not in (a.lower() for a in allowed):
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
            return value.lower() if allowed is LOG_FORMATS else value.upper()
    return None
