"""Where a request goes: an origin (scheme, host, port) and the request target, split by hand.

The URL handed to the transport is already percent-encoded exactly as it was signed, so it
is cut into pieces as text and never parsed into (and re-serialised from) a URL object.
"""

from __future__ import annotations

from dataclasses import dataclass

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int
    # As written in the URL: what goes into a Host header the caller did not set.
    authority: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.authority}"


def split_url(url: str) -> tuple[str, str]:
    """``(origin text, request target)``; the target is the path and query, verbatim."""
    start = url.find("://")
    if start < 0:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    if "#" in url:
        # A fragment never goes on the wire, and an encoded URL has no other "#".
        raise ValueError(f"URL with a fragment: {url!r}")
    end = url.find("/", start + 3)
    query = url.find("?", start + 3)
    if end < 0 or 0 <= query < end:
        end = query
    if end < 0:
        return url, "/"
    if url[end] == "?":
        return url[:end], "/" + url[end:]
    return url[:end], url[end:]


def parse_origin(text: str) -> Origin:
    """The ``scheme://authority`` part of a URL as an :class:`Origin`."""
    scheme, _, authority = text.partition("://")
    scheme = scheme.lower()
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port is None:
        raise ValueError(f"unsupported URL scheme {scheme!r} (http and https only)")
    if not authority or "@" in authority:
        raise ValueError(f"unsupported URL authority {authority!r}")
    if authority.startswith("["):
        # An IPv6 literal: "[::1]" or "[::1]:9000".
        host, bracket, rest = authority[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"malformed IPv6 authority {authority!r}")
        port_text = rest[1:]
    else:
        host, _, port_text = authority.partition(":")
    if not host:
        raise ValueError(f"URL without a host: {text!r}")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"malformed port in {text!r}")
        port = int(port_text)
    else:
        port = default_port
    return Origin(scheme=scheme, host=host, port=port, authority=authority)
