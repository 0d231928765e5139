"""Configuration model shared by every registry: buckets, credentials, roles, scopes.

The shapes follow the upstream TOML schema so that existing config files load unchanged.
Secrets are kept out of ``repr`` so that a logged config never leaks them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

SECRET_OPTION_NAMES = frozenset(
    {"secret_access_key", "access_key", "service_account_key", "token", "sas_token"}
)


class Action(enum.StrEnum):
    """An authorizable S3 action; values are the snake_case names used in config files."""

    GET_OBJECT = "get_object"
    GET_OBJECT_VERSION = "get_object_version"
    HEAD_OBJECT = "head_object"
    PUT_OBJECT = "put_object"
    DELETE_OBJECT = "delete_object"
    LIST_BUCKET = "list_bucket"
    CREATE_MULTIPART_UPLOAD = "create_multipart_upload"
    UPLOAD_PART = "upload_part"
    COMPLETE_MULTIPART_UPLOAD = "complete_multipart_upload"
    ABORT_MULTIPART_UPLOAD = "abort_multipart_upload"


READ_ACTIONS = frozenset({Action.GET_OBJECT, Action.HEAD_OBJECT, Action.LIST_BUCKET})


@dataclass(frozen=True, slots=True)
class AccessScope:
    """What a principal may do: ``actions`` on keys under ``prefixes`` of ``bucket``.

    ``bucket == "*"`` means every bucket; an empty ``prefixes`` list means every key.
    """

    bucket: str
    prefixes: tuple[str, ...] = ()
    actions: frozenset[Action] = frozenset()


def _redacted_options(options: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k in SECRET_OPTION_NAMES else v) for k, v in options.items()}


@dataclass(frozen=True, slots=True)
class BucketConfig:
    """One virtual bucket and the backend location behind it."""

    name: str
    backend_type: str
    anonymous_access: bool = False
    backend_prefix: str = ""
    allowed_roles: tuple[str, ...] = ()
    backend_options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    region: str = "us-east-1"
    cors_origins: tuple[str, ...] = ()

    def option(self, name: str, default: str = "") -> str:
        return self.backend_options.get(name, default)

    def __repr__(self) -> str:
        return (
            f"BucketConfig(name={self.name!r}, backend_type={self.backend_type!r}, "
            f"anonymous_access={self.anonymous_access!r}, backend_prefix={self.backend_prefix!r}, "
            f"backend_options={_redacted_options(self.backend_options)!r})"
        )


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A long-lived access key pair from the config file."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    principal_name: str
    allowed_scopes: tuple[AccessScope, ...] = ()
    enabled: bool = True
    created_at: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoleConfig:
    """A role that OIDC web identities may assume through STS."""

    role_id: str
    name: str
    trusted_oidc_issuers: tuple[str, ...] = ()
    required_audiences: tuple[str, ...] = ()
    subject_conditions: tuple[str, ...] = ()
    allowed_scopes: tuple[AccessScope, ...] = ()
    max_session_duration_secs: int = 3600


@dataclass(frozen=True, slots=True)
class TemporaryCredentials:
    """Credentials minted by STS; they travel sealed inside the session token."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime
    allowed_scopes: tuple[AccessScope, ...] = ()
    assumed_role_id: str = ""
    source_identity: str = ""
