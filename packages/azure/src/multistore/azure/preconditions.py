"""The client's conditional headers as Azure's own preconditions, and the reserved keys."""

from __future__ import annotations

from multistore.azure.listing import RESERVED_PREFIX
from multistore.azure.properties import azure_etag_list
from multistore.core.errors import InvalidArgument, NotImplementedOperation
from multistore.core.http import Headers


def read_conditions(headers: Headers) -> dict[str, str]:
    """The client's read preconditions as Azure headers, with S3's precedence: If-Match
    overrides If-Unmodified-Since and If-None-Match overrides If-Modified-Since (RFC 9110)."""
    out: dict[str, str] = {}
    if_match = ", ".join(headers.getall("if-match", []))
    if_none_match = ", ".join(headers.getall("if-none-match", []))
    if if_match:
        out["if-match"] = azure_etag_list(if_match)
    elif "if-unmodified-since" in headers:
        out["if-unmodified-since"] = headers["if-unmodified-since"]
    if if_none_match:
        out["if-none-match"] = azure_etag_list(if_none_match)
    elif "if-modified-since" in headers:
        out["if-modified-since"] = headers["if-modified-since"]
    return out


def write_conditions(headers: Headers) -> dict[str, str]:
    """``If-None-Match: *`` and ``If-Match`` of a write, as Azure's own preconditions, so the
    store decides them atomically with the write."""
    out: dict[str, str] = {}
    if_none_match = ", ".join(headers.getall("if-none-match", []))
    if if_none_match:
        if if_none_match.strip() != "*":
            raise NotImplementedOperation("If-None-Match on a write only supports '*'")
        out["if-none-match"] = "*"
    if_match = ", ".join(headers.getall("if-match", []))
    if if_match:
        out["if-match"] = azure_etag_list(if_match)
    return out


def refuse_reserved(key: str) -> None:
    """Keys under the upload-state prefix belong to the backend (uploads.py)."""
    if key.startswith(RESERVED_PREFIX):
        raise InvalidArgument(
            f"Keys under {RESERVED_PREFIX} are reserved by the azure backend for upload state"
        )
