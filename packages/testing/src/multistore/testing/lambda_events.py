"""Lambda events built from really signed requests, in each of the four shapes.

Each shape gets the path and query the way that front end hands them to Lambda: Function
URLs verbatim, REST APIs percent-decoded, ALB as received (encoded).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

SHAPES = ["function_url", "rest_api", "alb", "alb_multi_value"]


def event(
    shape: str, method: str, url: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    parts = urlsplit(url)
    path, query = parts.path, parts.query
    headers = {"host": parts.netloc, **{k.lower(): v for k, v in headers.items()}}
    encoded = base64.b64encode(body).decode("ascii")
    if shape == "function_url":
        return {
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
            "headers": headers,
            "requestContext": {"http": {"method": method, "path": unquote(path),
                                        "sourceIp": "127.0.0.1"}},
            "body": encoded, "isBase64Encoded": True,
        }  # fmt: skip
    raw_items = [_pair(p) for p in query.split("&") if p]
    if shape == "rest_api":
        decoded = parse_qsl(query, keep_blank_values=True)
        multi: dict[str, list[str]] = {}
        for k, v in decoded:
            multi.setdefault(k, []).append(v)
        return {
            "resource": "/{proxy+}", "path": unquote(path), "httpMethod": method,
            "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi.items()} or None,
            "multiValueQueryStringParameters": multi or None,
            "requestContext": {"httpMethod": method, "resourcePath": "/{proxy+}",
                               "identity": {"sourceIp": "127.0.0.1"}},
            "body": encoded, "isBase64Encoded": True,
        }  # fmt: skip
    alb: dict[str, Any] = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:test"}},
        "httpMethod": method, "path": path, "body": encoded, "isBase64Encoded": True,
    }  # fmt: skip
    if shape == "alb_multi_value":
        alb["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        grouped: dict[str, list[str]] = {}
        for k, v in raw_items:
            grouped.setdefault(k, []).append(v)
        alb["multiValueQueryStringParameters"] = grouped
    else:
        alb["headers"] = headers
        alb["queryStringParameters"] = dict(raw_items)
    return alb


def _pair(parameter: str) -> tuple[str, str]:
    name, _, value = parameter.partition("=")
    return name, value


def answer_body(answer: dict[str, Any]) -> bytes:
    raw = answer.get("body") or ""
    return base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()


def answer_headers(answer: dict[str, Any]) -> dict[str, str]:
    if "multiValueHeaders" in answer:
        return {k.lower(): ", ".join(v) for k, v in answer["multiValueHeaders"].items()}
    return {k.lower(): v for k, v in answer["headers"].items()}
