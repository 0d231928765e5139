"""Send hand-built, really signed requests (botocore's signer) to a gateway.

For the cases a high-level client cannot express: a clock in the past, a tampered header,
a raw path boto3 would refuse, an ``Expect: 100-continue`` that must be refused.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@contextmanager
def signing_clock(when: datetime) -> Iterator[None]:
    """Make botocore sign as if it were ``when`` (a verifier must use the request's date)."""
    naive_utc = when.astimezone(UTC).replace(tzinfo=None)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=naive_utc):
        yield


def sign(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    session_token: str | None = None,
    when: datetime | None = None,
    region: str = "us-east-1",
    payload_hash: str | None = None,
    leave_unsigned: Iterable[str] = (),
) -> dict[str, str]:
    """SigV4 header-sign a request; returns the headers to send.

    ``payload_hash`` replaces the body's SHA-256 in ``x-amz-content-sha256`` (a streaming
    sentinel such as ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``, or a deliberately wrong hash).
    ``leave_unsigned`` names headers (``host`` too) kept out of ``SignedHeaders``, the way
    a careless or hostile signer would.
    """
    request = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    credentials = Credentials(access_key, secret_key, session_token)
    signer = _ChosenHeadersAuth(
        credentials, "s3", region, payload_hash, {name.lower() for name in leave_unsigned}
    )
    if when is None:
        signer.add_auth(request)
    else:
        with signing_clock(when):
            signer.add_auth(request)
    return dict(request.headers.items())


class _ChosenHeadersAuth(botocore.auth.S3SigV4Auth):  # type: ignore[misc]
    def __init__(
        self,
        credentials: Credentials,
        service: str,
        region: str,
        payload: str | None,
        unsigned: set[str],
    ) -> None:
        super().__init__(credentials, service, region)
        self._payload = payload
        self._unsigned = unsigned

    def payload(self, request: AWSRequest) -> str:
        if self._payload is None:
            return str(super().payload(request))
        return self._payload

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        for name in self._unsigned:
            del headers[name]
        return headers


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    ca_cert: str | None = None,
    timeout: float = 30.0,
    connect_to: str | None = None,
) -> RawResponse:
    """Send exactly this request line and these headers (no path normalisation).

    ``connect_to`` (``host:port``) connects there while the ``Host`` header keeps the URL's
    name — how virtual-hosted bucket names reach a gateway on 127.0.0.1 without DNS.
    """
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_cert)
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            connect_to or parts.netloc, timeout=timeout, context=context
        )
    else:
        conn = http.client.HTTPConnection(connect_to or parts.netloc, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        sent = {k.lower() for k in (headers or {})}
        if "host" not in sent:
            conn.putheader("Host", parts.netloc)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        if body and "content-length" not in sent:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        response = conn.getresponse()
        return RawResponse(response.status, dict(response.getheaders()), response.read())
    finally:
        conn.close()
