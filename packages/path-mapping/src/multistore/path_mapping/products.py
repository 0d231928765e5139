"""The products of an account: which configured buckets sit under a partial address.

An *account* is an address naming fewer segments than a bucket (``/acme``); its *products*
are the mapped buckets whose leading segments are the account's (``acme--climate``,
``acme--weather``). Clients see each product as a folder ``climate/`` of the account.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

from multidict import CIMultiDict

from multistore.core.auth.authorize import can_use_bucket
from multistore.core.auth.identity import Identity
from multistore.core.config import BucketConfig
from multistore.core.errors import AccessDenied, NoSuchBucket, S3Error
from multistore.core.http import RequestInfo
from multistore.core.middleware import DispatchContext
from multistore.core.registry import BucketRegistry
from multistore.path_mapping.mapping import PathMapping


@dataclass(frozen=True, slots=True)
class Product:
    bucket: str
    """The internal bucket name (``acme--climate``)."""
    root: str
    """The folder clients see it as, relative to the account (``climate/``)."""
    config: BucketConfig


@dataclass(frozen=True, slots=True)
class Account:
    segments: tuple[str, ...]
    products: tuple[Product, ...]
    """Every product of the account, sorted by ``root`` (S3's key order)."""

    @property
    def name(self) -> str:
        return "/".join(self.segments)

    def visible_to(self, identity: Identity) -> list[Product]:
        return [p for p in self.products if can_use_bucket(identity, p.config)]


async def find_account(
    registry: BucketRegistry, mapping: PathMapping, segments: tuple[str, ...]
) -> Account:
    depth = len(segments)
    products = []
    for entry in await registry.list_buckets():
        mapped = mapping.parse_bucket_name(entry.name)
        if mapped is None:
            continue
        parts = entry.name.split(mapping.bucket_separator)
        if tuple(parts[:depth]) != segments:
            continue
        resolved = await registry.get_bucket(entry.name)
        if resolved is not None:
            root = "".join(f"{part}/" for part in parts[depth:])
            products.append(Product(entry.name, root, resolved.config))
    products.sort(key=lambda product: product.root)
    return Account(segments, tuple(products))


def missing_account(account: Account, identity: Identity, mapping: PathMapping) -> S3Error:
    """The usual rule: an account that exists but shows nothing is 403; one that does not
    exist is 404 only for a caller who could otherwise know about it."""
    if account.products:
        return AccessDenied()
    stem = mapping.bucket_separator.join(account.segments) + mapping.bucket_separator
    if any(s.bucket == "*" or s.bucket.startswith(stem) for s in identity.scopes):
        return NoSuchBucket(
            f"The specified bucket does not exist: {account.name}", resource=f"/{account.name}"
        )
    return AccessDenied()


def sub_request(
    ctx: DispatchContext,
    method: str,
    bucket: str,
    query: list[tuple[str, str]],
    headers: dict[str, str] | None = None,
) -> RequestInfo:
    """An internal path-style request on ``bucket`` for the same caller."""
    all_headers: CIMultiDict[str] = CIMultiDict({"Host": ctx.request.header("host")})
    all_headers.update(headers or {})
    return RequestInfo(
        method=method,
        raw_path="/" + quote(bucket, safe=""),
        raw_query=urlencode(query, quote_via=quote),
        headers=all_headers,
        source_ip=ctx.request.source_ip,
        request_id=ctx.request_id,
    )


__all__ = ["Account", "Product", "find_account", "missing_account", "sub_request"]
