"""SigV4 building blocks shared by inbound verification and outbound signing.

The step names follow botocore (canonical request → string to sign → signature), so a
debug log from the gateway can be laid next to one from a client and diffed line by line.
For S3 the canonical URI is the path exactly as it went over the wire: S3 never normalises
or re-encodes it (unlike other AWS services), so neither do we.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

from multidict import MultiMapping

logger = logging.getLogger("multistore.core.auth")

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_AWS4_HMAC_SHA256_PAYLOAD = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_AWS4_HMAC_SHA256_PAYLOAD_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_PAYLOAD_SENTINELS = frozenset(
    {
        STREAMING_UNSIGNED_PAYLOAD_TRAILER,
        STREAMING_AWS4_HMAC_SHA256_PAYLOAD,
        STREAMING_AWS4_HMAC_SHA256_PAYLOAD_TRAILER,
    }
)
SCOPE_TERMINATOR = "aws4_request"


def wire_bytes(text: str) -> bytes:
    """UTF-8, except that bytes a runtime could not decode (kept as surrogate escapes) go
    back out exactly as received: the client signed bytes, and this must never raise."""
    return text.encode("utf-8", "surrogateescape")


# A query component made only of unreserved characters is already canonical; skipping the
# decode/encode round trip for it keeps the common LIST query cheap.
_ALREADY_CANONICAL = re.compile(r"[A-Za-z0-9\-_.~]*")


# Query names and most values repeat from request to request ("list-type", "2", "uploads",
# X-Amz-Credential, a prefix being paged through), so short ones are encoded once. Long
# ones are not cached, which bounds the caches' memory whatever clients send.
_CACHED_COMPONENT_LENGTH = 256


def aws_uri_encode(value: str | bytes) -> str:
    """SigV4 ``UriEncode``: everything but ``A-Za-z0-9-_.~`` as ``%XY`` (UTF-8, upper hex)."""
    if len(value) <= _CACHED_COMPONENT_LENGTH:
        return _aws_uri_encode_cached(value)
    return quote(value, safe="~")


@lru_cache(maxsize=4096)
def _aws_uri_encode_cached(value: str | bytes) -> str:
    return quote(value, safe="~")


def _canonical_component(component: str) -> str:
    if len(component) <= _CACHED_COMPONENT_LENGTH:
        return _canonical_component_cached(component)
    return _recode_component(component)


@lru_cache(maxsize=4096)
def _canonical_component_cached(component: str) -> str:
    return _recode_component(component)


def _recode_component(component: str) -> str:
    if _ALREADY_CANONICAL.fullmatch(component):
        return component
    # '+' in a query means space to S3, MinIO and Ceph RGW alike (and to the gateway's own
    # query parser), so a client that sent '+' for a space and signed '%20' verifies, and
    # '+' can never alias a literal plus, which clients send as '%2B'. Decoding to bytes
    # keeps an invalid UTF-8 escape such as '%FF' byte-faithful.
    return aws_uri_encode(unquote_to_bytes(wire_bytes(component.replace("+", " "))))


def canonical_query_string(raw_query: str, *, exclude: frozenset[str] = frozenset()) -> str:
    """The SigV4 canonical query of a query string exactly as received on the wire.

    Each ``&``-separated piece is decoded and re-encoded with :func:`aws_uri_encode`; a
    value-less key becomes ``key=``; pairs are sorted by encoded key, then encoded value.
    Empty pieces (``a=1&&b=2``, a trailing ``&``) carry no parameter and are dropped.
    ``exclude`` names parameters (by canonical key) left out, e.g. ``X-Amz-Signature``.
    """
    if not raw_query:
        return ""
    pairs: list[tuple[str, str]] = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        canonical_key = _canonical_component(key)
        if canonical_key in exclude:
            continue
        pairs.append((canonical_key, _canonical_component(value)))
    pairs.sort()
    return "&".join([f"{key}={value}" for key, value in pairs])


def canonical_query_from_params(params: Iterable[tuple[str, str]]) -> str:
    """The canonical query of decoded ``(name, value)`` pairs; also a valid wire query."""
    if not params:
        return ""
    pairs = sorted((aws_uri_encode(key), aws_uri_encode(value)) for key, value in params)
    return "&".join([f"{key}={value}" for key, value in pairs])


def canonical_header_value(value: str) -> str:
    """SigV4 ``Trimall``: strip both ends and collapse inner whitespace runs to one space."""
    return " ".join(value.split())


def canonical_headers(headers: MultiMapping[str], signed_header_names: Sequence[str]) -> str:
    """``name:value`` lines (joined by ``\\n``, no trailing newline) for the signed headers.

    Names are lower-cased and taken in the order given (the client's ``SignedHeaders``); a
    header sent more than once contributes all its values, in order, joined with ``,``. A
    signed header the request does not carry yields an empty value, so the signature simply
    fails to match.
    """
    lines = []
    for name in signed_header_names:
        values = headers.getall(name, ())
        if len(values) == 1:
            lines.append(f"{name.lower()}:{canonical_header_value(values[0])}")
        else:
            joined = ",".join([canonical_header_value(v) for v in values])
            lines.append(f"{name.lower()}:{joined}")
    return "\n".join(lines)


def canonical_request(
    method: str,
    canonical_uri: str,
    canonical_query: str,
    canonical_header_lines: str,
    signed_headers: str,
    payload_hash: str,
) -> str:
    """Join the six SigV4 canonical request parts; the blank line ends the header block."""
    return (
        f"{method}\n{canonical_uri}\n{canonical_query}\n{canonical_header_lines}\n\n"
        f"{signed_headers}\n{payload_hash}"
    )


def credential_scope(date: str, region: str, service: str) -> str:
    return f"{date}/{region}/{service}/{SCOPE_TERMINATOR}"


def string_to_sign(amz_date: str, scope: str, canonical_request_hash: str) -> str:
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{canonical_request_hash}"


# With OpenSSL 3 most of the cost of a short hash or HMAC is looking the algorithm up, not
# hashing; copying an already-initialised state skips the lookup (about 4x faster here).
SHA256_INITIAL = hashlib.sha256()
_INNER_PAD = bytes(x ^ 0x36 for x in range(256))
_OUTER_PAD = bytes(x ^ 0x5C for x in range(256))
_SHA256_BLOCK_SIZE = 64


def sha256_hex(data: bytes) -> str:
    state = SHA256_INITIAL.copy()
    state.update(data)
    return state.hexdigest()


def hash_canonical_request(canonical_request_text: str) -> str:
    return sha256_hex(wire_bytes(canonical_request_text))


def hmac_sha256(key: bytes, message: str | bytes) -> bytes:
    if isinstance(message, str):
        message = wire_bytes(message)
    return hmac.digest(key, message, "sha256")


@lru_cache(maxsize=1024)
def derive_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """``kSigning``; four HMACs that only change daily per credential, hence the cache."""
    k_date = hmac_sha256(f"AWS4{secret}".encode(), date)
    k_region = hmac_sha256(k_date, region)
    k_service = hmac_sha256(k_region, service)
    return hmac_sha256(k_service, SCOPE_TERMINATOR)


@lru_cache(maxsize=1024)
def hmac_sha256_states(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """HMAC's keyed inner and outer hash states (RFC 2104), ready to be copied per message."""
    if len(key) > _SHA256_BLOCK_SIZE:
        key = hashlib.sha256(key).digest()
    block = key.ljust(_SHA256_BLOCK_SIZE, b"\0")
    return hashlib.sha256(block.translate(_INNER_PAD)), hashlib.sha256(block.translate(_OUTER_PAD))


def signature_hex(signing_key: bytes, string_to_sign_text: str) -> str:
    """Hex HMAC-SHA256 of a string to sign; hot (every request, every aws-chunked chunk)."""
    inner_state, outer_state = hmac_sha256_states(signing_key)
    inner = inner_state.copy()
    inner.update(wire_bytes(string_to_sign_text))
    outer = outer_state.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


def log_signing_steps(context: str, canonical_request_text: str, string_to_sign_text: str) -> None:
    """Log both intermediate strings at DEBUG, formatting nothing unless DEBUG is on."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "%s\nCanonicalRequest:\n%s\nStringToSign:\n%s",
            context,
            _SECRET_LINES.sub(r"\1***", canonical_request_text),
            string_to_sign_text,
        )


# Session tokens are credentials: a debug log must not become a way to steal them.
_SECRET_LINES = re.compile(r"^((?:x-amz-security-token|X-Amz-Security-Token)[:=])[^\n&]*", re.M)
