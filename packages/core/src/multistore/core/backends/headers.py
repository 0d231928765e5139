"""Which headers cross the gateway, in each direction, for backends that speak HTTP."""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict, MultiMapping

# Never passed from a backend response to the client (upstream §9.2): hop-by-hop headers,
# credentials and cookies, forwarding information, key material fingerprints, and the
# backend's own bookkeeping.
RESPONSE_HEADER_DENYLIST = frozenset(
    {
        "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "upgrade", "proxy-authenticate", "proxy-authorization", "www-authenticate",
        "set-cookie", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "x-forwarded-port", "via", "x-amz-server-side-encryption-customer-key-md5",
        "x-amz-server-side-encryption-aws-kms-key-id", "x-ms-encryption-key-sha256",
        "x-goog-encryption-key-sha256",
        # The gateway sets its own request id; the backend's would be misleading.
        "x-amz-request-id", "x-amz-id-2", "x-amzn-requestid", "server", "date",
        "content-length",
        # Describes the backend's side of the exchange (moto echoes the request's), never the
        # object the client asked for.
        "x-amz-content-sha256",
    }
)  # fmt: skip

# CORS is the gateway's decision (``cors_origins``). A store that answers
# ``Access-Control-Allow-Origin: *`` on every response would otherwise make every bucket
# readable from any web page, whatever the gateway's configuration says.
RESPONSE_HEADER_DENIED_PREFIXES = ("access-control-",)

# Request headers forwarded on reads.
READ_REQUEST_HEADERS = (
    "range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
    "x-amz-checksum-mode", "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-server-side-encryption-customer-key", "x-amz-server-side-encryption-customer-key-md5",
    "x-amz-request-payer",
)  # fmt: skip

# Request headers that describe a written object; forwarded on PutObject and
# CreateMultipartUpload (and signed, unlike upstream which dropped every x-amz-* header).
WRITE_REQUEST_HEADERS = (
    "content-type", "content-md5", "content-disposition", "content-encoding",
    "content-language", "cache-control", "expires", "if-match", "if-none-match",
    "x-amz-storage-class", "x-amz-tagging", "x-amz-website-redirect-location",
    "x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold", "x-amz-checksum-algorithm", "x-amz-checksum-type",
)  # fmt: skip

WRITE_REQUEST_PREFIXES = ("x-amz-meta-", "x-amz-server-side-encryption", "x-amz-checksum-")

# Query parameters of a GET that change the response and must reach the backend.
READ_QUERY_PARAMETERS = (
    "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "partNumber",
    "versionId",
)  # fmt: skip


# Backends send the same few header names, spelled the same way, on every response: the
# verdict per spelling is remembered (up to a bound, whatever a backend sends).
_RESPONSE_HEADER_VERDICTS: dict[str, bool] = {}
_MAX_REMEMBERED_VERDICTS = 1024


def _passes(name: str) -> bool:
    lower = name.lower()
    passes = lower not in RESPONSE_HEADER_DENYLIST and not lower.startswith(
        RESPONSE_HEADER_DENIED_PREFIXES
    )
    if len(_RESPONSE_HEADER_VERDICTS) < _MAX_REMEMBERED_VERDICTS:
        _RESPONSE_HEADER_VERDICTS[name] = passes
    return passes


# The same verdicts keyed by the name's bytes as a transport received them: the decoded name
# when the header passes, ``None`` when it does not.
_RAW_RESPONSE_HEADER_VERDICTS: dict[bytes, str | None] = {}
# Not a header name a parser lets through (names are never empty).
_UNSEEN = ""


def filter_raw_response_headers(
    raw: Iterable[tuple[bytes, bytes]],
) -> tuple[CIMultiDict[str], int | None]:
    """:func:`filter_response_headers` over undecoded ``(name, value)`` fields, in one pass
    that also finds the declared ``Content-Length`` (``None`` if absent or not a number).

    Only the fields that pass are decoded (UTF-8, undecodable bytes kept as surrogates).
    """
    verdicts = _RAW_RESPONSE_HEADER_VERDICTS
    kept: list[tuple[str, str]] = []
    length: int | None = None
    seen_length = False
    for name, value in raw:
        shown = verdicts.get(name, _UNSEEN)
        if shown is _UNSEEN:
            decoded = name.decode("utf-8", "surrogateescape")
            shown = decoded if _passes(decoded) else None
            if len(verdicts) < _MAX_REMEMBERED_VERDICTS:
                verdicts[name] = shown
        if shown is not None:
            kept.append((shown, value.decode("utf-8", "surrogateescape")))
        elif not seen_length and len(name) == 14 and name.lower() == b"content-length":
            # The first one counts, as a multidict's ``get`` would have it.
            seen_length = True
            if value.isdigit():  # ASCII digits only, unlike str.isdigit
                length = int(value)
    return CIMultiDict(kept), length


def filter_response_headers(headers: MultiMapping[str]) -> CIMultiDict[str]:
    verdicts = _RESPONSE_HEADER_VERDICTS
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        passes = verdicts.get(name)
        if passes is None:
            passes = _passes(name)
        if passes:
            out.add(name, value)
    return out


def pick_headers(
    headers: MultiMapping[str], names: tuple[str, ...], prefixes: tuple[str, ...] = ()
) -> dict[str, str]:
    """The subset of ``headers`` named in ``names`` or starting with one of ``prefixes``."""
    picked: dict[str, str] = {}
    for name in names:
        value = headers.get(name)
        if value is not None:
            picked[name] = value
    if prefixes:
        for name, value in headers.items():
            lower = name.lower()
            if lower.startswith(prefixes) and lower not in picked:
                picked[lower] = value
    return picked
