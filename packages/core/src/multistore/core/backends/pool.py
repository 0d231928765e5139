"""One backend object per bucket configuration, built on first use and reused."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from multistore.core.backends.base import BackendServices, ProxyBackend
from multistore.core.config import BucketConfig
from multistore.core.errors import InternalError

BACKEND_TYPE_ALIASES = {"azure": "az", "gs": "gcs"}


class BackendPool:
    """Maps bucket configs to live backends.

    Keyed by the config object's identity: configs are immutable, a reload produces new
    objects, and a middleware that swaps in a config (credential injection) gets its own
    backend. The cache is bounded so such per-request configs cannot grow it without limit.
    """

    def __init__(
        self,
        factories: Mapping[str, Any],
        services: BackendServices,
        *,
        max_entries: int = 1024,
    ) -> None:
        self._factories = dict(factories)
        self._services = services
        self._max_entries = max_entries
        self._backends: OrderedDict[int, tuple[BucketConfig, ProxyBackend]] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        # The entry last handed out: already the most recently used, so a request for the
        # same bucket needs no lookup and no reordering (most traffic hits few buckets).
        self._last: tuple[BucketConfig, ProxyBackend] | None = None

    @property
    def services(self) -> BackendServices:
        return self._services

    def supports(self, backend_type: str) -> bool:
        return BACKEND_TYPE_ALIASES.get(backend_type, backend_type) in self._factories

    def factory(self, backend_type: str) -> Any:
        """What builds backends of ``backend_type`` (usually the backend class); ``None``
        when that type is not installed."""
        return self._factories.get(BACKEND_TYPE_ALIASES.get(backend_type, backend_type))

    def get(self, config: BucketConfig) -> ProxyBackend:
        entry = self._last
        if entry is not None and entry[0] is config:
            return entry[1]
        entry = self._backends.get(id(config))
        if entry is not None and entry[0] is config:
            self._backends.move_to_end(id(config))
            self._last = entry
            return entry[1]
        backend = self.build(config)
        entry = self._last = (config, backend)
        self._backends[id(config)] = entry
        if len(self._backends) > self._max_entries:
            _, (_, evicted) = self._backends.popitem(last=False)
            self._close_later(evicted)
        return backend

    def build(self, config: BucketConfig) -> ProxyBackend:
        """A new backend for ``config`` (raises if it cannot be built)."""
        backend_type = BACKEND_TYPE_ALIASES.get(config.backend_type, config.backend_type)
        factory = self._factories.get(backend_type)
        if factory is None:
            raise InternalError(
                f"bucket {config.name!r}: backend_type {config.backend_type!r} is not installed"
            )
        backend: ProxyBackend = factory(config, self._services)
        return backend

    def _close_later(self, backend: ProxyBackend) -> None:
        # get() is synchronous and on the request path: close the evicted backend in the
        # background, keeping a reference so the task is not collected mid-flight.
        task = asyncio.get_running_loop().create_task(backend.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for _, backend in self._backends.values():
            await backend.close()
        self._backends.clear()
        self._last = None
