"""Lambda HTTP events in, response dicts out, for the four ways HTTP reaches a function.

- Function URLs and HTTP APIs (payload 2.0, ``version == "2.0"``): ``rawPath`` and
  ``rawQueryString`` as sent (see ``raw_path_v2`` for the one exception).
- REST APIs (payload 1.0, ``requestContext.httpMethod``): ``path`` and the query parameters
  arrive already percent-decoded.
- ALB target groups (``requestContext.elb``): ``path`` and query parameters as received,
  still encoded.

SigV4 signs the path and query exactly as the client sent them, so each shape is turned back
into that wire form here (``docs/deployment.md``, "Lambda", says where this cannot be exact).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from multidict import CIMultiDict


class Shape(Enum):
    FUNCTION_URL = "function_url"
    """Function URLs and API Gateway HTTP APIs: the payload 2.0 format."""
    REST_API = "rest_api"
    """API Gateway REST APIs: payload 1.0."""
    ALB = "alb"
    """Application Load Balancer target groups, with or without multi-value headers."""


@dataclass(slots=True)
class LambdaRequest:
    shape: Shape
    method: str
    raw_path: str
    raw_query: str
    headers: CIMultiDict[str]
    body: bytes
    source_ip: str | None
    multi_value: bool = False
    """The event came with ``multiValueHeaders``: the answer must use them too."""


class EventError(ValueError):
    """An event that is no HTTP request this handler knows."""


def detect(event: Mapping[str, Any]) -> Shape:
    context = event.get("requestContext") or {}
    if event.get("version") == "2.0" and "rawPath" in event:
        return Shape.FUNCTION_URL
    if "elb" in context:
        return Shape.ALB
    if "httpMethod" in event and ("httpMethod" in context or "resourcePath" in context):
        return Shape.REST_API
    raise EventError("not an HTTP event (Function URL, HTTP API, REST API or ALB)")


def parse(event: Mapping[str, Any]) -> LambdaRequest:
    request = _parse(event)
    # The front end has read the whole body (de-chunked if it came chunked): its length is
    # known, and the gateway needs it for uploads.
    request.headers.popall("Transfer-Encoding", None)
    if request.body or request.method in ("PUT", "POST"):
        request.headers["Content-Length"] = str(len(request.body))
    return request


def _parse(event: Mapping[str, Any]) -> LambdaRequest:
    shape = detect(event)
    body = _body(event)
    if shape is Shape.FUNCTION_URL:
        http = event["requestContext"]["http"]
        headers = CIMultiDict((k, v) for k, v in (event.get("headers") or {}).items())
        cookies = event.get("cookies")
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        return LambdaRequest(
            shape, http["method"], raw_path_v2(event["rawPath"]), event.get("rawQueryString", ""),
            headers, body, http.get("sourceIp"),
        )  # fmt: skip
    headers, multi_value = _headers_v1(event)
    if shape is Shape.REST_API:
        identity = event["requestContext"].get("identity") or {}
        return LambdaRequest(
            shape, event["httpMethod"], encode_path(event["path"]),
            encode_query(_query_items(event)), headers, body, identity.get("sourceIp"),
            multi_value,
        )  # fmt: skip
    # ALB passes path and query through as received: join them back, encoding nothing.
    forwarded = headers.get("x-forwarded-for", "")
    return LambdaRequest(
        shape, event["httpMethod"], event["path"],
        "&".join(f"{k}={v}" if v else k for k, v in _query_items(event)),
        headers, body, forwarded.rsplit(",", 1)[-1].strip() or None, multi_value,
    )  # fmt: skip


def _body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode()


def _headers_v1(event: Mapping[str, Any]) -> tuple[CIMultiDict[str], bool]:
    multi = event.get("multiValueHeaders")
    if multi:
        return CIMultiDict((k, v) for k, values in multi.items() for v in values or ()), True
    return CIMultiDict((k, v) for k, v in (event.get("headers") or {}).items()), False


def _query_items(event: Mapping[str, Any]) -> list[tuple[str, str]]:
    multi = event.get("multiValueQueryStringParameters")
    if multi:
        return [(k, v) for k, values in multi.items() for v in values or ()]
    return list((event.get("queryStringParameters") or {}).items())


_NEEDS_ENCODING = re.compile(r"[^A-Za-z0-9\-._~/%!$&'()*+,;=:@]|%(?![0-9A-Fa-f]{2})")


def raw_path_v2(path: str) -> str:
    """``rawPath`` as the client sent it.

    Function URLs pass the path through encoded. A path that could not have been sent as is
    (a space, a non-ASCII character, a ``%`` that starts no escape) was decoded on the way
    (reported for some HTTP API routes); it is re-encoded the way SDKs encode keys.
    """
    return encode_path(path) if _NEEDS_ENCODING.search(path) else path


def encode_path(path: str) -> str:
    """A decoded path in the form AWS SDKs send (everything but unreserved and ``/`` escaped)."""
    return quote(path, safe="/~")


def encode_query(items: Iterable[tuple[str, str]]) -> str:
    """Decoded query parameters in the form AWS SDKs send (SigV4's canonical encoding)."""
    return "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" if v else quote(k, safe="-_.~")
        for k, v in items
    )


def response(
    request: LambdaRequest, status: int, headers: Iterable[tuple[str, str]], body: bytes
) -> dict[str, Any]:
    """The response dict for the request's shape; bodies always go out base64-encoded."""
    out: dict[str, Any] = {
        "statusCode": status,
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }
    pairs = list(headers)
    if request.shape is Shape.ALB:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        out["statusDescription"] = f"{status} {reason}".strip()
    if request.multi_value:
        grouped: dict[str, list[str]] = {}
        for name, value in pairs:
            grouped.setdefault(name, []).append(value)
        out["multiValueHeaders"] = grouped
        return out
    single: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in pairs:
        if request.shape is Shape.FUNCTION_URL and name.lower() == "set-cookie":
            cookies.append(value)
        elif name in single:
            single[name] += f", {value}"
        else:
            single[name] = value
    out["headers"] = single
    if cookies:
        out["cookies"] = cookies
    return out
