"""Swap in a new configuration at run time (SIGHUP) without disturbing requests in flight.

Each request reads the provider that is current when it asks; a reload replaces that
provider with one built from the new file in a single assignment, so a request sees either
the old configuration or the new one, never a mixture. A file that fails to load or
validate is rejected with its reason logged, and the old configuration stays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from multistore.core.config import RoleConfig, StoredCredential
from multistore.core.registry import BucketEntry, BucketOwner, ResolvedBucket
from multistore.static_config.errors import ConfigError
from multistore.static_config.model import StaticConfig
from multistore.static_config.provider import StaticProvider

logger = logging.getLogger("multistore.static_config")


class ReloadableProvider:
    """A :class:`StaticProvider` that can be replaced by re-running ``load``."""

    def __init__(self, load: Callable[[], StaticConfig]) -> None:
        self._load = load
        self._current = StaticProvider(load())
        self.on_reload: list[Callable[[], None]] = []
        # Checks the runtime adds (e.g. "every backend_type is installed"); a config that
        # fails one is rejected like a file that does not parse.
        self.validators: list[Callable[[StaticConfig], None]] = []

    def validate_current(self) -> None:
        for validator in self.validators:
            validator(self._current.config)

    @property
    def current(self) -> StaticProvider:
        return self._current

    def reload(self) -> bool:
        """Load again; keep the old configuration (and say why) if the new one is bad."""
        try:
            provider = StaticProvider(self._load())
            for validator in self.validators:
                validator(provider.config)
        except (ConfigError, OSError, ValueError) as exc:
            logger.error("configuration reload rejected, keeping the current one: %s", exc)
            return False
        self._current = provider
        for callback in self.on_reload:
            callback()
        config = provider.config
        logger.info(
            "configuration reloaded: %d buckets, %d credentials, %d roles",
            len(config.buckets), len(config.credentials), len(config.roles),
        )  # fmt: skip
        return True

    # Straight to the current provider's tables rather than awaiting its coroutines: these
    # run for every request, and each coroutine layer costs more than the lookup.
    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        return self._current.cached_bucket(name)

    async def list_buckets(self) -> list[BucketEntry]:
        return await self._current.list_buckets()

    def bucket_owner(self) -> BucketOwner:
        return self._current.bucket_owner()

    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        return self._current.cached_credential(access_key_id)

    async def get_role(self, role_id: str) -> RoleConfig | None:
        return await self._current.get_role(role_id)
