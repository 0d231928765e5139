"""Azure error answers → the S3 errors a client understands.

Azure names its error in the ``x-ms-error-code`` header (also on HEAD, which has no body).
The client never sees Azure's message: it names the account and container. Rejected
credentials and store failures become 502/503 with the details in the log only.
"""

from __future__ import annotations

import logging

from multistore.core.errors import (
    BackendAuthenticationFailed,
    BadDigest,
    BadGateway,
    EntityTooLarge,
    InvalidArgument,
    InvalidPart,
    InvalidRange,
    NoSuchKey,
    PreconditionFailed,
    S3Error,
    ServiceUnavailable,
    SlowDown,
)

logger = logging.getLogger("multistore.azure")

_PRECONDITION_CODES = frozenset(
    {"ConditionNotMet", "TargetConditionNotMet", "SourceConditionNotMet", "BlobAlreadyExists"}
)


def s3_error(status: int, code: str, *, resource: str, has_key: bool) -> S3Error:
    """The S3 error for an Azure error answer ``status``/``code``."""
    error: S3Error
    if status == 404 and code in ("BlobNotFound", "") and has_key:
        error = NoSuchKey()
    elif status == 412 or code in _PRECONDITION_CODES:
        error = PreconditionFailed()
    elif status == 416 or code == "InvalidRange":
        error = InvalidRange()
    elif code in ("InvalidBlockList", "InvalidBlobOrBlock"):
        error = InvalidPart("One or more of the specified parts could not be found.")
    elif code == "Md5Mismatch":
        error = BadDigest()
    elif status == 413 or code == "RequestBodyTooLarge":
        error = EntityTooLarge()
    elif code in ("InvalidMetadata", "InvalidHeaderValue", "MetadataTooLarge"):
        error = InvalidArgument("The store refused a header or metadata value of this request.")
    elif status in (401, 403):
        error = BackendAuthenticationFailed(f"azure refused the gateway's credentials: {code}")
    elif code in ("ServerBusy", "OperationTimedOut") or status == 503:
        error = SlowDown(f"azure is busy: {code}")
    elif status >= 500:
        error = ServiceUnavailable(f"azure error {status}: {code}")
    else:
        error = BadGateway(f"unexpected azure answer {status}: {code}")
    error.resource = resource
    return error


def log_level(status: int) -> int:
    """Missing keys, failed preconditions and bad ranges are the client's outcome."""
    return logging.DEBUG if status in (304, 404, 409, 412, 416) else logging.WARNING
