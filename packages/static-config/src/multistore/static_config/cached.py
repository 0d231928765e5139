"""A TTL cache in front of any credential registry (one that may call a database or an API)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeGuard, TypeVar

from multistore.core.config import RoleConfig, StoredCredential
from multistore.core.registry import (
    BucketEntry,
    BucketOwner,
    BucketRegistry,
    CredentialRegistry,
    ResolvedBucket,
)

Value = TypeVar("Value")


class _TtlCache(Generic[Value]):
    """Results by key for ``ttl`` seconds, "not found" (``None``) included.

    Entries are kept in expiry order (the TTL is the same for all), so expired ones are
    dropped from the front on every store; ``max_entries`` bounds memory even when a caller
    sprays random access key ids, each of which would otherwise leave a "not found" behind.
    """

    __slots__ = ("_clock", "_entries", "_max_entries", "_ttl")

    def __init__(self, *, ttl: float, clock: Callable[[], float], max_entries: int) -> None:
        self._ttl = ttl
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, Value | None]] = OrderedDict()

    async def get_or_load(
        self, key: str, load: Callable[[str], Awaitable[Value | None]]
    ) -> Value | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        # An exception propagates before anything is stored: a failing backend is retried
        # on the next request instead of being remembered as "not found".
        value = await load(key)
        self._store(key, value)
        return value

    def get_fresh(self, key: str) -> Value | None:
        """The cached value if it is still fresh, else ``None`` (also for a cached miss)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        return None

    def _store(self, key: str, value: Value | None) -> None:
        now = self._clock()
        self._entries.pop(key, None)
        self._entries[key] = (now + self._ttl, value)
        while self._entries:
            oldest_key, (expires_at, _) = next(iter(self._entries.items()))
            if expires_at > now and len(self._entries) <= self._max_entries:
                break
            del self._entries[oldest_key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _is_bucket_registry(registry: object) -> TypeGuard[BucketRegistry]:
    return all(
        callable(getattr(registry, name, None))
        for name in ("get_bucket", "list_buckets", "bucket_owner")
    )


class CachedProvider:
    """Caches ``get_credential``/``get_role`` of ``inner`` for ``ttl`` seconds.

    Misses are cached too, so an unknown access key costs one lookup per TTL; exceptions
    are never cached. Bucket lookups pass straight through to ``inner`` when it is also a
    bucket registry: they are cheap and must follow config reloads at once.
    """

    __slots__ = ("_bucket_registry", "_credentials", "_inner", "_roles")

    def __init__(
        self,
        inner: CredentialRegistry,
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._inner = inner
        self._bucket_registry = inner if _is_bucket_registry(inner) else None
        self._credentials: _TtlCache[StoredCredential] = _TtlCache(
            ttl=ttl, clock=clock, max_entries=max_entries
        )
        self._roles: _TtlCache[RoleConfig] = _TtlCache(
            ttl=ttl, clock=clock, max_entries=max_entries
        )

    @property
    def inner(self) -> CredentialRegistry:
        return self._inner

    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        return await self._credentials.get_or_load(access_key_id, self._inner.get_credential)

    def cached_credential(self, access_key_id: str) -> StoredCredential | None:
        """``get_credential``'s answer when it is cached, without awaiting; else ``None``."""
        return self._credentials.get_fresh(access_key_id)

    async def get_role(self, role_id: str) -> RoleConfig | None:
        return await self._roles.get_or_load(role_id, self._inner.get_role)

    def clear(self) -> None:
        """Forget every cached result, e.g. after the credential source changed."""
        self._credentials.clear()
        self._roles.clear()

    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        return await self._buckets().get_bucket(name)

    async def list_buckets(self) -> list[BucketEntry]:
        return await self._buckets().list_buckets()

    def bucket_owner(self) -> BucketOwner:
        return self._buckets().bucket_owner()

    def _buckets(self) -> BucketRegistry:
        if self._bucket_registry is None:
            raise TypeError(f"{type(self._inner).__name__} is not a bucket registry")
        return self._bucket_registry

    def __repr__(self) -> str:
        return (
            f"CachedProvider({self._inner!r}, credentials_cached={len(self._credentials)}, "
            f"roles_cached={len(self._roles)})"
        )
