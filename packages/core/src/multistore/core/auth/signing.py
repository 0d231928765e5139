"""Outbound SigV4 for the requests the gateway sends to S3-compatible backends.

A small signer instead of botocore at runtime: botocore's ``add_auth`` builds an
``AWSRequest``, re-parses the URL and re-derives the signing key on every call, which costs
more than the rest of a forwarded request's CPU. The tests prove this signer produces
botocore's exact signatures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from multistore.core.auth.canonical import (
    ALGORITHM,
    UNSIGNED_PAYLOAD,
    canonical_header_value,
    canonical_query_from_params,
    canonical_request,
    credential_scope,
    derive_signing_key,
    hash_canonical_request,
    log_signing_steps,
    signature_hex,
    string_to_sign,
)

# Headers a hop (proxy, load balancer, HTTP client) may add, drop or rewrite on the way, so
# signing them would make a correct request fail: hop-by-hop headers, the client's
# User-Agent, Expect (clients add it for large bodies), Content-Length (the transport owns
# framing) and tracing headers. Everything else the caller puts in the map is signed.
UNSIGNED_HEADER_NAMES = frozenset(
    {
        "authorization",
        "connection",
        "content-length",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
        "traceparent",
        "tracestate",
        "baggage",
    }
)

# Headers the signer sets itself; stale copies under any spelling are dropped first.
_SIGNER_OWNED = frozenset(
    {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
)


@dataclass(frozen=True, slots=True)
class SigningCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


class RequestSigner:
    """Signs requests for one backend (credentials + region + service)."""

    __slots__ = ("_credentials", "_day_key", "_region", "_service")

    def __init__(
        self, credentials: SigningCredentials, *, region: str, service: str = "s3"
    ) -> None:
        self._credentials = credentials
        self._region = region
        self._service = service
        # Region and service are fixed per signer, so the key only changes with the date;
        # (date, key) is one tuple, swapped whole, so no thread pairs a date with another key.
        self._day_key: tuple[str, bytes] = ("", b"")

    def sign_headers(
        self,
        method: str,
        host: str,
        encoded_path: str,
        canonical_query: str,
        headers: dict[str, str],
        payload_hash: str,
        *,
        now: float | None = None,
    ) -> dict[str, str]:
        """Add SigV4 header auth to ``headers`` (mutated and returned).

        ``encoded_path`` goes on the wire as is and is signed as is. ``canonical_query``
        must be the query exactly as sent, already in canonical form (build it with
        :func:`~multistore.core.auth.canonical.canonical_query_from_params`). Adds ``host``
        if absent, ``x-amz-date``, ``x-amz-content-sha256``, ``x-amz-security-token`` and
        ``authorization``. Signs every header in the map except
        :data:`UNSIGNED_HEADER_NAMES`.
        """
        amz_date = _amz_date(now)
        has_host = False
        stale = []
        for name in headers:
            lowered = name.lower()
            if lowered in _SIGNER_OWNED:
                stale.append(name)
            elif lowered == "host":
                has_host = True
        for name in stale:
            del headers[name]
        if not has_host:
            headers["host"] = host
        headers["x-amz-date"] = amz_date
        headers["x-amz-content-sha256"] = payload_hash
        token = self._credentials.session_token
        if token:
            headers["x-amz-security-token"] = token

        signed = sorted(
            [(name.lower(), value) for name, value in headers.items()
             if name.lower() not in UNSIGNED_HEADER_NAMES]
        )  # fmt: skip
        signed_header_names = ";".join([name for name, _ in signed])
        header_lines = "\n".join(
            [f"{name}:{canonical_header_value(value)}" for name, value in signed]
        )
        signature, scope = self._sign(
            amz_date,
            canonical_request(
                method,
                encoded_path,
                canonical_query,
                header_lines,
                signed_header_names,
                payload_hash,
            ),
        )
        headers["authorization"] = (
            f"{ALGORITHM} Credential={self._credentials.access_key_id}/{scope}, "
            f"SignedHeaders={signed_header_names}, Signature={signature}"
        )
        return headers

    def presign(
        self,
        method: str,
        host: str,
        encoded_path: str,
        query_pairs: list[tuple[str, str]],
        *,
        expires: int = 300,
        now: float | None = None,
    ) -> str:
        """A presigned URL's query string: ``query_pairs`` (decoded) plus the X-Amz-* auth.

        The result is encoded and in canonical order, with ``X-Amz-Signature`` appended last
        as botocore does. Only ``host`` is signed and the payload is ``UNSIGNED-PAYLOAD``.
        """
        amz_date = _amz_date(now)
        scope = credential_scope(amz_date[:8], self._region, self._service)
        params = [
            *query_pairs,
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", f"{self._credentials.access_key_id}/{scope}"),
            ("X-Amz-Date", amz_date),
            ("X-Amz-Expires", str(expires)),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if self._credentials.session_token:
            params.append(("X-Amz-Security-Token", self._credentials.session_token))
        query = canonical_query_from_params(params)
        signature, _ = self._sign(
            amz_date,
            canonical_request(
                method, encoded_path, query, f"host:{host}", "host", UNSIGNED_PAYLOAD
            ),
        )
        return f"{query}&X-Amz-Signature={signature}"

    def _sign(self, amz_date: str, canonical_request_text: str) -> tuple[str, str]:
        date = amz_date[:8]
        key_date, signing_key = self._day_key
        if date != key_date:
            signing_key = derive_signing_key(
                self._credentials.secret_access_key, date, self._region, self._service
            )
            self._day_key = (date, signing_key)
        scope = credential_scope(date, self._region, self._service)
        sts = string_to_sign(amz_date, scope, hash_canonical_request(canonical_request_text))
        log_signing_steps("SigV4 outbound request", canonical_request_text, sts)
        return signature_hex(signing_key, sts), scope


_cached_amz_date: tuple[int, str] = (-1, "")


def _amz_date(now: float | None) -> str:
    # Formatting a timestamp costs about as much as an HMAC and most calls fall in the same
    # second as the previous one. One tuple, swapped whole, so threads never see a torn pair.
    global _cached_amz_date
    second = int(time.time() if now is None else now)
    cached_second, text = _cached_amz_date
    if second != cached_second:
        text = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(second))
        _cached_amz_date = (second, text)
    return text
