"""Checks across entries: empty and duplicate ids, roles that can never be assumed.

The first messages are upstream's, word for word, so operators moving from the Rust
gateway recognise them. An id of ``None`` was missing or mistyped; that is reported by
the parser already, so it is skipped here rather than reported twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from multistore.core.config import BucketConfig
from multistore.core.plugins import backend_credentials_available
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


OIDC_OPTIONS = (
    "oidc_role_arn",
    "oidc_subject",
    "oidc_audience",
    "oidc_sts_endpoint",
    "oidc_session_duration_secs",
)


def backend_auth_problems(
    path: str, backend_type: str | None, options: Mapping[str, str]
) -> list[str]:
    """``auth_type = "oidc"`` and its options (``path`` is the bucket's backend_options).

    Whether a plugin serves the ``auth_type`` is decided when the backend is built, from the
    installed ``multistore.backend_credentials`` entry points.
    """
    auth_type = options.get("auth_type")
    stray = [name for name in OIDC_OPTIONS if name in options]
    if auth_type is None:
        # Only a warning: the Rust gateway ignored these, and its configs must load unchanged.
        for name in stray:
            logger.warning('%s.%s has no effect without auth_type = "oidc"', path, name)
        return []
    if auth_type != "oidc":
        # Another plugin may serve other auth types; its own checks run when it is built.
        if backend_credentials_available(auth_type):
            return []
        return [f'{path}.auth_type: unknown value {quote(auth_type)} (expected "oidc")']
    problems: list[str] = []
    if backend_type is not None and backend_type != "s3":
        problems.append(
            f'{path}.auth_type = "oidc" needs backend_type = "s3", not {quote(backend_type)}'
        )
    if not options.get("oidc_role_arn", "").strip():
        problems.append(f'{path}.oidc_role_arn is required with auth_type = "oidc"')
    if options.get("access_key_id") or options.get("secret_access_key"):
        problems.append(
            f'{path}: auth_type = "oidc" obtains credentials itself; remove access_key_id '
            "and secret_access_key"
        )
    duration = options.get("oidc_session_duration_secs")
    if duration is not None and not (duration.isdigit() and 900 <= int(duration) <= 43200):
        problems.append(
            f"{path}.oidc_session_duration_secs must be a whole number of seconds from 900 "
            f"to 43200, got {quote(duration)}"
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
