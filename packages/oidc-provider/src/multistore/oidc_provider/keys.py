"""The issuer's RSA signing keys: parsed from PEM, identified by their RFC 7638 thumbprint.

``OIDC_PROVIDER_KEY`` holds one or more PEM private keys (PKCS#8 ``BEGIN PRIVATE KEY`` or
PKCS#1 ``BEGIN RSA PRIVATE KEY``, as ``openssl genpkey``/``openssl genrsa`` write them),
oldest first. Every key is published in the JWKS; the last one — the newest — signs. The
``kid`` is the key's JWK thumbprint, so it is stable across restarts and processes and no
operator has to invent or coordinate key ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MIN_KEY_BITS = 2048

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s.*?-----END \1-----", re.DOTALL
)  # fmt: skip


class ProviderKeyError(ValueError):
    """``OIDC_PROVIDER_KEY`` does not hold usable RSA private keys."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def from_private_key(cls, key: rsa.RSAPrivateKey) -> SigningKey:
        return cls(kid=jwk_thumbprint(key.public_key()), private_key=key)

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


@dataclass(frozen=True, slots=True)
class KeySet:
    """The published keys, oldest first; ``signing`` is the newest."""

    keys: tuple[SigningKey, ...]

    @property
    def signing(self) -> SigningKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace."""
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def load_key_set(pem_text: str) -> KeySet:
    """Every PEM private key in ``pem_text``, oldest first; raises :class:`ProviderKeyError`."""
    # Environment files and secret stores often carry PEM on one line with literal "\n".
    if "\n" not in pem_text.strip() and "\\n" in pem_text:
        pem_text = pem_text.replace("\\n", "\n")
    blocks = [match.group(0) for match in _PEM_BLOCK.finditer(pem_text.encode())]
    if not blocks:
        raise ProviderKeyError(
            "OIDC_PROVIDER_KEY holds no PEM private key (-----BEGIN ... KEY-----)"
        )
    keys: list[SigningKey] = []
    for position, block in enumerate(blocks, start=1):
        keys.append(SigningKey.from_private_key(_load_rsa_key(block, position)))
    seen: set[str] = set()
    for key in keys:
        if key.kid in seen:
            raise ProviderKeyError(f"OIDC_PROVIDER_KEY lists the key {key.kid} twice")
        seen.add(key.kid)
    return KeySet(tuple(keys))


def _load_rsa_key(block: bytes, position: int) -> rsa.RSAPrivateKey:
    label = block.split(b"-----", 2)[1].decode().removeprefix("BEGIN ")
    where = f"OIDC_PROVIDER_KEY, key {position} ({label})"
    if "PRIVATE KEY" not in label:
        raise ProviderKeyError(f"{where}: not a private key")
    try:
        key = serialization.load_pem_private_key(block, password=None)
    except TypeError as exc:  # encrypted, and we have no password
        raise ProviderKeyError(f"{where}: encrypted keys are not supported") from exc
    except ValueError as exc:
        raise ProviderKeyError(f"{where}: unreadable PEM ({exc})") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderKeyError(f"{where}: RS256 needs an RSA key, not {type(key).__name__}")
    if key.key_size < MIN_KEY_BITS:
        raise ProviderKeyError(
            f"{where}: {key.key_size}-bit RSA is too short (at least {MIN_KEY_BITS})"
        )
    return key


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8 or 1, "big"))
