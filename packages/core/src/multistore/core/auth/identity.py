"""Who is calling: resolve a request's signature to an :class:`Identity` (SPEC §3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from multistore.core.auth.sigv4 import (
    ParsedSignature,
    VerifiedSignature,
    parse_signature,
    verify_signature,
)
from multistore.core.config import AccessScope, Action, BucketConfig, StoredCredential
from multistore.core.errors import AccessDenied, ExpiredToken, InvalidAccessKeyId
from multistore.core.http import RequestInfo
from multistore.core.registry import (
    CachedCredentialRegistry,
    CredentialRegistry,
    TemporaryCredentialResolver,
)


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated principal and its scopes, or the anonymous caller."""

    principal: str | None
    scopes: tuple[AccessScope, ...] = ()
    access_key_id: str | None = None
    role_id: str | None = None  # set for temporary credentials minted from a role
    # What the scopes grant per (bucket, action), worked out on first use by
    # authorize.is_authorized: an Identity lives as long as its credential does, so each
    # request of a key after the first answers with one lookup. Not part of equality.
    grants: dict[tuple[str, Action], tuple[BucketConfig, Grant]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @property
    def is_anonymous(self) -> bool:
        return self.principal is None

    @property
    def display(self) -> str:
        return self.principal or "anonymous"


# What a set of scopes grants for one action on one bucket: every key (True), no key
# (False), or the keys under these prefixes (authorize.key_matches_prefix).
Grant = bool | tuple[str, ...]

ANONYMOUS = Identity(principal=None)
_MAX_CACHED_IDENTITIES = 4096


# Built for every request: not frozen (a frozen dataclass sets each field through
# object.__setattr__, about three times as slow).
@dataclass(slots=True)
class Authentication:
    """The outcome of authentication: who, and what is needed to verify signed chunks."""

    identity: Identity
    signature: ParsedSignature | None = None
    verified: VerifiedSignature | None = None


class IdentityResolver:
    """Authenticates requests against long-lived keys and sealed session tokens."""

    def __init__(
        self,
        credentials: CredentialRegistry,
        *,
        temporary_credentials: TemporaryCredentialResolver | None = None,
    ) -> None:
        self._credentials = credentials
        self._temporary = temporary_credentials
        # A registry that can answer from memory (CachedCredentialRegistry) is asked that
        # way first: a signed request then awaits nothing to find its key.
        self._cached_credential: Callable[[str], StoredCredential | None] | None = (
            credentials.cached_credential
            if isinstance(credentials, CachedCredentialRegistry)
            else None
        )
        # The Identity of each stored credential, built once: it is immutable, and a
        # credential that changes (a reload, a rotated key) is a new object, which misses.
        self._stored_identities: dict[str, tuple[StoredCredential, Identity]] = {}

    async def authenticate(
        self,
        request: RequestInfo,
        *,
        now: float | None = None,
        virtual_hosted_bucket: str | None = None,
    ) -> Authentication:
        """``virtual_hosted_bucket`` names the bucket taken from ``Host``: SigV2 signs it."""
        parsed = parse_signature(request)
        if parsed is None:
            return Authentication(ANONYMOUS)
        now = time.time() if now is None else now
        if parsed.session_token:
            identity, secret = self._from_session_token(parsed, now)
        else:
            access_key_id = parsed.access_key_id
            cred = None
            if self._cached_credential is not None:
                cred = self._cached_credential(access_key_id)
            if cred is None:
                cred = await self._credentials.get_credential(access_key_id)
                if cred is None:
                    raise InvalidAccessKeyId()
            identity = self._stored_identity(cred, now)
            secret = cred.secret_access_key
        verified = verify_signature(
            parsed, request, secret, now=now, virtual_hosted_bucket=virtual_hosted_bucket
        )
        return Authentication(identity, parsed, verified)

    def _from_session_token(self, parsed: ParsedSignature, now: float) -> tuple[Identity, str]:
        if self._temporary is None:
            raise AccessDenied("session tokens are not accepted by this gateway")
        creds = self._temporary.resolve(parsed.session_token or "")
        if creds is None:
            raise AccessDenied("the security token included in the request is invalid")
        if creds.expiration.timestamp() <= now:
            raise ExpiredToken()
        if creds.access_key_id != parsed.access_key_id:
            raise AccessDenied("the access key does not belong to the security token")
        identity = Identity(
            principal=creds.source_identity or creds.assumed_role_id,
            scopes=creds.allowed_scopes,
            access_key_id=creds.access_key_id,
            role_id=creds.assumed_role_id or None,
        )
        return identity, creds.secret_access_key

    def _stored_identity(self, cred: StoredCredential, now: float) -> Identity:
        # Checked before the signature, so a disabled key learns nothing from timing.
        if not cred.enabled:
            raise AccessDenied("the access key is disabled")
        if cred.expires_at is not None and cred.expires_at.timestamp() <= now:
            raise ExpiredToken("the access key has expired")
        cached = self._stored_identities.get(cred.access_key_id)
        if cached is not None and cached[0] is cred:
            return cached[1]
        identity = Identity(
            principal=cred.principal_name,
            scopes=cred.allowed_scopes,
            access_key_id=cred.access_key_id,
        )
        if len(self._stored_identities) >= _MAX_CACHED_IDENTITIES:
            self._stored_identities.clear()
        self._stored_identities[cred.access_key_id] = (cred, identity)
        return identity
