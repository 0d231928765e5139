"""Mint temporary credentials for a verified web identity."""

from __future__ import annotations

import base64
import os
import secrets
import string
from datetime import UTC, datetime, timedelta

from multistore.core.config import RoleConfig, TemporaryCredentials
from multistore.sts.trust import resolve_scopes
from multistore.sts.web_identity import VerifiedToken

# Gateway-minted keys are recognisable at a glance (and in logs) by this prefix.
ACCESS_KEY_PREFIX = "STSPRXY"
ACCESS_KEY_RANDOM_CHARS = 16
SECRET_KEY_CHARS = 40
_ALPHANUMERIC = string.ascii_letters + string.digits


def random_alphanumeric(length: int) -> str:
    # Always exactly ``length`` characters (upstream filtered base64 output and could
    # come up short).
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def mint_credentials(
    role: RoleConfig,
    token: VerifiedToken,
    *,
    duration_seconds: int,
    now: datetime | None = None,
) -> TemporaryCredentials:
    """Fresh keys scoped to ``role``, its placeholders filled from ``token``'s claims.

    Raises :class:`~multistore.sts.trust.ScopeTemplateError` when a placeholder cannot be
    filled. The ``session_token`` field here is an inner random value; the token handed to
    the client is these credentials sealed (:class:`~multistore.sts.token_key.TokenKey`).
    """
    scopes = resolve_scopes(role, token.claims)
    # Whole seconds: ``Expiration`` is shown to clients without fractions, as AWS does.
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    return TemporaryCredentials(
        access_key_id=ACCESS_KEY_PREFIX + random_alphanumeric(ACCESS_KEY_RANDOM_CHARS),
        secret_access_key=random_alphanumeric(SECRET_KEY_CHARS),
        session_token=base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode(),
        expiration=issued + timedelta(seconds=duration_seconds),
        allowed_scopes=scopes,
        assumed_role_id=role.role_id,
        source_identity=token.subject,
    )
