"""Fixtures of the OIDC provider tests: RSA keys in the PEM forms operators produce."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from multistore.oidc_provider.keys import jwk_thumbprint


@dataclass(frozen=True, slots=True)
class PemKey:
    """One RSA key: ``pkcs1`` is what ``openssl genrsa`` writes, ``pkcs8`` ``openssl genpkey``."""

    private_key: rsa.RSAPrivateKey
    pkcs1: str
    pkcs8: str

    @property
    def kid(self) -> str:
        return jwk_thumbprint(self.private_key.public_key())


def make_key(bits: int = 2048) -> PemKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    none = serialization.NoEncryption()
    pem = serialization.Encoding.PEM
    return PemKey(
        key,
        key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none).decode(),
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode(),
    )


@pytest.fixture(scope="session")
def old_key() -> PemKey:
    return make_key()


@pytest.fixture(scope="session")
def new_key() -> PemKey:
    return make_key()
