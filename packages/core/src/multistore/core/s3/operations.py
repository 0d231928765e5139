"""Classify an incoming request into the S3 operation it asks for (SPEC §2)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import unquote

from multidict import MultiDict

from multistore.core.config import Action
from multistore.core.errors import InvalidArgument, InvalidRequest, NotImplementedOperation
from multistore.core.http import RequestInfo
from multistore.core.s3.keys import validate_key


class Op(enum.Enum):
    LIST_BUCKETS = "ListBuckets"
    HEAD_BUCKET = "HeadBucket"
    GET_BUCKET_LOCATION = "GetBucketLocation"
    CREATE_BUCKET = "CreateBucket"
    LIST_OBJECTS = "ListObjects"
    LIST_OBJECTS_V2 = "ListObjectsV2"
    GET_OBJECT = "GetObject"
    HEAD_OBJECT = "HeadObject"
    PUT_OBJECT = "PutObject"
    COPY_OBJECT = "CopyObject"
    DELETE_OBJECT = "DeleteObject"
    DELETE_OBJECTS = "DeleteObjects"
    CREATE_MULTIPART_UPLOAD = "CreateMultipartUpload"
    UPLOAD_PART = "UploadPart"
    UPLOAD_PART_COPY = "UploadPartCopy"
    COMPLETE_MULTIPART_UPLOAD = "CompleteMultipartUpload"
    ABORT_MULTIPART_UPLOAD = "AbortMultipartUpload"
    LIST_PARTS = "ListParts"
    LIST_MULTIPART_UPLOADS = "ListMultipartUploads"

    # Members are singletons compared by identity, so identity hashing is consistent with
    # equality; Enum's own __hash__ is a Python-level call on every dict and set lookup, and
    # each request makes several (dispatch table, action table, operation sets).
    __hash__ = object.__hash__


# S3 sub-resources the gateway does not implement. A request naming one of them must get
# 501 and must never fall through to a plain object operation (upstream overwrote objects
# on ``PUT ?tagging``).
UNSUPPORTED_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "attributes", "cors", "encryption",
        "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "logging", "metadataTable",
        "metrics", "notification", "object-lock", "ownershipControls", "policy", "policyStatus",
        "publicAccessBlock", "renameObject", "replication", "requestPayment", "restore",
        "retention", "select", "select-type", "session", "tagging", "torrent", "versioning",
        "versions", "website",
    }
)  # fmt: skip

_ACTIONS: dict[Op, Action] = {
    Op.LIST_BUCKETS: Action.LIST_BUCKET,
    Op.HEAD_BUCKET: Action.LIST_BUCKET,
    Op.GET_BUCKET_LOCATION: Action.LIST_BUCKET,
    Op.CREATE_BUCKET: Action.PUT_OBJECT,
    Op.LIST_OBJECTS: Action.LIST_BUCKET,
    Op.LIST_OBJECTS_V2: Action.LIST_BUCKET,
    Op.GET_OBJECT: Action.GET_OBJECT,
    Op.HEAD_OBJECT: Action.HEAD_OBJECT,
    Op.PUT_OBJECT: Action.PUT_OBJECT,
    Op.COPY_OBJECT: Action.PUT_OBJECT,
    Op.DELETE_OBJECT: Action.DELETE_OBJECT,
    Op.DELETE_OBJECTS: Action.DELETE_OBJECT,
    Op.CREATE_MULTIPART_UPLOAD: Action.CREATE_MULTIPART_UPLOAD,
    Op.UPLOAD_PART: Action.UPLOAD_PART,
    Op.UPLOAD_PART_COPY: Action.UPLOAD_PART,
    Op.COMPLETE_MULTIPART_UPLOAD: Action.COMPLETE_MULTIPART_UPLOAD,
    Op.ABORT_MULTIPART_UPLOAD: Action.ABORT_MULTIPART_UPLOAD,
    Op.LIST_PARTS: Action.UPLOAD_PART,
    Op.LIST_MULTIPART_UPLOADS: Action.LIST_BUCKET,
}

_BUCKET_LEVEL = frozenset(
    {
        Op.LIST_BUCKETS, Op.HEAD_BUCKET, Op.GET_BUCKET_LOCATION, Op.CREATE_BUCKET,
        Op.LIST_OBJECTS, Op.LIST_OBJECTS_V2, Op.DELETE_OBJECTS, Op.LIST_MULTIPART_UPLOADS,
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None = None


# Built for every request: not frozen (a frozen dataclass sets each field through
# object.__setattr__, about three times as slow), but still hashable by value.
@dataclass(slots=True, unsafe_hash=True)
class S3Request:
    """The S3 operation a request asks for, with everything needed to authorize it."""

    op: Op
    bucket: str = ""
    key: str = ""
    upload_id: str | None = None
    part_number: int | None = None
    version_id: str | None = None
    copy_source: CopySource | None = None
    virtual_hosted: bool = False  # the bucket came from the Host header

    @property
    def action(self) -> Action:
        if self.op is Op.GET_OBJECT and self.version_id:
            return Action.GET_OBJECT_VERSION
        return _ACTIONS[self.op]

    @property
    def is_object_operation(self) -> bool:
        return self.op not in _BUCKET_LEVEL


_PLAIN_OBJECT_OPS = {"GET": Op.GET_OBJECT, "HEAD": Op.HEAD_OBJECT, "DELETE": Op.DELETE_OBJECT}
"""What a method means on a key when the request has no query at all."""


def split_bucket_and_key(
    request: RequestInfo, virtual_host_domain: str | None
) -> tuple[str, str, bool]:
    """Bucket, key and whether the bucket came from a virtual-hosted ``Host`` (SPEC §2)."""
    path = request.path
    if virtual_host_domain:
        # Host names are case-insensitive (RFC 9110 §4.2.3), and bucket names are lower case.
        host = request.header("host").split(":", 1)[0].lower()
        suffix = "." + virtual_host_domain.lower()
        if host.endswith(suffix):
            # Exactly one "/" separates host and key: a key may itself start with "/".
            return host[: -len(suffix)], path.removeprefix("/"), True
    trimmed = path.lstrip("/")
    bucket, _, key = trimmed.partition("/")
    return bucket, key, False


def parse_copy_source(value: str) -> CopySource:
    """``[/]bucket/url-encoded-key[?versionId=V]`` as sent in ``x-amz-copy-source``."""
    source, _, version = value.partition("?versionId=")
    source = source.removeprefix("/")
    bucket, slash, encoded_key = source.partition("/")
    if not slash:
        raise InvalidArgument("x-amz-copy-source must be of the form bucket/key")
    if not bucket:
        raise InvalidArgument("x-amz-copy-source names an empty bucket")
    try:
        key = unquote(encoded_key, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("x-amz-copy-source key is not valid UTF-8") from exc
    if not key:
        raise InvalidArgument("x-amz-copy-source names an empty key")
    validate_key(key)
    return CopySource(bucket, key, version or None)


def _part_number(query: MultiDict[str]) -> int:
    raw = query.get("partNumber", "")
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise InvalidArgument("partNumber must be an integer between 1 and 10000")
    return int(raw)


def parse_s3_request(request: RequestInfo, *, virtual_host_domain: str | None = None) -> S3Request:
    """Classify ``request``; unknown sub-resources and methods are 501, never a guess."""
    method = request.method
    bucket, key, virtual_hosted = split_bucket_and_key(request, virtual_host_domain)
    if key and not request.raw_query and method in _PLAIN_OBJECT_OPS:
        # Most requests: an object read or delete without a query (a PUT may be a copy).
        validate_key(key)
        return S3Request(_PLAIN_OBJECT_OPS[method], bucket, key, virtual_hosted=virtual_hosted)
    query = request.query

    unsupported = UNSUPPORTED_SUBRESOURCES.intersection(query.keys()) if query else None
    if unsupported:
        raise NotImplementedOperation(
            f"the ?{sorted(unsupported)[0]} sub-resource is not supported by this gateway"
        )

    if not bucket:
        if method == "GET":
            return S3Request(Op.LIST_BUCKETS)
        raise NotImplementedOperation(f"{method} / is not a supported operation")

    op = _classify(method, key, query, request)
    if op in _BUCKET_LEVEL:
        return S3Request(op, bucket, key="", virtual_hosted=virtual_hosted)

    validate_key(key)
    upload_id = query.get("uploadId")
    copy_source = None
    if op in (Op.COPY_OBJECT, Op.UPLOAD_PART_COPY):
        copy_source = parse_copy_source(request.header("x-amz-copy-source"))
    return S3Request(
        op,
        bucket,
        key,
        upload_id=upload_id,
        part_number=_part_number(query) if op in (Op.UPLOAD_PART, Op.UPLOAD_PART_COPY) else None,
        version_id=query.get("versionId") or None,
        copy_source=copy_source,
        virtual_hosted=virtual_hosted,
    )


def _classify(method: str, key: str, query: MultiDict[str], request: RequestInfo) -> Op:
    has_key = bool(key)
    if method == "GET":
        if not has_key:
            if "location" in query:
                return Op.GET_BUCKET_LOCATION
            if "uploads" in query:
                return Op.LIST_MULTIPART_UPLOADS
            return Op.LIST_OBJECTS_V2 if query.get("list-type") == "2" else Op.LIST_OBJECTS
        return Op.LIST_PARTS if "uploadId" in query else Op.GET_OBJECT
    if method == "HEAD":
        return Op.HEAD_OBJECT if has_key else Op.HEAD_BUCKET
    if method == "PUT":
        if not has_key:
            return Op.CREATE_BUCKET
        copying = "x-amz-copy-source" in request.headers
        if "uploadId" in query or "partNumber" in query:
            if "uploadId" not in query:
                raise InvalidRequest("partNumber requires uploadId")
            return Op.UPLOAD_PART_COPY if copying else Op.UPLOAD_PART
        return Op.COPY_OBJECT if copying else Op.PUT_OBJECT
    if method == "POST":
        if not has_key:
            if "delete" in query:
                return Op.DELETE_OBJECTS
            raise NotImplementedOperation("this POST operation on a bucket is not supported")
        if "uploads" in query:
            return Op.CREATE_MULTIPART_UPLOAD
        if "uploadId" in query:
            return Op.COMPLETE_MULTIPART_UPLOAD
        raise NotImplementedOperation("this POST operation on an object is not supported")
    if method == "DELETE":
        if not has_key:
            raise NotImplementedOperation("DeleteBucket is not supported by this gateway")
        return Op.ABORT_MULTIPART_UPLOAD if "uploadId" in query else Op.DELETE_OBJECT
    raise NotImplementedOperation(f"method {method} is not supported")
