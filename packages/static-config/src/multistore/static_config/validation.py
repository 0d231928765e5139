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


def _id_problem(value: str | None, seen: set[str], *, empty: str, duplicate: str) -> str | None:
    """The upstream message for an empty or repeated id (``None`` was reported already)."""
    if value is None:
        return None
    if not value:
        return empty
    if value in seen:
        return f"{duplicate}: {quote(value)}"
    seen.add(value)
    return None


def role_problems(roles: Sequence[RoleFacts]) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for index, role in enumerate(roles):
        problem = _id_problem(
            role.role_id,
            seen,
            empty=f"role[{index}] has an empty role_id",
            duplicate="duplicate role_id",
        )
        if problem:
            problems.append(problem)
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
        problem = _id_problem(
            credential.access_key_id,
            seen,
            empty=f"credential[{index}] has an empty access_key_id",
            duplicate="duplicate credential access_key_id",
        )
        if problem:
            problems.append(problem)
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
