"""ListObjects V1/V2 of an account: its products as folders, or their keys merged in order.

With ``delimiter=/`` (``aws s3 ls s3://acme/``) every product the caller may see is one
common prefix, and no backend is asked anything. Without a delimiter (``--recursive``,
``sync``, ``rm --recursive``) the products are listed one after the other through ordinary
sub-requests (each authorized on its own bucket), so keys come out in S3's order across
products and pages continue seamlessly from one product into the next.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from multidict import CIMultiDict

from multistore.core.backends.base import ListEntry, ListPage
from multistore.core.errors import AccessDenied, InvalidArgument, NoSuchBucket
from multistore.core.http import EmptyBody, GatewayResponse, Response
from multistore.core.mapping import SubRequests
from multistore.core.middleware import DispatchContext
from multistore.core.registry import BucketOwner
from multistore.core.s3.listing import ListQuery, parse_list_query, render_list_result
from multistore.core.s3.operations import Op
from multistore.core.s3.xml import parse_timestamp, parse_xml_body, xml_text
from multistore.path_mapping.products import Product, sub_request

# Marks our own continuation tokens, which carry the last client key of the previous page.
_TOKEN_TAG = "pm1."


def encode_token(last_key: str) -> str:
    # Unpadded URL-safe base64: nothing in it needs escaping in a query string.
    return _TOKEN_TAG + base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_token(token: str) -> str:
    if not token.startswith(_TOKEN_TAG):
        raise InvalidArgument("The continuation token provided is incorrect")
    try:
        data = token[len(_TOKEN_TAG) :]
        padded = (data + "=" * (-len(data) % 4)).encode()
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidArgument("The continuation token provided is incorrect") from exc


def resume_position(query: ListQuery) -> str | None:
    """Where the client asked to resume, as a client key (S3: the token beats start-after)."""
    if query.version == 1:
        return query.marker or None
    if query.continuation_token is not None:
        return decode_token(query.continuation_token)
    return query.start_after or None


class _Page:
    def __init__(self, max_keys: int) -> None:
        self.entries: list[ListEntry] = []
        self.common_prefixes: list[str] = []
        self.room = max_keys
        self.last = ""

    def add_prefix(self, prefix: str) -> None:
        if self.common_prefixes and self.common_prefixes[-1] == prefix:
            return  # several products can share one prefix (delimiter "-")
        self.common_prefixes.append(prefix)
        self.room -= 1
        self.last = max(self.last, prefix)

    def add_entry(self, entry: ListEntry) -> None:
        self.entries.append(entry)
        self.room -= 1
        self.last = max(self.last, entry.key)


async def list_account(
    ctx: DispatchContext,
    sub_requests: SubRequests,
    products: list[Product],
    *,
    name: str,
    owner: BucketOwner,
) -> GatewayResponse:
    version: Any = 2 if ctx.operation.op is Op.LIST_OBJECTS_V2 else 1
    query = parse_list_query(ctx.request.query, version=version)
    prefix, delimiter = query.prefix, query.delimiter
    position = resume_position(query)
    page = _Page(query.max_keys)
    truncated = False
    candidates = [p for p in products if p.root.startswith(prefix)]
    for index, product in enumerate(candidates):
        if page.room <= 0:
            truncated = True
            break
        rest = product.root[len(prefix) :]
        if delimiter and delimiter in rest:
            common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if position is None or common > position:
                page.add_prefix(common)
            continue
        if (
            position is not None
            and not position.startswith(product.root)
            and position > product.root
        ):
            continue  # every key of this product sorts before the resume position
        more = await _list_product(ctx, sub_requests, product, query, position, page)
        if more:
            truncated = True
            break
        if page.room <= 0 and index + 1 < len(candidates):
            truncated = True
            break
    token = encode_token(page.last) if truncated and page.last else None
    result = ListPage(page.entries, page.common_prefixes, token)
    body = render_list_result(
        query, result, bucket_name=name, backend_prefix="", rewrite=None, owner=owner
    )
    return Response(200, CIMultiDict({"Content-Type": "application/xml"}), body)


async def _list_product(
    ctx: DispatchContext,
    sub_requests: SubRequests,
    product: Product,
    query: ListQuery,
    position: str | None,
    page: _Page,
) -> bool:
    """Add one page of ``product`` (client keys); ``True`` when it has more to list."""
    params = [("list-type", "2"), ("encoding-type", "url"), ("max-keys", str(page.room))]
    if query.delimiter:
        params.append(("delimiter", query.delimiter))
    if position is not None and position.startswith(product.root):
        # The product's listing shows client keys (``climate/...``) and takes them back.
        params.append(("start-after", position))
    request = sub_request(ctx, "GET", product.bucket, params)
    try:
        response = await sub_requests.dispatch_as(ctx.identity, request, EmptyBody())
    except (AccessDenied, NoSuchBucket):
        # A product the caller may see but not list as a whole (a prefix-scoped key), or one
        # removed by a reload since the account was read: it contributes nothing.
        return False
    assert isinstance(response, Response), "listings are complete responses"
    listed = parse_xml_body(response.body, force_list=("Contents", "CommonPrefixes"))
    root = listed.get("ListBucketResult") or {}
    items: list[tuple[str, ListEntry | None]] = []
    for content in root.get("Contents") or []:
        key = unquote(xml_text(content.get("Key")))
        entry: ListEntry | None = ListEntry(
            key=key,
            size=int(xml_text(content.get("Size")) or 0),
            last_modified=_timestamp(xml_text(content.get("LastModified"))),
            etag=xml_text(content.get("ETag")),
            storage_class=xml_text(content.get("StorageClass")) or "STANDARD",
        )
        items.append((key, entry))
    for common in root.get("CommonPrefixes") or []:
        items.append((unquote(xml_text(common.get("Prefix"))), None))
    items.sort(key=lambda item: item[0])
    for key, listed_entry in items:
        if listed_entry is None:
            page.add_prefix(key)
        else:
            page.add_entry(listed_entry)
    return xml_text(root.get("IsTruncated")).lower() == "true"


def _timestamp(text: str) -> datetime:
    parsed = parse_timestamp(text)
    if parsed is None:
        raise ValueError(f"a product listing had an unreadable LastModified: {text!r}")
    return parsed


__all__ = ["decode_token", "encode_token", "list_account", "resume_position"]
