"""S3 errors: one small class per S3 error code, rendered to XML in exactly one place.

Every error carries the S3 ``code``, its HTTP ``status`` and a message. Messages of 4xx
errors are meant for the caller and shown verbatim; messages of 5xx errors may contain
internals (backend URLs, bucket names) and are only logged — the caller sees a generic text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import ClassVar
from urllib.parse import quote
from xml.sax.saxutils import escape

# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class S3Error(Exception):
    """Base of every error the gateway turns into an S3 error response."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "We encountered an internal error. Please try again."
    log_level: ClassVar[int | None] = None
    """How loudly the gateway logs this error; ``None``: INFO for 4xx, ERROR for 5xx.

    ERROR is kept for the gateway's own faults. A refused request, an unsupported feature
    (501) or a backend that is down is the caller's or the backend's story, not a page.
    """

    def __init__(self, message: str | None = None, *, resource: str | None = None) -> None:
        self.message = message or self.default_message
        self.resource = resource
        super().__init__(self.message)

    @property
    def public_message(self) -> str:
        """The message the caller may see: 5xx details stay in the logs."""
        if self.status >= 500:
            return self.default_message
        return self.message

    def headers(self) -> dict[str, str]:
        """Extra response headers this error needs (e.g. ``Allow`` for 405)."""
        return {}

    def details(self) -> tuple[tuple[str, str], ...]:
        """Extra ``<Error>`` elements S3 adds for this error (e.g. ``HeadersNotSigned``)."""
        return ()

    @property
    def level(self) -> int:
        if self.log_level is not None:
            return self.log_level
        return logging.ERROR if self.status >= 500 else logging.INFO


class InvalidRequest(S3Error):
    code, status, default_message = "InvalidRequest", 400, "Invalid request"


class InvalidArgument(S3Error):
    code, status, default_message = "InvalidArgument", 400, "Invalid argument"


class InvalidURI(S3Error):
    code, status, default_message = "InvalidURI", 400, "Couldn't parse the specified URI."


class AccessControlListNotSupported(S3Error):
    # What S3 answers for buckets with ACLs disabled (object ownership "bucket owner
    # enforced"), which is how every gateway bucket behaves.
    code, status, default_message = (
        "AccessControlListNotSupported",
        400,
        "The bucket does not allow ACLs",
    )


class AuthorizationHeaderMalformed(S3Error):
    code, status = "AuthorizationHeaderMalformed", 400
    default_message = "The authorization header is malformed."


class AuthorizationQueryParametersError(S3Error):
    code, status = "AuthorizationQueryParametersError", 400
    default_message = "Query-string authentication parameters are malformed."


class MalformedXML(S3Error):
    code, status = "MalformedXML", 400
    default_message = "The XML you provided was not well-formed or did not validate."


class EntityTooLarge(S3Error):
    code, status = "EntityTooLarge", 400
    default_message = "Your proposed upload exceeds the maximum allowed object size."


class IncompleteBody(S3Error):
    code, status = "IncompleteBody", 400
    default_message = "You did not provide the number of bytes specified by the Content-Length."


class XAmzContentSHA256Mismatch(S3Error):
    code, status = "XAmzContentSHA256Mismatch", 400
    default_message = "The provided 'x-amz-content-sha256' header does not match what was computed."


class BadDigest(S3Error):
    code, status = "BadDigest", 400
    default_message = "The Content-MD5 or checksum you specified did not match what was received."


class MalformedTrailerError(S3Error):
    code, status = "MalformedTrailerError", 400
    default_message = (
        "The request contained trailing data that was not well-formed or did not conform to our "
        "published schema."
    )


class InvalidDigest(S3Error):
    code, status = "InvalidDigest", 400
    default_message = "The Content-MD5 you specified is not valid."


class RequestTimeout(S3Error):
    code, status = "RequestTimeout", 400
    default_message = (
        "Your socket connection to the server was not read from or written to within the "
        "timeout period."
    )


class ClientDisconnected(S3Error):
    """The client went away before the request was complete: there is nobody to answer.

    Runtimes raise it from their body readers; the status is nginx's 499 ("client closed
    request"), which only ever appears in logs and metrics.
    """

    code, status = "ClientDisconnected", 499
    default_message = "The client closed the connection before the request was complete."


class MissingContentLength(S3Error):
    code, status = "MissingContentLength", 411
    default_message = "You must provide the Content-Length HTTP header."


class AccessDenied(S3Error):
    code, status, default_message = "AccessDenied", 403, "Access Denied"


class InvalidAccessKeyId(S3Error):
    code, status = "InvalidAccessKeyId", 403
    default_message = "The AWS Access Key Id you provided does not exist in our records."


class SignatureDoesNotMatch(S3Error):
    code, status = "SignatureDoesNotMatch", 403
    default_message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


class RequestTimeTooSkewed(S3Error):
    code, status = "RequestTimeTooSkewed", 403
    default_message = "The difference between the request time and the current time is too large."


class ExpiredToken(S3Error):
    code, status, default_message = "ExpiredToken", 403, "The provided token has expired."


class NoSuchBucket(S3Error):
    code, status, default_message = "NoSuchBucket", 404, "The specified bucket does not exist"


class NoSuchKey(S3Error):
    code, status, default_message = "NoSuchKey", 404, "The specified key does not exist."


class NoSuchUpload(S3Error):
    code, status, default_message = "NoSuchUpload", 404, "The specified upload does not exist."


class InvalidPart(S3Error):
    code, status = "InvalidPart", 400
    default_message = (
        "One or more of the specified parts could not be found. The part might not have been "
        "uploaded, or the specified entity tag might not have matched the part's entity tag."
    )


class InvalidPartOrder(S3Error):
    code, status = "InvalidPartOrder", 400
    default_message = (
        "The list of parts was not in ascending order. Parts must be ordered by part number."
    )


class EntityTooSmall(S3Error):
    code, status = "EntityTooSmall", 400
    default_message = "Your proposed upload is smaller than the minimum allowed object size."


class MethodNotAllowed(S3Error):
    code, status = "MethodNotAllowed", 405
    default_message = "The specified method is not allowed against this resource."

    def __init__(
        self, message: str | None = None, *, allowed: str = "", resource: str | None = None
    ):
        super().__init__(message, resource=resource)
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allowed} if self.allowed else {}


class PreconditionFailed(S3Error):
    code, status = "PreconditionFailed", 412
    default_message = "At least one of the pre-conditions you specified did not hold"


class InvalidRange(S3Error):
    code, status = "InvalidRange", 416
    default_message = "The requested range is not satisfiable"


class InvalidPartNumber(S3Error):
    code, status = "InvalidPartNumber", 416
    default_message = "The requested partnumber is not satisfiable"


class KeyTooLongError(S3Error):
    code, status = "KeyTooLongError", 400
    default_message = "Your key is too long"


class NotModified(S3Error):
    """304; ``headers`` are what RFC 9110 §15.4.5 has a 304 repeat (ETag, Last-Modified, …)."""

    code, status, default_message = "NotModified", 304, "Not Modified"

    def __init__(
        self,
        message: str | None = None,
        *,
        resource: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, resource=resource)
        self._headers = dict(headers or {})

    def headers(self) -> dict[str, str]:
        return dict(self._headers)


class InternalError(S3Error):
    """Any failure inside the gateway; details are logged, never returned."""


class NotImplementedOperation(S3Error):
    code, status = "NotImplemented", 501
    # Clients probe for features (rclone asks for ?versioning on every run): not a fault.
    log_level = logging.INFO
    default_message = (
        "A header or query you provided implies functionality that is not implemented."
    )

    @property
    def public_message(self) -> str:
        # 501 names what is unsupported; it never carries internals.
        return self.message


class BadGateway(S3Error):
    code, status = "BadGateway", 502
    log_level = logging.WARNING  # the backend's fault, not the gateway's
    default_message = "The gateway received an invalid response from its storage backend."


class BackendAuthenticationFailed(S3Error):
    code, status = "BackendAuthenticationFailed", 502
    log_level = logging.WARNING
    default_message = "The gateway could not authenticate to its storage backend."


class ServiceUnavailable(S3Error):
    code, status = "ServiceUnavailable", 503
    log_level = logging.WARNING  # a backend that cannot be reached
    default_message = "Service unavailable. Please try again."


class SlowDown(S3Error):
    code, status, default_message = "SlowDown", 503, "Please reduce your request rate."
    log_level = logging.INFO  # a quota doing its job

    @property
    def public_message(self) -> str:
        return self.message


def render_error_xml(
    error: S3Error, *, request_id: str, resource: str, show_internal: bool = False
) -> bytes:
    """Render ``error`` as the S3 ``<Error>`` document.

    ``show_internal`` reveals 5xx details; it exists for local debugging only.
    """
    message = error.message if show_internal else error.public_message
    details = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in error.details())
    shown_resource = error.resource if error.resource is not None else resource
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{error.code}</Code>"
        f"<Message>{escape(message)}</Message>{details}"
        f"<Resource>{_resource_text(shown_resource)}</Resource>"
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()


def _resource_text(resource: str) -> str:
    # Keys may hold control characters (S3 accepts them); written raw they would make the
    # whole error unparseable for the client, so such a path goes out percent-encoded.
    if _NOT_XML.search(resource):
        resource = _NOT_XML.sub(lambda m: quote(m.group(), safe=""), resource)
    return escape(resource).replace("\r", "&#13;")


_BACKEND_ERROR_CLASSES: dict[tuple[str, int], type[S3Error]] = {}


def backend_client_error(code: str, status: int, message: str) -> S3Error:
    """An S3 4xx error reported by a backend, passed on with its own code and status."""
    cls = _BACKEND_ERROR_CLASSES.get((code, status))
    if cls is None:
        cls = type(code, (S3Error,), {"code": code, "status": status, "default_message": message})
        _BACKEND_ERROR_CLASSES[(code, status)] = cls
    return cls(message)
