"""``AssumeRoleWithWebIdentity``: trade the gateway's token for temporary AWS credentials.

The call is unsigned (the token is the proof), a form POST to an STS endpoint — AWS's
regional endpoint, or any STS-compatible one (MinIO, another multistore running
``multistore-sts``, moto). Failures are sorted by what the client of the gateway should
see:

- the endpoint cannot be reached, times out, answers 5xx or throttles → :class:`StsUnavailable`
  (503: try again);
- STS answers ``AccessDenied`` → :class:`StsAccessDenied` (403: the role does not trust this
  gateway for this bucket);
- any other STS error, or an answer that is not a credential document →
  :class:`StsRejected` (502 ``BackendAuthenticationFailed``: a configuration problem).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import xmltodict

from multistore.core.auth.signing import SigningCredentials
from multistore.core.http import HttpTransport, TransportError

STS_VERSION = "2011-06-15"
MAX_RESPONSE_BYTES = 64 << 10
DEFAULT_TIMEOUT = 10.0
_THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded"})
_SESSION_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9+=,.@_-]")
DEFAULT_SESSION_NAME = "s3-proxy"


class StsError(Exception):
    """Base of the exchange's failures; ``reason`` is for the log, never for the client."""

    def __init__(self, reason: str, *, code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class StsUnavailable(StsError):
    pass


class StsAccessDenied(StsError):
    pass


class StsRejected(StsError):
    pass


@dataclass(frozen=True, slots=True)
class WebIdentityRequest:
    endpoint: str
    role_arn: str
    session_name: str
    token: str = field(repr=False)
    duration_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    credentials: SigningCredentials
    expiration: datetime
    valid_for: float  # seconds, measured against this machine's clock at receipt


def session_name_for(subject: str) -> str:
    """``RoleSessionName`` from the subject: STS allows ``[\\w+=,.@-]{2,64}``."""
    name = _SESSION_NAME_UNSAFE.sub("_", subject)[:64]
    return name if len(name) >= 2 else DEFAULT_SESSION_NAME


def check_endpoint(endpoint: str) -> str:
    """The endpoint as it will be used, or ``ValueError``."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(f"the STS endpoint must be an http(s) URL without a query: {endpoint!r}")
    if not endpoint.isascii() or any(ch.isspace() for ch in endpoint):
        raise ValueError(f"the STS endpoint must be a plain ASCII URL: {endpoint!r}")
    return endpoint if parts.path else endpoint + "/"


async def assume_role_with_web_identity(
    transport: HttpTransport,
    request: WebIdentityRequest,
    *,
    user_agent: str,
    deadline: float = DEFAULT_TIMEOUT,
) -> IssuedCredentials:
    form = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": STS_VERSION,
        "RoleArn": request.role_arn,
        "RoleSessionName": request.session_name,
        "WebIdentityToken": request.token,
    }
    if request.duration_seconds is not None:
        form["DurationSeconds"] = str(request.duration_seconds)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Accept": "text/xml",
        "User-Agent": user_agent,
    }
    where = request.endpoint
    try:
        async with asyncio.timeout(deadline):
            response = await transport.request(
                "POST", request.endpoint, headers=headers, body=urlencode(form).encode()
            )
            try:
                status = response.status
                body = await response.read(MAX_RESPONSE_BYTES)
            finally:
                await response.release()
    except TimeoutError as exc:
        raise StsUnavailable(f"STS {where} did not answer within {deadline:g} s") from exc
    except TransportError as exc:
        raise StsUnavailable(f"STS {where} unreachable: {exc}") from exc
    return parse_response(status, body, where=where)


def parse_response(status: int, body: bytes, *, where: str) -> IssuedCredentials:
    document = _parse_xml(body)
    error = _find(document, "ErrorResponse", "Error")
    if status != 200 or error is not None:
        code = _text(error, "Code") if isinstance(error, dict) else ""
        message = _text(error, "Message") if isinstance(error, dict) else ""
        reason = f"STS {where} answered HTTP {status} {code or '(no error code)'}: {message or '-'}"
        if status >= 500 or code in _THROTTLING_CODES:
            raise StsUnavailable(reason, code=code)
        if code == "AccessDenied":
            raise StsAccessDenied(reason, code=code)
        raise StsRejected(reason, code=code or f"HTTP{status}")
    credentials = _find(
        document,
        "AssumeRoleWithWebIdentityResponse",
        "AssumeRoleWithWebIdentityResult",
        "Credentials",
    )
    if not isinstance(credentials, dict):
        raise StsRejected(f"STS {where} answered 200 without credentials", code="NoCredentials")
    key_id = _text(credentials, "AccessKeyId")
    secret = _text(credentials, "SecretAccessKey")
    token = _text(credentials, "SessionToken")
    expiration_text = _text(credentials, "Expiration")
    try:
        expiration = datetime.fromisoformat(expiration_text)
    except ValueError:
        expiration = None
    if not (key_id and secret and token and expiration and expiration.tzinfo):
        raise StsRejected(f"STS {where} answered incomplete credentials", code="NoCredentials")
    return IssuedCredentials(
        credentials=SigningCredentials(key_id, secret, token),
        expiration=expiration,
        valid_for=expiration.timestamp() - time.time(),
    )


def _parse_xml(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        # Namespaces are dropped: AWS uses one, some STS-compatible servers do not.
        parsed = xmltodict.parse(
            body, disable_entities=True, process_namespaces=True, namespaces=_DROP_NAMESPACES
        )
    except Exception:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class _DropNamespaces(dict[str, None]):
    def __missing__(self, key: str) -> None:
        return None


_DROP_NAMESPACES = _DropNamespaces()


def _find(node: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(node, dict):
            return None
        node = node.get(name)
    return node


def _text(node: dict[str, Any], name: str) -> str:
    value = node.get(name)
    if isinstance(value, dict):
        value = value.get("#text")
    return value.strip() if isinstance(value, str) else ""
