"""SigV2 presigned URLs: the HMAC-SHA1 query form boto3 and aws-cli produce by default.

Only query authentication is accepted in this form; a SigV2 ``Authorization`` header is
refused when it is parsed (:mod:`.sigv4`).
"""

from __future__ import annotations

import base64
import hmac
import logging
from urllib.parse import unquote

from multistore.core.auth.canonical import logger, wire_bytes
from multistore.core.errors import AccessDenied, SignatureDoesNotMatch
from multistore.core.http import RequestInfo

# Sub-resources that belong in a SigV2 CanonicalizedResource; the same list botocore's
# HmacV1Auth signs, so URLs it presigns verify here.
V2_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "defaultObjectAcl", "delete", "inventory",
        "lifecycle", "location", "logging", "metrics", "notification", "object-lock",
        "partNumber", "policy", "replication", "requestPayment", "response-cache-control",
        "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore",
        "select", "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads",
        "versionId", "versioning", "versions", "website",
    }
)  # fmt: skip


def verify_v2_query(
    signature: str,
    expires: int | None,
    request: RequestInfo,
    secret_access_key: str,
    *,
    now: float,
    bucket: str | None,
) -> None:
    """Check a SigV2 presigned URL (``AWSAccessKeyId``/``Signature``/``Expires``).

    ``bucket`` is the bucket taken from a virtual-hosted ``Host``: SigV2's canonical
    resource names it even then.
    """
    if expires is None or now > expires:
        raise AccessDenied("Request has expired")
    text = _v2_string_to_sign(request, bucket=bucket)
    digest = hmac.digest(wire_bytes(secret_access_key), wire_bytes(text), "sha1")
    expected = base64.b64encode(digest)
    if not hmac.compare_digest(expected, wire_bytes(signature)):
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("SigV2 signature mismatch\nStringToSign:\n%s", text)
        raise SignatureDoesNotMatch()


def _v2_string_to_sign(request: RequestInfo, *, bucket: str | None) -> str:
    query = request.query
    headers = request.headers
    # botocore moves Content-MD5/Content-Type and x-amz-* headers it signed into the query;
    # the client may or may not send them again as headers, and a header wins if it does.
    content_md5 = headers.get("Content-MD5", query.get("content-md5", "")).strip()
    content_type = headers.get("Content-Type", query.get("content-type", "")).strip()
    amz_headers: dict[str, list[str]] = {}
    for name, value in query.items():
        lowered = name.lower()
        if lowered.startswith("x-amz-"):
            amz_headers.setdefault(lowered, []).append(value.strip())
    from_headers: dict[str, list[str]] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered.startswith("x-amz-"):
            from_headers.setdefault(lowered, []).append(value.strip())
    amz_headers.update(from_headers)
    amz_lines = "".join(f"{name}:{','.join(amz_headers[name])}\n" for name in sorted(amz_headers))
    return (
        f"{request.method}\n{content_md5}\n{content_type}\n{query['Expires']}\n"
        f"{amz_lines}{_v2_canonical_resource(request, bucket=bucket)}"
    )


def _v2_canonical_resource(request: RequestInfo, *, bucket: str | None) -> str:
    path = request.raw_path or "/"
    resource = f"/{bucket}{path}" if bucket else path
    subresources: list[tuple[str, str]] = []
    for piece in request.raw_query.split("&"):
        name, sep, value = piece.partition("=")
        if name in V2_SUBRESOURCES:
            subresources.append((name, f"{name}={unquote(value)}" if sep else name))
    if not subresources:
        return resource
    subresources.sort(key=lambda item: item[0])
    return f"{resource}?{'&'.join(text for _, text in subresources)}"
