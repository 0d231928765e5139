"""Requests to the GCS JSON API: URLs, authorization, retries and error translation.

Error answers become the S3 error a client understands. GCS messages name the bucket and
the project, so they are logged and never shown: client-facing messages are our own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from multistore.core.errors import (
    AccessDenied,
    BadGateway,
    InvalidArgument,
    InvalidRange,
    NoSuchKey,
    PreconditionFailed,
    S3Error,
    ServiceUnavailable,
    SlowDown,
)
from multistore.core.http import HttpTransport, OutboundBody, TransportError, TransportResponse
from multistore.core.s3.keys import strip_backend_prefix
from multistore.gcs.options import GcsOptions
from multistore.gcs.tokens import AccessTokens

logger = logging.getLogger("multistore.gcs")

MAX_ERROR_BODY = 64 << 10
MAX_JSON_BODY = 16 << 20
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})


def quote_name(name: str) -> str:
    """An object name as one path segment: every byte but the unreserved ones escaped."""
    return quote(name, safe="")


class GcsWire:
    """One bucket's JSON API endpoint, reached through the runtime's pooled transport."""

    def __init__(
        self,
        options: GcsOptions,
        transport: HttpTransport,
        *,
        user_agent: str,
        client_bucket: str,
        backend_prefix: str = "",
    ) -> None:
        self.options = options
        self._transport = transport
        self._user_agent = user_agent
        self._client_bucket = client_bucket
        self._backend_prefix = backend_prefix
        self._tokens = (
            AccessTokens(options.service_account, transport, user_agent)
            if options.service_account is not None
            else None
        )
        self._last_authorization = ""
        bucket = quote_name(options.bucket_name)
        self._objects = f"{options.endpoint}/storage/v1/b/{bucket}/o"
        self._uploads = f"{options.endpoint}/upload/storage/v1/b/{bucket}/o"

    # --- URLs ------------------------------------------------------------------------------

    def object_url(self, key: str, suffix: str = "") -> str:
        return f"{self._objects}/{quote_name(key)}{suffix}"

    def objects_url(self) -> str:
        return self._objects

    def upload_url(self) -> str:
        return self._uploads

    def rewrite_url(self, source: str, destination_bucket: str, destination: str) -> str:
        target = f"/rewriteTo/b/{quote_name(destination_bucket)}/o/{quote_name(destination)}"
        return self.object_url(source, target)

    # --- sending ---------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        url: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: OutboundBody = None,
    ) -> TransportResponse:
        out = dict(headers or {})
        out["user-agent"] = self._user_agent
        if self._tokens is not None:
            out["authorization"] = await self._tokens.authorization()
            self._last_authorization = out["authorization"]
        pairs = list(query)
        target = f"{url}?{urlencode(pairs, quote_via=quote)}" if pairs else url
        # One retry on a fresh connection when nothing is lost by it (idempotent method,
        # body in memory): a pooled connection the store closed while idle fails on reuse.
        retry = method in _IDEMPOTENT and not isinstance(body, AsyncIterator)
        attempts = 2 if retry else 1
        for attempt in range(attempts):
            try:
                return await self._transport.request(method, target, headers=out, body=body)
            except TransportError as exc:
                if attempt + 1 == attempts:
                    raise ServiceUnavailable("the storage backend is unreachable") from exc
                logger.info("retrying %s after: %s", method, exc)
        raise AssertionError("unreachable")

    async def send_json(
        self,
        method: str,
        url: str,
        document: Mapping[str, Any] | None = None,
        *,
        query: Iterable[tuple[str, str]] = (),
        key: str | None = None,
    ) -> dict[str, Any]:
        """A JSON API call whose answer is a (small) JSON document; errors raised."""
        body = json.dumps(document).encode() if document is not None else None
        headers = {"content-type": "application/json"} if body is not None else {}
        response = await self.send(method, url, query=query, headers=headers, body=body)
        await self.raise_for_status(response, key)
        return await read_json(response)

    async def raise_for_status(self, response: TransportResponse, key: str | None) -> None:
        """Translate an error answer into the S3 error the client should see."""
        status = response.status
        if status < 300 or status == 304:
            return
        try:
            raw = await response.read(MAX_ERROR_BODY)
        except Exception:  # an unreadable error body changes nothing about the outcome
            raw = b""
        finally:
            await response.release()
        reason, message = parse_error(raw)
        if status == 401 and self._tokens is not None:
            self._tokens.forget(self._last_authorization)
        level = logging.DEBUG if status in (404, 412, 416) else logging.WARNING
        logger.log(
            level,
            "GCS answered %s (%s) for bucket %s: %s",
            status,
            reason or "-",
            self._client_bucket,
            message or "-",
        )
        raise translate_status(status, reason, self.resource(key))

    def resource(self, key: str | None) -> str:
        """``<Resource>`` as the caller knows it: virtual bucket, key without backend_prefix."""
        if key is None:
            return f"/{self._client_bucket}"
        return f"/{self._client_bucket}/{strip_backend_prefix(self._backend_prefix, key)}"


def translate_status(status: int, reason: str, resource: str) -> S3Error:
    error: S3Error
    if status == 404:
        error = NoSuchKey()
    elif status == 412:
        error = PreconditionFailed()
    elif status == 416:
        error = InvalidRange()
    elif status == 401:
        return BadGateway("the storage backend rejected the gateway's credentials")
    elif status == 403:
        error = AccessDenied()
    elif status == 429:
        return SlowDown()
    elif status >= 500:
        return ServiceUnavailable(f"the storage backend failed ({status})")
    elif status == 400:
        error = InvalidArgument(f"the storage backend refused the request ({reason or 'invalid'})")
    else:
        return BadGateway(f"unexpected answer from the storage backend ({status})")
    error.resource = resource
    return error


def parse_error(raw: bytes) -> tuple[str, str]:
    """``(reason, message)`` of a JSON API error document; empty when there is none."""
    try:
        document = json.loads(raw) if raw else {}
        error = document.get("error") or {}
        errors = error.get("errors") or [{}]
        return str(errors[0].get("reason") or ""), str(error.get("message") or "")
    except (ValueError, AttributeError, TypeError, IndexError):
        return "", raw[:200].decode("utf-8", "replace")


async def read_json(response: TransportResponse) -> dict[str, Any]:
    try:
        raw = await response.read(MAX_JSON_BODY)
    except TransportError as exc:
        raise BadGateway("could not read the storage backend's answer") from exc
    finally:
        await response.release()
    try:
        document = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise BadGateway("the storage backend answered with malformed JSON") from None
    if not isinstance(document, dict):
        raise BadGateway("the storage backend answered with unexpected JSON")
    return document
