"""S3 XML documents: a small string-building writer, the bucket-level renderers, and a safe
parser for the small XML bodies clients send.

Output is built from strings rather than an element tree: S3 clients parse by element name,
but the order of elements is part of what "exactly as S3" means (SPEC §5), and string building
keeps a 1000-entry listing cheap to render.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from xml.parsers.expat import ExpatError

import xmltodict

from multistore.core.errors import MalformedXML
from multistore.core.registry import BucketEntry, BucketOwner

S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def escape_text(value: str) -> str:
    """Escape character data for an element body.

    Beyond ``& < >``: S3 writes ``"`` as ``&quot;`` (ETags read ``&quot;abc&quot;``), and a raw
    CR would come back as LF from every XML parser's line-end normalisation, so it goes out as
    a character reference. Chained ``str.replace`` is the fastest way to do this in CPython,
    which matters at a thousand keys and ETags per listing page.
    """
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\r", "&#13;")
    )


def element(name: str, value: str | int | bool) -> str:
    """``<name>value</name>``; booleans as S3 writes them (``true``/``false``)."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    else:
        text = escape_text(value)
    return f"<{name}>{text}</{name}>"


class XmlWriter:
    """Appends elements in the order they are written; ``finish`` closes what is still open.

    Element order is the contract, so there is no reordering and no element tree.
    """

    __slots__ = ("_open", "_parts")

    def __init__(self, root: str, *, xmlns: str | None = S3_XMLNS) -> None:
        namespace = f' xmlns="{xmlns}"' if xmlns else ""
        self._parts: list[str] = [XML_DECLARATION, f"<{root}{namespace}>"]
        self._open: list[str] = [root]

    def start(self, name: str) -> None:
        self._parts.append(f"<{name}>")
        self._open.append(name)

    def end(self) -> None:
        self._parts.append(f"</{self._open.pop()}>")

    def element(self, name: str, value: str | int | bool) -> None:
        self._parts.append(element(name, value))

    def optional(self, name: str, value: str | int | bool | None) -> None:
        """Write ``name`` only when ``value`` is not ``None``."""
        if value is not None:
            self._parts.append(element(name, value))

    def raw(self, fragment: str) -> None:
        """Append markup already built (and escaped) by the caller, e.g. in a hot loop."""
        self._parts.append(fragment)

    def extend(self, fragments: Iterable[str]) -> None:
        self._parts.extend(fragments)

    def finish(self) -> bytes:
        while self._open:
            self._parts.append(f"</{self._open.pop()}>")
        return "".join(self._parts).encode()


def _as_utc(dt: datetime) -> datetime:
    # Backends hand out aware datetimes; a naive one is taken to be UTC already.
    if dt.tzinfo is None or dt.tzinfo is UTC:
        return dt
    return dt.astimezone(UTC)


def format_timestamp(dt: datetime) -> str:
    """S3's ISO 8601 form with milliseconds: ``2024-01-01T00:00:00.000Z``."""
    dt = _as_utc(dt)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T"
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


def parse_timestamp(value: str) -> datetime | None:
    """An ISO 8601 timestamp as S3 writes it (``…Z``), or ``None`` if it is not one."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def xml_text(value: Any) -> str:
    """The text of an element parsed by xmltodict (``""`` for absent or non-text elements).

    An element with attributes comes back as a dict with its text under ``#text``.
    """
    if isinstance(value, dict):
        value = value.get("#text")
    return value if isinstance(value, str) else ""


def http_date(dt: datetime) -> str:
    """RFC 7231 IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), independent of the locale."""
    dt = _as_utc(dt)
    return (
        f"{_WEEKDAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year:04d} "
        f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} GMT"
    )


def render_list_buckets(owner: BucketOwner, buckets: list[BucketEntry]) -> bytes:
    """``ListAllMyBucketsResult``, Owner first as S3 writes it.

    Upstream omitted the namespace; S3 sends it and strict clients look for it.
    """
    xml = XmlWriter("ListAllMyBucketsResult")
    xml.raw(_owner(owner))
    xml.start("Buckets")
    xml.extend(
        f"<Bucket>{element('Name', bucket.name)}"
        f"<CreationDate>{format_timestamp(bucket.creation_date)}</CreationDate></Bucket>"
        for bucket in buckets
    )
    return xml.finish()


def render_location(region: str) -> bytes:
    """``GetBucketLocation``: S3 answers an empty element for us-east-1 (clients read it as the
    legacy "no constraint"), the region name for every other region."""
    if not region or region == "us-east-1":
        return f'{XML_DECLARATION}<LocationConstraint xmlns="{S3_XMLNS}"/>'.encode()
    return (
        f'{XML_DECLARATION}<LocationConstraint xmlns="{S3_XMLNS}">'
        f"{escape_text(region)}</LocationConstraint>"
    ).encode()


def _owner(owner: BucketOwner) -> str:
    return f"<Owner>{element('ID', owner.id)}{element('DisplayName', owner.display_name)}</Owner>"


def parse_xml_body(body: bytes, *, force_list: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parse a small XML request body (the caller caps its size before reading it).

    Entity declarations are refused, so "billion laughs" and external entities never expand.
    Elements named in ``force_list`` always come back as lists, even when there is only one.
    Anything that is not one well-formed document (including an unknown declared encoding)
    is ``MalformedXML``.
    """
    try:
        parsed = xmltodict.parse(body, disable_entities=True, force_list=force_list or None)
    except (ExpatError, ValueError, LookupError) as exc:
        raise MalformedXML() from exc
    if not isinstance(parsed, dict):
        raise MalformedXML()
    return parsed


__all__ = [
    "S3_XMLNS",
    "XML_DECLARATION",
    "XmlWriter",
    "element",
    "escape_text",
    "format_timestamp",
    "http_date",
    "parse_timestamp",
    "parse_xml_body",
    "render_list_buckets",
    "render_location",
    "xml_text",
]
