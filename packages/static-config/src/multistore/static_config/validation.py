"""Checks across entries: empty and duplicate ids, roles that can never be assumed.

The first messages are upstream's, word for word, so operators moving from the Rust
gateway recognise them. An id of ``None`` was missing or mistyped; that is reported by
the parser already, so it is skipped here rather than reported twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from multistore.core.config import BucketConfig
from multistore.static_config._reader import quote

logger = logging.getLogger("multistore.static_config")


@dataclass(frozen=True, slots=True)
class RoleFacts:
    role_id: str | None
    lacks_issuers: bool


@dataclass(frozen=True, slots=True)
class CredentialFacts:
    access_key_id: str | None
    secret_is_empty: bool


def bucket_name_problems(names: Sequence[str | None]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name is None:
            continue
        if not name:
            problems.append(f"bucket[{index}] has an empty name")
            continue
        if name in seen:
            problems.append(f"duplicate bucket name: {quote(name)}")
        seen.add(name)
        # Path-style requests are /{bucket}/{key}: a "/" makes the bucket unaddressable.
        if "/" in name:
            problems.append(f'bucket[{index}] name {quote(name)} must not contain "/"')
        # /.sts, /.well-known and /.multistore belong to the gateway itself.
        if name.startswith("."):
            problems.append(
                f'bucket[{index}] name {quote(name)} must not start with "." '
                "(reserved for gateway routes such as /.sts)"
            )
    return problems


def role_problems(roles: Sequence[RoleFacts]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for index, role in enumerate(roles):
        if role.role_id is not None:
            if not role.role_id:
                problems.append(f"role[{index}] has an empty role_id")
            elif role.role_id in seen:
                problems.append(f"duplicate role_id: {quote(role.role_id)}")
            seen.add(role.role_id)
        if role.lacks_issuers:
            problems.append(
                f"role {quote(role.role_id or '')} has no trusted_oidc_issuers "
                "(will never accept a token)"
            )
    return problems


def credential_problems(credentials: Sequence[CredentialFacts]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for index, credential in enumerate(credentials):
        if credential.access_key_id is not None:
            if not credential.access_key_id:
                problems.append(f"credential[{index}] has an empty access_key_id")
            elif credential.access_key_id in seen:
                problems.append(
                    f"duplicate credential access_key_id: {quote(credential.access_key_id)}"
                )
            seen.add(credential.access_key_id)
        # Anyone can compute a signature with an empty key.
        if credential.secret_is_empty:
            problems.append(f"credential[{index}] has an empty secret_access_key")
    return problems


def warn_about_unknown_allowed_roles(
    buckets: Iterable[BucketConfig], role_ids: Iterable[str | None]
) -> None:
    """Only a warning: the roles may be defined by another registry (upstream does the same)."""
    known = {role_id for role_id in role_ids if role_id}
    for bucket in buckets:
        for role_id in bucket.allowed_roles:
            if role_id not in known:
                logger.warning(
                    "bucket %s: allowed_roles references unknown role_id %s "
                    "(it may be defined in another registry)",
                    quote(bucket.name),
                    quote(role_id),
                )
