"""Lambda's buffered payload limits, and the S3-style errors for bodies that do not fit.

Lambda carries a request in the invoke payload and the answer in the response payload, both
JSON. Bodies travel base64-encoded (4 bytes for every 3), next to the headers.

| shape | JSON limit (request and response) | largest body |
|---|---|---|
| Function URL, HTTP API, REST API | 6 MiB (6,291,456 bytes, synchronous invoke) | 4,694,016 bytes |
| ALB target group | 1 MiB (1,048,576 bytes) | 761,856 bytes |

The largest body keeps ``ENVELOPE_RESERVE`` for headers and JSON, then allows what base64
fits in the rest. Responses are checked exactly: the serialized response must fit its limit.
"""

from __future__ import annotations

import json
from typing import Any

from multistore.aws_lambda.events import Shape
from multistore.core.errors import EntityTooLarge, S3Error

MiB = 1 << 20
JSON_LIMIT = {Shape.FUNCTION_URL: 6 * MiB, Shape.REST_API: 6 * MiB, Shape.ALB: 1 * MiB}
ENVELOPE_RESERVE = 32 << 10
"""Room for the status, headers and JSON around the base64 body."""


def body_limit(shape: Shape) -> int:
    """The largest body, in bytes before base64, that fits one payload of ``shape``."""
    return (JSON_LIMIT[shape] - ENVELOPE_RESERVE) // 4 * 3


def fits(shape: Shape, answer: dict[str, Any]) -> bool:
    return len(json.dumps(answer, separators=(",", ":"))) <= JSON_LIMIT[shape]


class UploadTooLarge(EntityTooLarge):
    """A request body Lambda cannot carry: 413, answered before any backend write."""

    status = 413


class ResponseTooLarge(S3Error):
    """A response body Lambda cannot carry; the message says how to get it instead."""

    code, status = "ResponseTooLarge", 413
    default_message = "The response exceeds the size a Lambda response can carry."


def too_large_upload(shape: Shape, size: int) -> str:
    limit = body_limit(shape)
    return (
        f"Your proposed upload of {size} bytes exceeds the {limit} bytes a Lambda "
        f"{shape.value} request can carry. Use multipart uploads with parts of at most "
        f"{limit} bytes, or the streaming deployment (multistore-server behind the Lambda "
        "Web Adapter)."
    )


def too_large_response(shape: Shape, size: int | None) -> str:
    limit = body_limit(shape)
    what = f"{size} bytes" if size is not None else f"over {limit} bytes"
    return (
        f"The response body ({what}) exceeds the {limit} bytes a Lambda {shape.value} "
        f"response can carry. Request the object in ranges of at most {limit} bytes "
        f"(Range: bytes=0-{limit - 1}, then the next range), or use the streaming deployment "
        "(multistore-server behind the Lambda Web Adapter with RESPONSE_STREAM)."
    )
