"""A role's trust policy: who may assume it, for how long, and with which scopes.

Pure functions over a :class:`~multistore.core.config.RoleConfig` and a token's claims;
the signature has already been checked when these run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from multistore.core.config import AccessScope, RoleConfig

DEFAULT_DURATION_SECONDS = 3600
MIN_DURATION_SECONDS = 900

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


class ScopeTemplateError(ValueError):
    """A ``{claim}`` placeholder of the role's scopes cannot be filled safely from the token."""


def issuer_is_trusted(role: RoleConfig, issuer: str) -> bool:
    """Exact comparison: ``https://a`` and ``https://a/`` are different issuers, as in OIDC."""
    return issuer in role.trusted_oidc_issuers


def audience_allowed(role: RoleConfig, audience: Any) -> bool:
    """``aud`` (a string or a list of strings) names one of the role's audiences.

    A role without ``required_audiences`` accepts any ``aud``, and none.
    """
    if not role.required_audiences:
        return True
    if isinstance(audience, str):
        return audience in role.required_audiences
    if isinstance(audience, list):
        return any(isinstance(a, str) and a in role.required_audiences for a in audience)
    return False


def subject_matches(pattern: str, subject: str) -> bool:
    """Anchored glob where only ``*`` is special (any run of characters, also none).

    ``repo:org/*:ref:refs/heads/*`` matches ``repo:org/app:ref:refs/heads/main``. No ``?``,
    no ``[...]``: subjects such as GitHub's contain characters fnmatch would interpret.
    """
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return subject == pattern
    first, *middle, last = pieces
    if len(subject) < len(first) + len(last):
        return False
    if not (subject.startswith(first) and subject.endswith(last)):
        return False
    position, end = len(first), len(subject) - len(last)
    # Taking each middle piece at its earliest occurrence is optimal for '*'-only globs.
    for piece in middle:
        found = subject.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def subject_allowed(role: RoleConfig, subject: str) -> bool:
    if not role.subject_conditions:
        return True
    return any(subject_matches(pattern, subject) for pattern in role.subject_conditions)


def session_duration(role: RoleConfig, requested: int | None) -> int:
    """``DurationSeconds`` (default 3600) clamped to ``[900, role max]``.

    A role whose maximum is below 900 s gets its maximum: the role's limit is the
    stricter promise, and a clamp with an inverted range must not fail (upstream panicked).
    """
    wanted = DEFAULT_DURATION_SECONDS if requested is None else requested
    return min(max(wanted, MIN_DURATION_SECONDS), role.max_session_duration_secs)


def resolve_scopes(role: RoleConfig, claims: Mapping[str, Any]) -> tuple[AccessScope, ...]:
    """The role's scopes with ``{claim}`` placeholders filled from the token.

    Refuses (raises :class:`ScopeTemplateError`) rather than guessing when a placeholder's
    claim is missing, empty or not a string or integer, and when a filled-in bucket becomes
    ``*`` (every bucket). Upstream substituted ``""``, which turns a prefix such as
    ``"{email}"`` into ``""`` — the whole bucket.
    """
    return tuple(
        AccessScope(
            bucket=_fill(scope.bucket, claims, is_bucket=True),
            prefixes=tuple(_fill(prefix, claims, is_bucket=False) for prefix in scope.prefixes),
            actions=scope.actions,
        )
        for scope in role.allowed_scopes
    )


def _fill(template: str, claims: Mapping[str, Any], *, is_bucket: bool) -> str:
    if "{" not in template:
        return template

    def claim_value(match: re.Match[str]) -> str:
        name = match.group(1)
        value = claims.get(name)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ScopeTemplateError(
                f"the role's scopes need the claim {name!r}, which the token lacks "
                "or carries as something other than a string"
            )
        text = str(value)
        if not text:
            raise ScopeTemplateError(f"the role's scopes need the claim {name!r}, which is empty")
        return text

    filled = _PLACEHOLDER.sub(claim_value, template)
    if is_bucket and filled == "*":
        raise ScopeTemplateError("a claim may not turn a scope's bucket into '*' (every bucket)")
    return filled
