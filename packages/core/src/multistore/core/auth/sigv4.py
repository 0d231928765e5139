"""Inbound request authentication: parse and verify SigV4 (header and presigned) and SigV2
presigned URLs.

Verification is two steps so the caller can look the access key up in between:
:func:`parse_signature` says *who claims to sign* (or ``None`` for anonymous), and
:func:`verify_signature` checks the claim with that key's secret. Everything is computed
from the request exactly as it came off the wire (raw path, raw query, the client's own
``Host``), because that is what the client signed.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Literal

from multidict import MultiMapping

from multistore.core.auth.canonical import (
    ALGORITHM,
    EMPTY_SHA256,
    SCOPE_TERMINATOR,
    SHA256_INITIAL,
    STREAMING_PAYLOAD_SENTINELS,
    UNSIGNED_PAYLOAD,
    canonical_query_string,
    credential_scope,
    derive_signing_key,
    hmac_sha256_states,
    log_signing_steps,
    logger,
)
from multistore.core.auth.signed_headers import require_signed_headers
from multistore.core.auth.sigv2 import verify_v2_query
from multistore.core.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
)
from multistore.core.http import RequestInfo

MAX_CLOCK_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_EXPIRES_SECONDS = 7 * 24 * 3600

_SIGNATURE_PARAM = frozenset({"X-Amz-Signature"})
# Query parameters that say who signed and how. Each may appear once: with two values the
# verifier and whatever reads the URL after it could each pick a different one.
_V4_AUTH_PARAMS = (
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
    "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Content-Sha256",
)  # fmt: skip
_V2_AUTH_PARAMS = ("AWSAccessKeyId", "Signature", "Expires", "x-amz-security-token")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
# The Authorization header as SDKs write it: one regular-expression match, credential scope
# included, instead of splitting and stripping each component. Whatever it accepts, the
# general parser accepts too, with the same fields; any other spelling (other spacing,
# another order, a missing part, a malformed scope) takes the general parser, which also
# words the errors.
_CANONICAL_AUTHORIZATION = re.compile(
    ALGORITHM
    + r" Credential=([^/,\s]+)/([^/,\s]+)/([^/,\s]+)/([^/,\s]+)/"
    + SCOPE_TERMINATOR
    + r", ?SignedHeaders=([^,\s]+), ?Signature=([0-9a-f]+)"
)

# Everything before "Signature=" in an Authorization header (algorithm, credential scope,
# SignedHeaders) is the same on every request of a client for a day; only the signature
# changes. So a head that matched _CANONICAL_AUTHORIZATION once is kept with its fields,
# and a header made of a known head and an alphanumeric signature is not matched again:
# the regular expression would accept it and give the same fields. (A signature that is
# alphanumeric but not lower-case hex, which the expression refuses, gets those same
# fields from the general parser, and then fails to match.) Bounded like the other caches.
_MAX_CACHED_HEADS = 1024
_MAX_CACHED_HEAD_LENGTH = 512
_AUTHORIZATION_HEADS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {}


# Not frozen: one of each is built per signed request, and a frozen dataclass's __init__
# sets every field through object.__setattr__ (2.3 against 0.8 µs for this one).
@dataclass(slots=True)
class ParsedSignature:
    """Who claims to have signed the request, and with which parameters.

    ``payload_hash`` is what the canonical request ends with: the ``x-amz-content-sha256``
    header for header auth, ``UNSIGNED-PAYLOAD`` for presigned URLs unless the URL carries
    ``X-Amz-Content-Sha256``. ``expires`` is ``X-Amz-Expires`` in seconds (SigV4 query) or
    the absolute ``Expires`` epoch (SigV2 query).
    """

    kind: Literal["header", "query", "v2-query"]
    access_key_id: str
    signature: str
    session_token: str | None
    amz_date: str = ""
    scope_date: str = ""
    region: str = ""
    service: str = ""
    signed_headers: tuple[str, ...] = ()
    payload_hash: str = ""
    expires: int | None = None


@dataclass(slots=True)
class VerifiedSignature:
    """What aws-chunked signed-payload verification chains its chunk signatures from."""

    signing_key: bytes
    seed_signature: str
    amz_date: str
    scope: str


def parse_signature(request: RequestInfo) -> ParsedSignature | None:
    """Read the signature a request claims; ``None`` means an anonymous request.

    Raises the S3 error a malformed claim deserves (400s), so a broken client gets a
    precise answer rather than a generic signature mismatch.
    """
    authorizations = request.headers.getall("Authorization", ())
    if len(authorizations) > 1:
        raise InvalidArgument("only one Authorization header may be sent")
    authorization = authorizations[0] if authorizations else None
    query_kind = _query_auth_kind(request) if request.raw_query else None
    if authorization is not None:
        if query_kind is not None:
            raise InvalidArgument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified"
            )
        return _parse_authorization_header(authorization, request)
    if query_kind == "query":
        return _parse_v4_query(request)
    if query_kind == "v2-query":
        return _parse_v2_query(request)
    return None


def verify_signature(
    parsed: ParsedSignature,
    request: RequestInfo,
    secret_access_key: str,
    *,
    now: float,
    virtual_hosted_bucket: str | None = None,
) -> VerifiedSignature | None:
    """Check ``parsed`` against ``secret_access_key``; raise the S3 error if it fails.

    ``now`` is epoch seconds. ``virtual_hosted_bucket`` is the bucket named by the Host of a
    virtual-hosted-style request: SigV2's canonical resource starts with ``/bucket`` even
    then. Returns ``None`` for SigV2, whose payloads are never chunk-signed.
    """
    if parsed.kind == "v2-query":
        verify_v2_query(
            parsed.signature,
            parsed.expires,
            request,
            secret_access_key,
            now=now,
            bucket=virtual_hosted_bucket,
        )
        return None

    request_time = _amz_date_to_epoch(parsed.amz_date)
    if parsed.kind == "header":
        if request_time is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        if abs(now - request_time) > MAX_CLOCK_SKEW_SECONDS:
            raise RequestTimeTooSkewed()
        if parsed.scope_date != parsed.amz_date[:8]:
            raise AuthorizationHeaderMalformed(
                f"the credential scope date {parsed.scope_date!r} does not match "
                f"the request date {parsed.amz_date[:8]!r}"
            )
        raw_query = request.raw_query
        canonical_query = canonical_query_string(raw_query) if raw_query else ""
    else:
        if request_time is None:
            raise AuthorizationQueryParametersError("X-Amz-Date must be in YYYYMMDDTHHMMSSZ form")
        if request_time - now > MAX_CLOCK_SKEW_SECONDS:
            raise RequestTimeTooSkewed()
        if now > request_time + (parsed.expires or 0):
            raise AccessDenied("Request has expired")
        if parsed.scope_date != parsed.amz_date[:8]:
            raise AuthorizationQueryParametersError(
                f"the credential scope date {parsed.scope_date!r} does not match "
                f"X-Amz-Date {parsed.amz_date[:8]!r}"
            )
        canonical_query = canonical_query_string(request.raw_query, exclude=_SIGNATURE_PARAM)
    headers = request.headers
    signed_headers = parsed.signed_headers
    require_signed_headers(headers, signed_headers, header_auth=parsed.kind == "header")

    # The steps of canonical.py (canonical request → string to sign → signature), written
    # out in one place: this runs for every signed request, and each helper call, each
    # intermediate string, shows in the gateway's CPU per request. The published-signature
    # tests hold it to the same bytes as the helpers the outbound signer uses.
    creq_parts = [request.method, request.raw_path or "/", canonical_query]
    for name in signed_headers:
        values = headers.getall(name, ())
        if len(values) == 1:
            creq_parts.append(f"{name.lower()}:{' '.join(values[0].split())}")
        else:
            creq_parts.append(f"{name.lower()}:{','.join([' '.join(v.split()) for v in values])}")
    creq_parts += ("", ";".join(signed_headers), parsed.payload_hash)
    creq = "\n".join(creq_parts)
    creq_hash = SHA256_INITIAL.copy()
    # Each encode is canonical.wire_bytes inlined: undecodable bytes go back as received.
    creq_hash.update(creq.encode("utf-8", "surrogateescape"))
    signing_key, scope, inner_state, outer_state = _signing_states(
        secret_access_key, parsed.scope_date, parsed.region, parsed.service
    )
    amz_date = parsed.amz_date
    sts = f"{ALGORITHM}\n{amz_date}\n{scope}\n{creq_hash.hexdigest()}"
    inner = inner_state.copy()
    inner.update(sts.encode("utf-8", "surrogateescape"))
    outer = outer_state.copy()
    outer.update(inner.digest())
    expected = outer.hexdigest()
    if not hmac.compare_digest(
        expected.encode(), parsed.signature.encode("utf-8", "surrogateescape")
    ):
        log_signing_steps("SigV4 signature mismatch", creq, sts)
        raise SignatureDoesNotMatch()
    if logger.isEnabledFor(logging.DEBUG):
        log_signing_steps("SigV4 signature verified", creq, sts)
    return VerifiedSignature(signing_key, expected, amz_date, scope)


# The derived key only changes daily per credential, and HMAC's keyed inner and outer
# states with it: one cached call gives all that verifying a signature needs.
@lru_cache(maxsize=1024)
def _signing_states(
    secret: str, date: str, region: str, service: str
) -> tuple[bytes, str, hashlib._Hash, hashlib._Hash]:
    signing_key = derive_signing_key(secret, date, region, service)
    inner, outer = hmac_sha256_states(signing_key)
    return signing_key, credential_scope(date, region, service), inner, outer


# --- parsing ------------------------------------------------------------------------------


def _query_auth_kind(request: RequestInfo) -> Literal["query", "v2-query"] | None:
    raw_query = request.raw_query
    # Cheap substring test first: most requests carry no query auth and should not pay for
    # parsing the query here.
    if not raw_query or not ("X-Amz-" in raw_query or "Signature" in raw_query):
        return None
    query = request.query
    # A half-built presigned URL (algorithm or credential without a signature) is answered
    # with a precise 400 rather than silently served as anonymous.
    v4 = "X-Amz-Signature" in query or "X-Amz-Algorithm" in query or "X-Amz-Credential" in query
    v2 = "Signature" in query
    if v4 and v2:
        raise InvalidArgument(
            "Only one auth mechanism allowed; use either SigV4 (X-Amz-*) or SigV2 "
            "(AWSAccessKeyId/Signature/Expires) query parameters, not both"
        )
    if v4:
        return "query"
    return "v2-query" if v2 else None


def _parse_authorization_header(value: str, request: RequestInfo) -> ParsedSignature:
    head, marker, signature = value.rpartition("Signature=")
    known = _AUTHORIZATION_HEADS.get(head) if marker and signature.isalnum() else None
    if known is not None:
        access_key_id, scope_date, region, service, signed_names = known
    else:
        match = _CANONICAL_AUTHORIZATION.fullmatch(value)
        if match is not None:
            access_key_id, scope_date, region, service, signed_headers, signature = match.groups()
        else:
            credential, signed_headers, signature = _authorization_fields(value)
            access_key_id, scope_date, region, service = _parse_credential(
                credential, AuthorizationHeaderMalformed
            )
        signed_names = _parse_signed_headers(signed_headers, AuthorizationHeaderMalformed)
        if match is not None and len(head) <= _MAX_CACHED_HEAD_LENGTH:
            if len(_AUTHORIZATION_HEADS) >= _MAX_CACHED_HEADS:
                _AUTHORIZATION_HEADS.clear()
            _AUTHORIZATION_HEADS[head] = (access_key_id, scope_date, region, service, signed_names)
    headers = request.headers
    amz_date = headers.get("x-amz-date")
    payload_hash = headers.get("x-amz-content-sha256")
    # The two values of nearly every request are taken as they are; anything else is
    # checked (and a missing header handled) by _header_payload_hash.
    if payload_hash != EMPTY_SHA256 and payload_hash != UNSIGNED_PAYLOAD:
        payload_hash = _header_payload_hash(request)
    # Positional: this runs for every signed request, and keywords cost a little each.
    return ParsedSignature(
        "header",
        access_key_id,
        signature,
        headers.get("x-amz-security-token"),
        _header_amz_date(headers) if amz_date is None else amz_date,
        scope_date,
        region,
        service,
        signed_names,
        payload_hash,
    )


def _authorization_fields(value: str) -> tuple[str, str, str]:
    """Credential, SignedHeaders and Signature of any well-formed spelling of the header."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != ALGORITHM:
        if scheme == "AWS":
            raise InvalidRequest(
                "Signature Version 2 Authorization headers are not supported; "
                "please sign requests with AWS4-HMAC-SHA256 (Signature Version 4)"
            )
        raise InvalidRequest(
            f"Unsupported Authorization type {scheme[:40]!r}; "
            "please sign requests with AWS4-HMAC-SHA256 (Signature Version 4)"
        )
    fields: dict[str, str] = {}
    # SigV4 separates components with ',' and clients differ on the space after it.
    for component in rest.split(","):
        name, sep, field_value = component.strip().partition("=")
        if sep:
            fields[name] = field_value.strip()
    credential = fields.get("Credential", "")
    signed_headers = fields.get("SignedHeaders", "")
    signature = fields.get("Signature", "")
    if not (credential and signed_headers and signature):
        missing = [
            name for name in ("Credential", "SignedHeaders", "Signature") if not fields.get(name)
        ]
        raise AuthorizationHeaderMalformed(
            f"the Authorization header is missing {', '.join(missing)}"
        )
    return credential, signed_headers, signature


def _refuse_repeated(request: RequestInfo, names: tuple[str, ...]) -> None:
    query = request.query
    for name in names:
        if len(query.getall(name, ())) > 1:
            raise AuthorizationQueryParametersError(f"{name} may appear only once in the query")


def _parse_v4_query(request: RequestInfo) -> ParsedSignature:
    query = request.query
    _refuse_repeated(request, _V4_AUTH_PARAMS)
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise AuthorizationQueryParametersError(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    names = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders")
    values = [query.get(name, "") for name in (*names, "X-Amz-Signature")]
    if not all(values):
        raise AuthorizationQueryParametersError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    credential, amz_date, expires_text, signed_headers, signature = values
    access_key_id, scope_date, region, service = _parse_credential(
        credential, AuthorizationQueryParametersError
    )
    if _amz_date_to_epoch(amz_date) is None:
        raise AuthorizationQueryParametersError("X-Amz-Date must be in YYYYMMDDTHHMMSSZ form")
    expires = _parse_seconds(expires_text)
    if expires is None or expires < 1:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be a positive integer")
    if expires > MAX_PRESIGN_EXPIRES_SECONDS:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800"
        )
    return ParsedSignature(
        kind="query",
        access_key_id=access_key_id,
        signature=signature,
        session_token=query.get("X-Amz-Security-Token")
        or request.headers.get("x-amz-security-token"),
        amz_date=amz_date,
        scope_date=scope_date,
        region=region,
        service=service,
        signed_headers=_parse_signed_headers(signed_headers, AuthorizationQueryParametersError),
        payload_hash=query.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD),
        expires=expires,
    )


def _parse_v2_query(request: RequestInfo) -> ParsedSignature:
    query = request.query
    _refuse_repeated(request, _V2_AUTH_PARAMS)
    access_key_id = query.get("AWSAccessKeyId", "")
    signature = query.get("Signature", "")
    expires_text = query.get("Expires", "")
    if not (access_key_id and signature and expires_text):
        raise AuthorizationQueryParametersError(
            "Query-string authentication requires the AWSAccessKeyId, Signature "
            "and Expires parameters"
        )
    expires = _parse_seconds(expires_text)
    if expires is None:
        raise AuthorizationQueryParametersError("Expires must be an integer epoch time")
    return ParsedSignature(
        kind="v2-query",
        access_key_id=access_key_id,
        # base64 '+' sent unencoded arrives as a space after form decoding.
        signature=signature.replace(" ", "+"),
        # botocore moves the token into the query as lower-case x-amz-security-token.
        session_token=query.get("x-amz-security-token")
        or query.get("X-Amz-Security-Token")
        or request.headers.get("x-amz-security-token"),
        expires=expires,
    )


# A client sends the same credential scope all day and the same SignedHeaders list on most
# requests: both are parsed once (bounded caches; a malformed value raises and is not kept).
@lru_cache(maxsize=1024)
def _parse_credential(credential: str, error: type[S3Error]) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != SCOPE_TERMINATOR or not all(parts[:4]):
        raise error(
            f"malformed credential {credential[:200]!r}; expected "
            f"<access key>/<YYYYMMDD>/<region>/<service>/{SCOPE_TERMINATOR}"
        )
    access_key_id, scope_date, region, service, _ = parts
    return access_key_id, scope_date, region, service


@lru_cache(maxsize=1024)
def _parse_signed_headers(value: str, error: type[S3Error]) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not all(names):
        raise error(f"malformed SignedHeaders {value[:200]!r}")
    return names


def _header_amz_date(headers: MultiMapping[str]) -> str:
    amz_date = headers.get("x-amz-date")
    if amz_date is not None:
        return amz_date
    # SigV4 allows the Date header instead; the string to sign still uses the ISO 8601
    # basic form, so convert it.
    date = headers.get("Date")
    if date is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError) as exc:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _header_payload_hash(request: RequestInfo) -> str:
    declared = request.headers.get("x-amz-content-sha256")
    if declared is None:
        # S3 requires the header with SigV4 and S3 clients always send it. Generic SigV4
        # signers (curl --aws-sigv4, botocore's SigV4Auth for sts:GetCallerIdentity) leave it
        # out and sign the body's SHA-256 instead. That hash can be checked only for a body
        # known before any byte is read: no body at all, or a form body the runtime read up
        # front. Any other body gets S3's answer, naming the header, rather than a
        # SignatureDoesNotMatch that would send the caller hunting in the wrong place.
        if request.form_body is not None:
            return hashlib.sha256(request.form_body).hexdigest()
        if _has_no_body(request):
            return EMPTY_SHA256
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    if not (
        declared == UNSIGNED_PAYLOAD
        or declared in STREAMING_PAYLOAD_SENTINELS
        or _SHA256_HEX.fullmatch(declared)
    ):
        raise InvalidArgument(
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value, "
            "or a hex SHA-256 digest"
        )
    return declared


def _has_no_body(request: RequestInfo) -> bool:
    headers = request.headers
    return "Transfer-Encoding" not in headers and headers.get("Content-Length", "0") == "0"


def _parse_seconds(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


@lru_cache(maxsize=256)
def _amz_date_to_epoch(value: str) -> int | None:
    """Epoch seconds of a ``YYYYMMDDTHHMMSSZ`` timestamp, or ``None`` if it is not one."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    digits = value[:8] + value[9:15]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        moment = datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]),
            tzinfo=UTC,
        )  # fmt: skip
    except ValueError:
        return None
    return calendar.timegm(moment.utctimetuple())
