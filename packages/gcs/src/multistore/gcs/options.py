"""The ``backend_options`` of a ``gcs``/``gs`` bucket, read and checked once at startup."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from multistore.core.config import BucketConfig

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True, slots=True)
class ServiceAccountKey:
    """The parts of a service-account JSON key the gateway needs to mint access tokens."""

    client_email: str
    # Parsed once at startup: loading an RSA key checks it, which costs ~100x a signature.
    signing_key: RSAPrivateKey
    private_key_id: str
    token_uri: str


@dataclass(frozen=True, slots=True)
class GcsOptions:
    bucket_name: str
    endpoint: str
    service_account: ServiceAccountKey | None  # None: anonymous requests

    @classmethod
    def from_config(cls, config: BucketConfig) -> GcsOptions:
        options = config.backend_options
        bucket = options.get("bucket_name", "")
        if not bucket:
            raise ValueError(f"bucket {config.name!r}: backend_options.bucket_name is required")
        endpoint = (options.get("endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"bucket {config.name!r}: endpoint must be an http(s) URL")
        if options.get("auth_type"):
            raise ValueError(
                f"bucket {config.name!r}: the gcs backend takes no auth_type (it authenticates "
                "with service_account_key, or anonymously)"
            )
        skip = options.get("skip_signature", "false") == "true"
        raw_key = options.get("service_account_key", "")
        account = None
        if raw_key and not skip:
            account = load_service_account_key(raw_key, bucket=config.name)
        elif not skip:
            raise ValueError(
                f"bucket {config.name!r}: a gcs bucket needs service_account_key, or "
                'skip_signature = "true" for a public bucket'
            )
        return cls(bucket_name=bucket, endpoint=endpoint, service_account=account)


def load_service_account_key(raw: str, *, bucket: str) -> ServiceAccountKey:
    """A key given inline (JSON text) or as the path of its JSON file."""
    text = raw
    if not raw.lstrip().startswith("{"):
        try:
            text = Path(raw).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(
                f"bucket {bucket!r}: cannot read service_account_key file: {exc.strerror}"
            ) from None
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError(f"bucket {bucket!r}: service_account_key is not valid JSON") from None
    if not isinstance(document, dict):
        raise ValueError(f"bucket {bucket!r}: service_account_key must be a JSON object")
    missing = [name for name in ("client_email", "private_key") if not document.get(name)]
    if missing:
        raise ValueError(f"bucket {bucket!r}: service_account_key lacks {', '.join(missing)}")
    token_uri = str(document.get("token_uri") or DEFAULT_TOKEN_URI)
    if urlsplit(token_uri).scheme not in ("http", "https"):
        raise ValueError(f"bucket {bucket!r}: service_account_key token_uri must be http(s)")
    try:
        signing_key = serialization.load_pem_private_key(
            str(document["private_key"]).encode(), password=None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        signing_key = None
    if not isinstance(signing_key, RSAPrivateKey):
        raise ValueError(f"bucket {bucket!r}: service_account_key private_key is not an RSA key")
    return ServiceAccountKey(
        client_email=str(document["client_email"]),
        signing_key=signing_key,
        private_key_id=str(document.get("private_key_id") or ""),
        token_uri=token_uri,
    )
