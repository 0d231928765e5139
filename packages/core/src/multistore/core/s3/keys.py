"""Object keys: what is accepted, and how a key is written onto a backend wire path."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from multistore.core.errors import KeyTooLongError

MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 encoding


def validate_key(key: str) -> None:
    """Refuse only what S3 refuses: a key longer than 1024 bytes of UTF-8 (SPEC §2).

    Every other key is accepted byte for byte — folder markers (``dir/``), empty, ``.`` and
    ``..`` segments, a leading ``/``, control characters — because S3 accepts them and real
    clients write them (pyarrow, the AWS console, rclone and s3fs write ``dir/`` markers).
    Nothing here is a path: the ``s3`` backend sends the key percent-encoded and never
    normalised, and the ``file`` backend maps each segment onto a file name of its own
    (``backends/file/names.py``), so no key can reach outside a bucket's prefix or root.
    The empty key never reaches here: ``/bucket/`` is a bucket-level request.
    """
    if len(key) > MAX_KEY_BYTES // 4 and len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError(
            f"Your key is too long: keys are at most {MAX_KEY_BYTES} bytes of UTF-8"
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
