"""Buckets, credentials and roles served from a :class:`StaticConfig`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from multistore.core.config import RoleConfig, StoredCredential
from multistore.core.registry import BucketEntry, BucketOwner, ResolvedBucket
from multistore.static_config.loading import load_config
from multistore.static_config.model import StaticConfig

# A config file has no notion of when a bucket was made; upstream reports this fixed date.
BUCKET_CREATION_DATE = datetime(2024, 1, 1, tzinfo=UTC)


class StaticProvider:
    """A :class:`~multistore.core.registry.BucketRegistry` and ``CredentialRegistry``.

    Every lookup is a dict lookup on tables built once here; the results are immutable and
    shared between requests. Authorization is not done here: the gateway decides what the
    caller may see.
    """

    __slots__ = ("_bucket_entries", "_buckets", "_config", "_credentials", "_roles")

    def __init__(self, config: StaticConfig) -> None:
        self._config = config
        self._buckets = {b.name: ResolvedBucket(config=b) for b in config.buckets}
        self._bucket_entries = tuple(
            BucketEntry(name=b.name, creation_date=BUCKET_CREATION_DATE) for b in config.buckets
        )
        self._credentials = {c.access_key_id: c for c in config.credentials}
        self._roles = {r.role_id: r for r in config.roles}

    @classmethod
    def from_file(cls, path: str | Path) -> StaticProvider:
        """Load, validate and serve a config file; raises ``ConfigError`` if it is invalid."""
        return cls(load_config(path))

    @property
    def config(self) -> StaticConfig:
        return self._config

    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        return self._buckets.get(name)

    def cached_bucket(self, name: str) -> ResolvedBucket | None:
        """``get_bucket`` without awaiting: every answer here is already in memory."""
        return self._buckets.get(name)

    async def list_buckets(self) -> list[BucketEntry]:
        return list(self._bucket_entries)

    def bucket_owner(self) -> BucketOwner:
        return self._config.owner

    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        return self._credentials.get(access_key_id)

    def cached_credential(self, access_key_id: str) -> StoredCredential | None:
        """``get_credential`` without awaiting: every answer here is already in memory."""
        return self._credentials.get(access_key_id)

    async def get_role(self, role_id: str) -> RoleConfig | None:
        return self._roles.get(role_id)

    def __repr__(self) -> str:
        return (
            f"StaticProvider(buckets={len(self._buckets)}, "
            f"credentials={len(self._credentials)}, roles={len(self._roles)})"
        )
