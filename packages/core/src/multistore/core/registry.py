"""Where the gateway looks up buckets, credentials and roles; implemented by config providers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from multistore.core.config import BucketConfig, RoleConfig, StoredCredential, TemporaryCredentials


@dataclass(frozen=True, slots=True)
class ListRewrite:
    """How listed keys are presented: strip ``strip_prefix`` then prepend ``add_prefix``."""

    strip_prefix: str = ""
    add_prefix: str = ""


@dataclass(frozen=True, slots=True)
class ResolvedBucket:
    """A bucket lookup result with optional presentation tweaks (path mapping)."""

    config: BucketConfig
    list_rewrite: ListRewrite | None = None
    display_name: str | None = None


@dataclass(frozen=True, slots=True)
class BucketEntry:
    name: str
    creation_date: datetime


@dataclass(frozen=True, slots=True)
class BucketOwner:
    id: str = "multistore-proxy"
    display_name: str = "multistore-proxy"


class BucketRegistry(Protocol):
    """Finds virtual buckets by name. Authorization is the gateway's job, not the registry's."""

    async def get_bucket(self, name: str) -> ResolvedBucket | None: ...

    async def list_buckets(self) -> list[BucketEntry]: ...

    def bucket_owner(self) -> BucketOwner: ...


class CredentialRegistry(Protocol):
    """Long-lived access keys and STS roles."""

    async def get_credential(self, access_key_id: str) -> StoredCredential | None: ...

    async def get_role(self, role_id: str) -> RoleConfig | None: ...


@runtime_checkable
class CachedCredentialRegistry(CredentialRegistry, Protocol):
    """A credential registry that can also answer from memory, without awaiting.

    ``cached_credential`` returns what ``get_credential`` would return right now if that is
    known without any I/O, else ``None`` (the caller then awaits ``get_credential``).
    """

    def cached_credential(self, access_key_id: str) -> StoredCredential | None: ...


class TemporaryCredentialResolver(Protocol):
    """Turns an ``x-amz-security-token`` into the credentials sealed inside it.

    Returns ``None`` for a token it does not recognise; raises
    :class:`~multistore.core.errors.ExpiredToken` for one that has expired.
    """

    def resolve(self, session_token: str) -> TemporaryCredentials | None: ...
