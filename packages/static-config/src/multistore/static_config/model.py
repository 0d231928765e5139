"""The parsed, validated configuration as one immutable value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from multistore.core.config import BucketConfig, RoleConfig, StoredCredential
from multistore.core.registry import BucketOwner
from multistore.static_config.server_settings import ServerSettings


def _no_sections() -> Mapping[str, Mapping[str, object]]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StaticConfig:
    """Everything a config file declares, mapped onto the core model.

    ``extra_sections`` holds top-level tables this package does not interpret (for example
    a ``[metering]`` table read by a plugin), untouched.
    """

    owner: BucketOwner = field(default_factory=BucketOwner)
    buckets: tuple[BucketConfig, ...] = ()
    credentials: tuple[StoredCredential, ...] = ()
    roles: tuple[RoleConfig, ...] = ()
    server: ServerSettings = field(default_factory=ServerSettings)
    extra_sections: Mapping[str, Mapping[str, object]] = field(default_factory=_no_sections)

    def __repr__(self) -> str:
        # Names only: extra sections may hold secrets of their own (a Redis password), and
        # a full dump of every bucket is unreadable in a log line anyway.
        return (
            f"StaticConfig(owner={self.owner!r}, "
            f"buckets={tuple(b.name for b in self.buckets)!r}, "
            f"credentials={tuple(c.access_key_id for c in self.credentials)!r}, "
            f"roles={tuple(r.role_id for r in self.roles)!r}, "
            f"server={self.server!r}, "
            f"extra_sections={tuple(self.extra_sections)!r})"
        )
