"""The ``s3`` backend: S3, MinIO, R2, Ceph and anything else speaking the S3 REST API.

Every request is header-signed with SigV4 by the gateway's own signer (or sent anonymously
when the bucket has no credentials) and bodies stream both ways through the runtime's
pooled transport. Backend errors are translated: 4xx errors that describe the caller's
request keep their S3 code; the backend's own failures (unreachable, 5xx, rejected
gateway credentials) become 502/503 with details in the log only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import xmltodict

from multistore.core.auth.canonical import (
    EMPTY_SHA256,
    UNSIGNED_PAYLOAD,
    canonical_query_from_params,
)
from multistore.core.auth.signing import RequestSigner, SigningCredentials
from multistore.core.backends.base import (
    BackendServices,
    ListEntry,
    ListPage,
    ListRequest,
    ObjectRequest,
)
from multistore.core.backends.credentials import AUTH_TYPE_OPTION, BucketCredentials
from multistore.core.backends.headers import (
    READ_QUERY_PARAMETERS,
    READ_REQUEST_HEADERS,
    WRITE_REQUEST_HEADERS,
    WRITE_REQUEST_PREFIXES,
    filter_raw_response_headers,
    filter_response_headers,
    pick_headers,
)
from multistore.core.backends.s3.upload_binding import UploadBindings
from multistore.core.backends.s3.writes import S3WritePaths, read_backend_body, refuse_oversized
from multistore.core.config import BucketConfig
from multistore.core.errors import (
    BadGateway,
    InvalidRange,
    MissingContentLength,
    NoSuchKey,
    NotModified,
    PreconditionFailed,
    S3Error,
    ServiceUnavailable,
    backend_client_error,
)
from multistore.core.http import (
    HttpTransport,
    OutboundBody,
    RequestBody,
    Response,
    StreamingResponse,
    TransportError,
    TransportResponse,
    backend_body,
)
from multistore.core.s3.conditions import (
    ObjectState,
    delete_conditions,
    evaluate_delete_conditions,
)
from multistore.core.s3.keys import encode_wire_path, strip_backend_prefix
from multistore.core.s3.ranges import RangeNotSatisfiable, is_usable_range, unsatisfied_size
from multistore.core.s3.upload_body import iter_committing, verify_empty
from multistore.core.s3.xml import parse_timestamp, xml_text

logger = logging.getLogger("multistore.core.backends.s3")

MAX_ERROR_BODY = 64 << 10
# A listed object without a readable LastModified is a backend defect; show it as the epoch.
_EPOCH = datetime.fromtimestamp(0, UTC)
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
MAX_LIST_BODY = 16 << 20
# 400 codes that mean the gateway's own signing or configuration is wrong, not the caller's
# request: those stay 502 like a 403 from the backend does.
_GATEWAY_FAULT_CODES = frozenset(
    {
        "AuthorizationHeaderMalformed",
        "AuthorizationQueryParametersError",
        "ExpiredToken",
        "IncorrectEndpoint",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,63}")

# 4xx codes a backend may report that describe the caller's request, not the gateway's
# configuration; they reach the client with the backend's code and status.
CLIENT_ERROR_CODES = frozenset(
    {
        "BadDigest",
        "EntityTooLarge",
        "EntityTooSmall",
        "IncompleteBody",
        "InvalidArgument",
        "InvalidDigest",
        "InvalidPart",
        "InvalidPartOrder",
        "InvalidRange",
        "InvalidRequest",
        "InvalidStorageClass",
        "InvalidObjectState",
        "KeyTooLongError",
        "MalformedXML",
        "MetadataTooLarge",
        "NoSuchKey",
        "NoSuchUpload",
        "PreconditionFailed",
        "XAmzContentSHA256Mismatch",
        "InvalidTag",
        "ConditionalRequestConflict",
        "MissingContentLength",
        "TooManyParts",
        "NoSuchVersion",
    }
)


class S3Backend(S3WritePaths):
    """One S3 bucket (optionally under a key prefix) behind a virtual bucket."""

    def __init__(self, config: BucketConfig, services: BackendServices) -> None:
        options = config.backend_options
        self.config = config
        self.bucket_name = options.get("bucket_name", "")
        region = options.get("region") or config.region or "us-east-1"
        endpoint = (options.get("endpoint") or f"https://s3.{region}.amazonaws.com").rstrip("/")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"bucket {config.name!r}: endpoint must be an http(s) URL")
        virtual_hosted = options.get("virtual_hosted_style_request", "false") == "true"
        if virtual_hosted and self.bucket_name:
            self.host = f"{self.bucket_name}.{parts.netloc}"
            self._base_path = parts.path
        else:
            self.host = parts.netloc
            bucket_path = f"/{encode_wire_path(self.bucket_name)}" if self.bucket_name else ""
            self._base_path = parts.path + bucket_path
        self._origin = f"{parts.scheme}://{self.host}"
        self.endpoint = endpoint
        self.region = region
        self.upload_bindings = UploadBindings()
        self._user_agent = services.user_agent
        if services.transport is None:
            raise ValueError("the s3 backend needs an HTTP transport from the runtime")
        self._transport: HttpTransport = services.transport
        key_id = options.get("access_key_id", "")
        secret = options.get("secret_access_key", "")
        skip = options.get("skip_signature", "false") == "true"
        self._signer: RequestSigner | None = None
        # Credentials obtained at run time (auth_type, e.g. "oidc"); the signer follows them.
        self._dynamic: BucketCredentials | None = None
        self._dynamic_signed: tuple[SigningCredentials, RequestSigner] | None = None
        auth_type = options.get(AUTH_TYPE_OPTION, "")
        if auth_type:
            source = services.credential_sources.get(auth_type)
            if source is None:
                raise ValueError(
                    f"bucket {config.name!r}: auth_type {auth_type!r} is not available "
                    "(its plugin is not installed, or it declined: see the startup log)"
                )
            self._dynamic = source.for_bucket(config)
        elif key_id and secret and not skip:
            credentials = SigningCredentials(key_id, secret, options.get("token") or None)
            self._signer = RequestSigner(credentials, region=region, service="s3")

    # --- wire ------------------------------------------------------------------------------

    def object_path(self, key: str) -> str:
        return f"{self._base_path}/{encode_wire_path(key)}"

    def bucket_path(self) -> str:
        return self._base_path or "/"

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        body: OutboundBody = None,
        payload_hash: str = UNSIGNED_PAYLOAD,
    ) -> TransportResponse:
        """Sign and send one request; ``path`` must already be wire-encoded."""
        canonical_query = canonical_query_from_params(query) if query else ""
        out = dict(headers) if headers else {}
        out["user-agent"] = self._user_agent
        signer = self._signer if self._dynamic is None else await self._signer_for(self._dynamic)
        if signer is not None:
            signer.sign_headers(method, self.host, path, canonical_query, out, payload_hash)
        url = f"{self._origin}{path}" + (f"?{canonical_query}" if canonical_query else "")
        # One retry when nothing is lost by it: the method is idempotent and the body (if
        # any) is in memory. A pooled connection the backend closed while idle fails on
        # reuse, and a second attempt on a fresh connection is what every SDK does too.
        attempts = 2 if method in _IDEMPOTENT and (body is None or isinstance(body, bytes)) else 1
        for attempt in range(attempts):
            try:
                return await self._transport.request(method, url, headers=out, body=body)
            except TransportError as exc:
                if attempt + 1 == attempts:
                    raise ServiceUnavailable(f"backend {self.endpoint} unreachable: {exc}") from exc
                logger.info("retrying %s on %s after: %s", method, self.endpoint, exc)
        raise AssertionError("unreachable")  # the loop either returns or raises

    async def _signer_for(self, dynamic: BucketCredentials) -> RequestSigner:
        credentials = await dynamic.current()
        signed = self._dynamic_signed
        if signed is None or signed[0] is not credentials:
            # A new signer only when the source renewed; it keeps the day's signing key.
            signed = (credentials, RequestSigner(credentials, region=self.region, service="s3"))
            self._dynamic_signed = signed
        return signed[1]

    async def raise_for_status(self, response: TransportResponse, key: str | None) -> None:
        """Translate a backend error response into the S3Error the client should see."""
        status = response.status
        if status < 300 or status == 304:
            return
        body = b""
        try:
            body = await response.read(MAX_ERROR_BODY)
        except Exception:  # an unreadable error body changes nothing about the outcome
            body = b""
        finally:
            await response.release()
        code, message = _parse_error(body)
        resource = self.client_resource(key)
        logger.log(
            _log_level(status, code),
            "backend %s answered %s %s for bucket %s: %s",
            self.endpoint,
            status,
            code or "-",
            self.config.name,
            message or "-",
        )
        if status == 404 and (code in ("NoSuchKey", "") and key is not None):
            raise NoSuchKey(resource=resource)
        if status == 412:
            raise PreconditionFailed(resource=resource)
        if status == 416:
            raise InvalidRange(resource=resource)
        if status in (401, 403):
            raise BadGateway(f"backend rejected the gateway's credentials: {code} {message}")
        if status >= 500:
            raise ServiceUnavailable(f"backend error {status}: {code} {message}")
        if code in CLIENT_ERROR_CODES or (
            # Any other 400 describes the caller's request (an argument the store refuses)
            # unless it is about the gateway's own credentials or configuration.
            status == 400 and code not in _GATEWAY_FAULT_CODES
        ):
            shown_code = code if _ERROR_CODE.fullmatch(code) else "InvalidRequest"
            error = backend_client_error(shown_code, status, self._scrub(message))
            error.resource = resource
            raise error
        raise BadGateway(f"unexpected backend answer {status}: {code} {message}")

    def client_resource(self, key: str | None) -> str:
        """``<Resource>`` as the caller knows it: virtual bucket, key without backend_prefix."""
        if key is None:
            return f"/{self.config.name}"
        return f"/{self.config.name}/{strip_backend_prefix(self.config.backend_prefix, key)}"

    def _scrub(self, message: str) -> str:
        # Backend messages may name the backend bucket or the backend_prefix; the caller
        # only knows the virtual bucket and its own keys.
        if self.bucket_name:
            message = message.replace(self.bucket_name, "<bucket>")
        if self.config.backend_prefix:
            message = message.replace(self.config.backend_prefix, "")
        return message

    def _streaming(self, response: TransportResponse, *, head: bool) -> StreamingResponse:
        # The server runtime's client (``multistore.http_client``) keeps header fields
        # undecoded: they are filtered here with the length found in the same pass.
        raw: list[tuple[bytes, bytes]] | None = getattr(response, "raw_headers", None)
        if raw is not None:
            headers, content_length = filter_raw_response_headers(raw)
        else:
            headers = filter_response_headers(response.headers)
            length = response.headers.get("Content-Length")
            content_length = int(length) if length and length.isdigit() else None
        body, release = backend_body(response, head=head)
        return StreamingResponse(
            status=response.status,
            headers=headers,
            body=body,
            content_length=content_length,
            release=release,
        )

    # --- objects ---------------------------------------------------------------------------

    async def _read(self, method: str, request: ObjectRequest) -> StreamingResponse:
        query = (
            [(k, v) for k, v in request.query.items() if k in READ_QUERY_PARAMETERS]
            if request.query
            else []
        )
        headers = pick_headers(request.headers, READ_REQUEST_HEADERS)
        requested_range = headers.pop("range", None)
        if requested_range is not None and is_usable_range(requested_range):
            headers["range"] = requested_range
        response = await self.send(
            method,
            self.object_path(request.key),
            query=query,
            headers=headers,
            payload_hash=EMPTY_SHA256,
        )
        status = response.status
        if status >= 300:  # checked here: most reads succeed, and a call is no free check
            if status == 416 and requested_range is not None:
                await self._unsatisfiable(response, request, query, requested_range)
            if status == 304:
                # Caches revalidate with the validators a 304 repeats; keep what S3 sent
                # with it (ETag, Last-Modified, Cache-Control, Expires, version id), not the
                # body's type.
                kept = filter_response_headers(response.headers)
                kept.popall("content-type", None)
                await response.release()
                raise NotModified(headers=kept)
            await self.raise_for_status(response, request.key)
        return self._streaming(response, head=method == "HEAD")

    async def _unsatisfiable(
        self,
        response: TransportResponse,
        request: ObjectRequest,
        query: list[tuple[str, str]],
        requested_range: str,
    ) -> None:
        """Raise the 416 with ``Content-Range: bytes */size`` the client needs to retry."""
        size = unsatisfied_size(response.headers.get("Content-Range"))
        await response.release()
        if size is None:
            # Not every store says how large the object is; one HEAD finds out.
            head = await self.send(
                "HEAD", self.object_path(request.key), query=query, payload_hash=EMPTY_SHA256
            )
            length = head.headers.get("Content-Length", "")
            await head.release()
            if head.status == 200 and length.isascii() and length.isdigit():
                size = int(length)
        resource = self.client_resource(request.key)
        if size is None:
            raise InvalidRange(resource=resource)
        error = RangeNotSatisfiable(size=size, requested=requested_range)
        error.resource = resource
        raise error

    # Plain functions handing back ``_read``'s coroutine: one coroutine less per request.
    def get_object(self, request: ObjectRequest) -> Coroutine[Any, Any, StreamingResponse]:
        return self._read("GET", request)

    def head_object(self, request: ObjectRequest) -> Coroutine[Any, Any, StreamingResponse]:
        return self._read("HEAD", request)

    async def put_object(
        self, request: ObjectRequest, body: RequestBody, content_length: int | None
    ) -> Response:
        if content_length is None:
            # S3 refuses chunked transfer encoding for PutObject.
            raise MissingContentLength()
        refuse_oversized(content_length)
        headers = _write_headers(request.headers)
        headers["content-length"] = str(content_length)
        if not content_length:
            await verify_empty(body)
        response = await self.send(
            "PUT",
            self.object_path(request.key),
            headers=headers,
            body=iter_committing(body) if content_length else b"",
        )
        await self.raise_for_status(response, request.key)
        out = filter_response_headers(response.headers)
        await response.release()
        return Response(response.status, out)

    async def delete_object(self, request: ObjectRequest) -> Response:
        query = [("versionId", request.version_id)] if request.version_id else []
        conditions = delete_conditions(request.headers)
        headers: dict[str, str] = {}
        if conditions.present:
            # S3 general-purpose buckets honour only If-Match on a delete (moto neither
            # x-amz-if-match-last-modified-time nor -size), so the gateway checks every
            # condition against a HEAD itself, then pins the DELETE to the object it saw with
            # If-Match: a store that supports conditional deletes refuses with 412 if the
            # object changed in between.
            existing = await self._object_state(request.key, query)
            if not evaluate_delete_conditions(conditions, existing=existing):
                return Response(204)
            assert existing is not None
            headers["if-match"] = existing.etag
        response = await self.send(
            "DELETE",
            self.object_path(request.key),
            query=query,
            headers=headers,
            payload_hash=EMPTY_SHA256,
        )
        await self.raise_for_status(response, request.key)
        out = filter_response_headers(response.headers)
        await response.release()
        return Response(204, out)

    async def _object_state(self, key: str, query: list[tuple[str, str]]) -> ObjectState | None:
        """ETag, Last-Modified and size of ``key`` from a HEAD; ``None`` if there is none."""
        response = await self.send(
            "HEAD", self.object_path(key), query=query, payload_hash=EMPTY_SHA256
        )
        if response.status == 404:
            await response.release()
            return None
        await self.raise_for_status(response, key)
        headers = response.headers
        await response.release()
        etag = headers.get("ETag")
        length = headers.get("Content-Length", "")
        try:
            last_modified = parsedate_to_datetime(headers.get("Last-Modified", ""))
        except (TypeError, ValueError, IndexError):
            last_modified = None
        if not etag or not length.isdigit() or last_modified is None:
            raise BadGateway("backend answered HEAD without ETag, Content-Length or Last-Modified")
        return ObjectState(etag, last_modified, int(length))

    # --- listing ---------------------------------------------------------------------------

    async def list_objects(self, request: ListRequest) -> ListPage:
        query = [("list-type", "2"), ("max-keys", str(request.max_keys)), ("encoding-type", "url")]
        if request.prefix:
            query.append(("prefix", request.prefix))
        if request.delimiter:
            query.append(("delimiter", request.delimiter))
        if request.continuation_token:
            query.append(("continuation-token", request.continuation_token))
        if request.start_after:
            query.append(("start-after", request.start_after))
        response = await self.send(
            "GET", self.bucket_path(), query=query, payload_hash=EMPTY_SHA256
        )
        await self.raise_for_status(response, None)
        return parse_list_page(await read_backend_body(response, MAX_LIST_BODY))

    async def close(self) -> None:
        return None


def _write_headers(headers: Mapping[str, str]) -> dict[str, str]:
    picked = pick_headers(headers, WRITE_REQUEST_HEADERS, WRITE_REQUEST_PREFIXES)  # type: ignore[arg-type]
    # An SDK checksum algorithm without its value (the value came in a trailer the gateway
    # already verified) would make S3 expect a checksum that never arrives.
    algorithm = picked.get("x-amz-sdk-checksum-algorithm")
    if algorithm and f"x-amz-checksum-{algorithm.lower()}" not in picked:
        picked.pop("x-amz-sdk-checksum-algorithm")
    return picked


def _log_level(status: int, code: str) -> int:
    """How loudly to log a backend's error answer.

    A missing key, a failed precondition or a bad range is the client's outcome, not a fault:
    clients HEAD keys that may not exist on every run (rclone before each upload, pyarrow for
    "directories"), and the access log already has the status. Rejected credentials, 5xx
    answers and anything unexpected are the operator's business.
    """
    if status in (401, 403) or status >= 500:
        return logging.WARNING
    if status in (404, 412, 416) or code in CLIENT_ERROR_CODES:
        return logging.DEBUG
    return logging.WARNING


def _parse_error(body: bytes) -> tuple[str, str]:
    if not body:
        return "", ""
    try:
        doc = xmltodict.parse(body, disable_entities=True)
    except Exception:
        return "", ""
    error = doc.get("Error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return "", ""
    return str(error.get("Code") or ""), str(error.get("Message") or "")


def parse_list_page(body: bytes) -> ListPage:
    """Parse a backend ``ListObjectsV2`` answer (requested with ``encoding-type=url``)."""
    try:
        doc = xmltodict.parse(
            body, disable_entities=True, force_list=("Contents", "CommonPrefixes")
        )["ListBucketResult"]
    except Exception as exc:
        raise BadGateway(f"unparseable listing from backend: {exc}") from exc
    encoded = xml_text(doc.get("EncodingType")) == "url"

    def decode(value: object) -> str:
        text = xml_text(value)
        return unquote_plus(text) if encoded else text

    page = ListPage()
    for item in doc.get("Contents") or ():
        page.entries.append(
            ListEntry(
                key=decode(item.get("Key")),
                size=int(item.get("Size") or 0),
                last_modified=parse_timestamp(xml_text(item.get("LastModified"))) or _EPOCH,
                etag=xml_text(item.get("ETag")) or '""',
                storage_class=xml_text(item.get("StorageClass")) or "STANDARD",
            )
        )
    for prefix in doc.get("CommonPrefixes") or ():
        page.common_prefixes.append(decode(prefix.get("Prefix")))
    if xml_text(doc.get("IsTruncated")).lower() == "true":
        page.next_continuation_token = xml_text(doc.get("NextContinuationToken")) or None
    return page


__all__ = ["S3Backend", "S3Error", "parse_list_page"]
