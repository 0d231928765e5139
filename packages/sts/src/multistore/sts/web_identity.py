"""Verify a web identity token (an OIDC JWT) against a role's trust policy.

The order of the checks is part of the contract (SPEC §7): the issuer must be trusted and
the algorithm RS256 *before* any network I/O, so an attacker cannot make the gateway fetch
keys from an issuer nobody configured. Then the key, the signature (PyJWT), the audience,
``exp`` (required) and ``nbf`` with 60 s of leeway, and the subject.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWTError,
)

from multistore.core.config import RoleConfig
from multistore.sts.errors import (
    AccessDenied,
    ExpiredTokenException,
    IdpCommunicationError,
    InternalFailure,
    InvalidIdentityToken,
)
from multistore.sts.jwks import InsecureIssuerError, JwksCache, JwksFetchError, UnknownKeyError
from multistore.sts.trust import audience_allowed, issuer_is_trusted, subject_allowed

logger = logging.getLogger("multistore.sts")

ALGORITHM = "RS256"
LEEWAY_SECONDS = 60
# Claims quoted back in error messages are cut to this length.
_QUOTE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """A token whose signature and trust conditions have been checked."""

    issuer: str
    subject: str
    audience: str
    claims: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class WebIdentityVerifier:
    jwks: JwksCache
    leeway: int = LEEWAY_SECONDS

    async def verify(self, token: str, role: RoleConfig) -> VerifiedToken:
        header, unverified = _peek(token)
        issuer = unverified.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise InvalidIdentityToken("the token has no iss claim")
        if not issuer_is_trusted(role, issuer):
            raise InvalidIdentityToken(f"untrusted issuer: {_quote(issuer)}")
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise InvalidIdentityToken(
                f"unsupported signing algorithm {_quote(algorithm)}; only {ALGORITHM} is accepted"
            )
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidIdentityToken("the token header has no kid")
        key = await self._signing_key(issuer, kid)
        claims = self._decode(token, key, issuer)
        if not audience_allowed(role, claims.get("aud")):
            raise InvalidIdentityToken(
                f"audience {_quote(claims.get('aud'))} is not accepted by this role"
            )
        subject = claims.get("sub", "")
        if not isinstance(subject, str):
            raise InvalidIdentityToken("the sub claim is not a string")
        if not subject_allowed(role, subject):
            raise AccessDenied(
                "Not authorized to perform sts:AssumeRoleWithWebIdentity: subject "
                f"{_quote(subject)} does not match any of the role's conditions"
            )
        return VerifiedToken(issuer, subject, _first_audience(claims.get("aud")), claims)

    async def _signing_key(self, issuer: str, kid: str) -> jwt.PyJWK:
        try:
            return await self.jwks.get_key(issuer, kid)
        except InsecureIssuerError as exc:
            # The role trusts an issuer the gateway refuses to fetch keys from: the operator
            # must fix the config, the caller can do nothing about it.
            logger.error("role configuration error: %s", exc)
            raise InternalFailure(str(exc)) from exc
        except JwksFetchError as exc:
            raise IdpCommunicationError(str(exc)) from exc
        except UnknownKeyError as exc:
            raise InvalidIdentityToken(str(exc)) from exc

    def _decode(self, token: str, key: jwt.PyJWK, issuer: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=issuer,
                leeway=self.leeway,
                # The audience is the role's business (string or list, any of several).
                options={"require": ["exp", "iss"], "verify_aud": False},
            )
        except ExpiredSignatureError as exc:
            raise ExpiredTokenException("the web identity token has expired") from exc
        except ImmatureSignatureError as exc:
            raise InvalidIdentityToken(
                "the token is not valid yet (nbf or iat in the future)"
            ) from exc
        except MissingRequiredClaimError as exc:
            raise InvalidIdentityToken(f"the token has no {exc.claim} claim") from exc
        except InvalidSignatureError as exc:
            raise InvalidIdentityToken("the token's signature does not verify") from exc
        except (InvalidTokenError, PyJWTError) as exc:
            raise InvalidIdentityToken(f"the token is invalid: {exc}") from exc
        return claims


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before verification: needed to know whose keys to fetch."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except PyJWTError as exc:
        raise InvalidIdentityToken("the web identity token is not a well-formed JWT") from exc
    if not isinstance(claims, dict):
        raise InvalidIdentityToken("the web identity token's payload is not a JSON object")
    return header, claims


def _first_audience(audience: Any) -> str:
    if isinstance(audience, str):
        return audience
    if isinstance(audience, list) and audience and isinstance(audience[0], str):
        return audience[0]
    return ""


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."
