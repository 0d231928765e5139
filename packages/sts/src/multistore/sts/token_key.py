"""Sealed session tokens: temporary credentials encrypted into the token that carries them.

The gateway keeps no session state. The session token *is* the credentials and their
scopes, sealed with AES-256-GCM under ``SESSION_TOKEN_KEY``; any gateway process holding the
key can open it. The format is the Rust gateway's, so tokens minted by either work on both:
``base64url-no-pad(nonce[12] || ciphertext || tag[16])`` over the JSON of the credentials,
random 96-bit nonce, no associated data.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from multistore.core.config import AccessScope, Action, TemporaryCredentials
from multistore.core.errors import ExpiredToken

logger = logging.getLogger("multistore.sts")

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# Every request signed with temporary credentials would otherwise pay an AES-GCM open and
# a JSON parse; clients reuse one token for many requests, so a small cache of opened
# tokens removes that. Bounded, and holding only tokens that opened successfully.
OPENED_CACHE_SIZE = 1024


class TokenKeyError(ValueError):
    """``SESSION_TOKEN_KEY`` is not the base64 of exactly 32 bytes (a startup error)."""


class TokenKey:
    """Seals and opens session tokens; also the gateway's ``TemporaryCredentialResolver``."""

    def __init__(self, key: bytes, *, cache_size: int = OPENED_CACHE_SIZE) -> None:
        if len(key) != KEY_BYTES:
            raise TokenKeyError(f"SESSION_TOKEN_KEY must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self._cache_size = cache_size
        self._opened: OrderedDict[str, TemporaryCredentials] = OrderedDict()
        # The Lambda runtime and thread pools may resolve concurrently.
        self._lock = threading.Lock()

    @classmethod
    def from_base64(cls, text: str) -> TokenKey:
        """Read ``SESSION_TOKEN_KEY``: standard base64 (padding required) of 32 bytes."""
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise TokenKeyError("SESSION_TOKEN_KEY is not valid base64") from exc
        return cls(key)

    @staticmethod
    def generate() -> str:
        """A fresh key in the ``SESSION_TOKEN_KEY`` format."""
        return base64.b64encode(os.urandom(KEY_BYTES)).decode()

    def seal(self, credentials: TemporaryCredentials) -> str:
        plaintext = json.dumps(_to_json(credentials), separators=(",", ":")).encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, None)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def unseal(self, token: str) -> TemporaryCredentials | None:
        """The credentials inside ``token``, or ``None`` if this key did not seal it."""
        with self._lock:
            cached = self._opened.get(token)
            if cached is not None:
                self._opened.move_to_end(token)
                return cached
        opened = self._open(token)
        if opened is not None and self._cache_size > 0:
            with self._lock:
                self._opened[token] = opened
                if len(self._opened) > self._cache_size:
                    self._opened.popitem(last=False)
        return opened

    def resolve(self, session_token: str) -> TemporaryCredentials | None:
        """``TemporaryCredentialResolver``: ``None`` for a foreign token, raise when expired."""
        credentials = self.unseal(session_token)
        if credentials is not None and credentials.expiration <= datetime.now(UTC):
            raise ExpiredToken("The security token included in the request is expired")
        return credentials

    def _open(self, token: str) -> TemporaryCredentials | None:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) <= NONCE_BYTES + TAG_BYTES:
            return None
        try:
            plaintext = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None)
        except InvalidTag:
            return None
        try:
            return _from_json(json.loads(plaintext))
        except (ValueError, TypeError, KeyError, AttributeError):
            # Authentic but unreadable: sealed by a gateway with a different token format.
            logger.warning("a session token sealed with this key has an unreadable payload")
            return None


def format_expiration(moment: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, the form AWS uses for ``Expiration``."""
    text = moment.astimezone(UTC).isoformat(
        timespec="seconds" if not moment.microsecond else "auto"
    )
    return text.replace("+00:00", "Z")


def _to_json(credentials: TemporaryCredentials) -> dict[str, Any]:
    return {
        "access_key_id": credentials.access_key_id,
        "secret_access_key": credentials.secret_access_key,
        "session_token": credentials.session_token,
        "expiration": format_expiration(credentials.expiration),
        "allowed_scopes": [
            {
                "bucket": scope.bucket,
                "prefixes": list(scope.prefixes),
                "actions": sorted(action.value for action in scope.actions),
            }
            for scope in credentials.allowed_scopes
        ],
        "assumed_role_id": credentials.assumed_role_id,
        "source_identity": credentials.source_identity,
    }


def _from_json(data: dict[str, Any]) -> TemporaryCredentials:
    expiration = datetime.fromisoformat(str(data["expiration"]))
    if expiration.tzinfo is None:
        raise ValueError("expiration without a timezone")
    scopes = tuple(
        AccessScope(
            bucket=str(scope["bucket"]),
            prefixes=tuple(str(prefix) for prefix in scope["prefixes"]),
            actions=frozenset(Action(action) for action in scope["actions"]),
        )
        for scope in data["allowed_scopes"]
    )
    return TemporaryCredentials(
        access_key_id=str(data["access_key_id"]),
        secret_access_key=str(data["secret_access_key"]),
        session_token=str(data["session_token"]),
        expiration=expiration,
        allowed_scopes=scopes,
        assumed_role_id=str(data.get("assumed_role_id", "")),
        source_identity=str(data.get("source_identity", "")),
    )
