"""Object keys: what is accepted, and how a key is written onto a backend wire path."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote

from multistore.core.errors import InvalidRequest

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_key(key: str) -> None:
    """Reject keys the gateway will not store (SPEC §2).

    Empty, ``.`` and ``..`` segments (which covers leading and trailing ``/`` and ``//``)
    and control characters would alias paths or escape directories on some backends.
    """
    if _CONTROL.search(key) or any(seg in ("", ".", "..") for seg in key.split("/")):
        raise InvalidRequest(
            f"invalid object key {key!r}: empty, '.', or '..' path segments, "
            "leading/trailing slashes, and control characters are not allowed"
        )


def apply_backend_prefix(backend_prefix: str, key: str) -> str:
    """Map a client key to the backend key under ``backend_prefix``."""
    prefix = backend_prefix.rstrip("/")
    return f"{prefix}/{key}" if prefix else key


def strip_backend_prefix(backend_prefix: str, backend_key: str) -> str:
    prefix = backend_prefix.rstrip("/")
    if prefix and backend_key.startswith(prefix + "/"):
        return backend_key[len(prefix) + 1 :]
    return backend_key


@lru_cache(maxsize=4096)
def encode_wire_path(key: str) -> str:
    """Percent-encode everything but ``A-Za-z0-9-._~/`` (UTF-8), so ``%`` can never alias."""
    return quote(key, safe="/~")
