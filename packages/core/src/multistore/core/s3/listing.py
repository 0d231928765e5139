"""ListObjects V1/V2: what the client asked for, the one backend page it maps to, and the
``ListBucketResult`` the client gets back (SPEC §5).

Three key spaces meet here. The *client* space is what the caller sees (after a path-mapping
``ListRewrite``); the *bucket* space is the virtual bucket's own keys (``ListQuery.prefix`` is in
it, path mapping has already rewritten it); the *backend* space has ``backend_prefix`` in front.
Keys, common prefixes and ``NextMarker`` go backend → bucket → client on the way out; markers
and ``start-after`` come back client → bucket → backend on the way in, so a V1 walk that feeds
``NextMarker`` back as ``marker`` continues exactly where the previous page stopped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from multidict import MultiMapping

from multistore.core.backends.base import ListEntry, ListPage, ListRequest
from multistore.core.errors import InvalidArgument
from multistore.core.registry import BucketOwner, ListRewrite
from multistore.core.s3.keys import apply_backend_prefix
from multistore.core.s3.xml import XmlWriter, escape_text, format_timestamp

MAX_KEYS_LIMIT = 1000
_MAX_KEYS_ARGUMENT = 2**31 - 1
# int() alone would also take "+5", " 5", "1_000" and non-ASCII digits.
_INTEGER = re.compile(r"-?[0-9]+")
# U+10FFFF is the last code point, so its UTF-8 (F4 8F BF BF) sorts after every other character
# that could follow a prefix: starting after ``prefix + _PAST_PREFIX`` skips every key under
# ``prefix`` except ones that continue with U+10FFFF itself, a Unicode noncharacter.
_PAST_PREFIX = "\U0010ffff"


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A parsed ListObjects request; ``prefix`` is in bucket space, markers as the client sent
    them."""

    version: Literal[1, 2]
    prefix: str = ""
    delimiter: str = ""
    max_keys: int = MAX_KEYS_LIMIT
    continuation_token: str | None = None
    start_after: str | None = None
    marker: str | None = None
    encoding_type: str | None = None
    fetch_owner: bool = False


def parse_list_query(query: MultiMapping[str], *, version: Literal[1, 2]) -> ListQuery:
    """Read the ListObjects parameters of ``version``; the other version's are ignored.

    Invalid ``max-keys`` and ``encoding-type`` are 400 ``InvalidArgument`` as on S3 (upstream
    silently used 1000 and echoed unknown encodings).
    """
    encoding_type = query.get("encoding-type")
    if encoding_type is not None and encoding_type != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    prefix = query.get("prefix", "")
    delimiter = query.get("delimiter", "")
    max_keys = _parse_max_keys(query.get("max-keys"))
    if version == 1:
        return ListQuery(
            version=1,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            marker=query.get("marker"),
            encoding_type=encoding_type,
        )
    continuation_token = query.get("continuation-token")
    if continuation_token == "":
        raise InvalidArgument("The continuation token provided is incorrect")
    return ListQuery(
        version=2,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        continuation_token=continuation_token,
        start_after=query.get("start-after"),
        encoding_type=encoding_type,
        fetch_owner=query.get("fetch-owner", "").lower() == "true",
    )


def _parse_max_keys(raw: str | None) -> int:
    if raw is None or raw == "":
        return MAX_KEYS_LIMIT
    if not _INTEGER.fullmatch(raw) or int(raw) < 0 or int(raw) > _MAX_KEYS_ARGUMENT:
        raise InvalidArgument(
            f"Argument maxKeys must be an integer between 0 and {_MAX_KEYS_ARGUMENT}"
        )
    # S3 serves at most 1000 per page and says so in MaxKeys; larger asks are not an error.
    return min(int(raw), MAX_KEYS_LIMIT)


def backend_list_request(
    query: ListQuery, *, backend_prefix: str, rewrite: ListRewrite | None = None
) -> ListRequest:
    """The backend page for ``query``: prefixes and the resume position in backend space.

    ``rewrite`` is the bucket's ``ListRewrite``: markers come back in client space (they are
    keys this module rendered) and are mapped back into bucket space before use.
    """
    position = query.start_after if query.version == 2 else query.marker
    continuation_token = query.continuation_token if query.version == 2 else None
    listing_prefix = apply_backend_prefix(backend_prefix, query.prefix)
    start_after = None
    if position:
        in_bucket = _unrewrite_position(position, rewrite, prefix=query.prefix)
        if in_bucket:
            resume = _skip_common_prefix(in_bucket, prefix=query.prefix, delimiter=query.delimiter)
            start_after = apply_backend_prefix(backend_prefix, resume)
    if start_after is None and continuation_token is None and not query.prefix and backend_prefix:
        # The backend prefix's own folder marker (``harvard-lil/``) would be the first item and
        # is never a client object; starting after it keeps it from using up a page slot, which
        # with max-keys=1 would leave a truncated page with nothing to resume from.
        start_after = listing_prefix
    return ListRequest(
        prefix=listing_prefix,
        delimiter=query.delimiter,
        max_keys=query.max_keys,
        continuation_token=continuation_token,
        start_after=start_after,
    )


def _skip_common_prefix(position: str, *, prefix: str, delimiter: str) -> str:
    """Resume after the whole group when ``position`` is a common prefix of this listing.

    A V1 page can end on a common prefix (``photos/``) and hand it out as ``NextMarker``.
    Backends only take "start after this key", and ``photos/a.jpg`` sorts after ``photos/``,
    so resuming there would list the group again; S3 itself skips it.
    """
    if not delimiter or not position.startswith(prefix):
        return position
    rest = position[len(prefix) :]
    if rest.endswith(delimiter) and rest.find(delimiter) == len(rest) - len(delimiter):
        return position + _PAST_PREFIX
    return position


def _unrewrite_position(position: str, rewrite: ListRewrite | None, *, prefix: str) -> str | None:
    """Map a client-space marker to bucket space; ``None`` means "from the start"."""
    if rewrite is None or not (rewrite.add_prefix or rewrite.strip_prefix):
        return position
    add = rewrite.add_prefix
    if add:
        visible_root = add if add.endswith("/") else add + "/"
        if position.startswith(visible_root):
            position = position[len(visible_root) :]
        elif position < visible_root:
            # Every listed key starts with the added prefix, so all of them sort after this.
            return None
        else:
            # ... and here all of them sort before it: nothing is left to list.
            return prefix + _PAST_PREFIX
    return rewrite.strip_prefix + position


def rewrite_key(key: str, rewrite: ListRewrite | None) -> str:
    """Present a bucket-space key: strip ``strip_prefix`` if present, then add ``add_prefix``
    with exactly one ``/`` between them (upstream §6.3)."""
    if rewrite is None:
        return key
    if rewrite.strip_prefix and key.startswith(rewrite.strip_prefix):
        key = key[len(rewrite.strip_prefix) :]
    add = rewrite.add_prefix
    if not add or not key:
        return add + key
    if add.endswith("/"):
        return add + key[1:] if key.startswith("/") else add + key
    return add + key if key.startswith("/") else f"{add}/{key}"


def render_list_result(
    query: ListQuery,
    page: ListPage,
    *,
    bucket_name: str,
    backend_prefix: str,
    rewrite: ListRewrite | None,
    owner: BucketOwner,
) -> bytes:
    """The ``ListBucketResult`` for one backend page, in S3's element order."""
    to_bucket = _bucket_key_function(backend_prefix)
    common_prefixes = [to_bucket(p) for p in page.common_prefixes]
    markers = _directory_markers(query, common_prefixes)
    contents: list[tuple[str, ListEntry]] = []
    last_item = common_prefixes[-1] if common_prefixes else ""
    last_shown_key = ""
    for entry in page.entries:
        key = to_bucket(entry.key)
        last_item = max(last_item, key)
        if entry.size == 0 and key in markers:
            continue
        contents.append((key, entry))
        last_shown_key = key

    present = _url_encode if query.encoding_type == "url" else escape_text
    xml = XmlWriter("ListBucketResult")
    xml.element("Name", bucket_name)
    # V1's Prefix is never encoded: S3 echoes it as sent, and botocore (which asks every
    # V1 listing for encoding-type=url) decodes every V1 field but this one.
    present_prefix = present if query.version == 2 else escape_text
    xml.raw(f"<Prefix>{present_prefix(rewrite_key(query.prefix, rewrite))}</Prefix>")
    if query.version == 2:
        if query.start_after is not None:
            xml.raw(f"<StartAfter>{present(query.start_after)}</StartAfter>")
        xml.optional("ContinuationToken", query.continuation_token)
        xml.optional("NextContinuationToken", page.next_continuation_token)
        xml.element("KeyCount", len(contents) + len(common_prefixes))
    else:
        xml.raw(f"<Marker>{present(query.marker or '')}</Marker>")
        # S3 sends NextMarker only with a delimiter (otherwise clients resume from the last
        # Key). A hidden directory marker can be the page's real last item, so it is also sent
        # whenever the last shown Key would not resume after everything this page consumed.
        if page.is_truncated and last_item and (query.delimiter or last_shown_key != last_item):
            xml.raw(f"<NextMarker>{present(rewrite_key(last_item, rewrite))}</NextMarker>")
    xml.element("MaxKeys", query.max_keys)
    if query.delimiter:
        xml.raw(f"<Delimiter>{present(query.delimiter)}</Delimiter>")
    xml.optional("EncodingType", query.encoding_type)
    xml.element("IsTruncated", page.is_truncated)

    owner_xml = ""
    if query.version == 1 or query.fetch_owner:
        owner_xml = (
            f"<Owner><ID>{escape_text(owner.id)}</ID>"
            f"<DisplayName>{escape_text(owner.display_name)}</DisplayName></Owner>"
        )
    xml.extend(
        f"<Contents><Key>{present(rewrite_key(key, rewrite))}</Key>"
        f"<LastModified>{format_timestamp(entry.last_modified)}</LastModified>"
        f"<ETag>{escape_text(entry.etag)}</ETag><Size>{entry.size}</Size>{owner_xml}"
        f"<StorageClass>{escape_text(entry.storage_class)}</StorageClass></Contents>"
        for key, entry in contents
    )
    xml.extend(
        f"<CommonPrefixes><Prefix>{present(rewrite_key(p, rewrite))}</Prefix></CommonPrefixes>"
        for p in common_prefixes
    )
    return xml.finish()


def _bucket_key_function(backend_prefix: str) -> Callable[[str], str]:
    """``strip_backend_prefix`` for one page, with the prefix worked out once."""
    root = backend_prefix.rstrip("/")
    if not root:
        return lambda key: key
    root += "/"
    cut = len(root)
    return lambda key: key[cut:] if key.startswith(root) else key


def _directory_markers(query: ListQuery, common_prefixes: list[str]) -> set[str]:
    """Bucket-space keys whose 0-byte objects are folded away as folder markers (SPEC §5).

    Tools that create "folders" leave a 0-byte ``photos/`` object; in a delimiter listing of
    the parent it is the ``photos/`` common prefix already and is not listed a second time as
    a key. ``""`` is the marker of the backend prefix itself. The marker *of the requested
    prefix* stays listed, as S3 lists it: it is how pyarrow, s3fs and the AWS console learn
    that an empty folder exists (``prefix=dir/&delimiter=/&max-keys=1``), and how
    ``aws s3 rm --recursive s3://b/dir/`` finds it to delete. Only a key *equal* to such a
    name is a marker: a genuine 0-byte object ``photos`` beside ``photos/…`` stays listed.
    """
    markers = set(common_prefixes)
    markers.add("")
    return markers


def _url_encode(value: str) -> str:
    # encoding-type=url: UTF-8 percent-encoding with only RFC 3986 unreserved characters and
    # "/" left raw. S3 itself writes a space as "+"; "%20" decodes the same in form decoders
    # (botocore's unquote_plus) and also in plain percent-decoders, which "+" does not.
    return quote(value, safe="/")


__all__ = [
    "MAX_KEYS_LIMIT",
    "ListQuery",
    "backend_list_request",
    "parse_list_query",
    "render_list_result",
    "rewrite_key",
]
