"""Which request headers a SigV4 signature must cover (issue #15).

A signature only protects what it covers. A header left out of ``SignedHeaders`` can be
added or changed by anyone who holds the signed request (a presigned URL, a captured
request), so S3 refuses requests whose meaning could be changed that way:

- ``host`` must always be signed: without it a request signed for one bucket could be
  replayed against another virtual-hosted bucket.
- every ``x-amz-*`` header present must be signed, because those headers change what the
  request does (``x-amz-copy-source`` turns a PUT into a copy, ``x-amz-metadata-directive``,
  ``x-amz-meta-*``, ``x-amz-acl``, ...). A presigned URL that needs such a header must sign
  it or carry it as a query parameter.
- with header authentication, ``content-md5`` must be signed when present. Every SDK signs
  it, and an unsigned one is a header nobody vouched for.

``content-type`` is deliberately *not* required, although the S3 SigV4 reference asks
signers to include it: S3 does not enforce that. AWS's own JavaScript SDK v2 never signs
``Content-Type`` (it is on its list of unsignable headers) and uploads with it work against
S3, and browsers add a ``Content-Type`` of their own to every upload through a presigned
PUT. Requiring it would break those clients for little gain: whoever can replay a signed
request can already replay it as it was.

``x-amz-content-sha256`` is the one exemption. With header authentication its value is the
last line of the canonical request, so the signature covers it whether or not it is listed;
in a presigned URL it only describes the body, which the holder of the URL supplies anyway.

SigV2 presigned URLs need no such rule: their string to sign contains ``Content-MD5``,
``Content-Type`` and every ``x-amz-*`` header of the request, signed or not, so an added
header already breaks the signature.
"""

from __future__ import annotations

from collections.abc import Iterable

from multistore.core.errors import AccessDenied
from multistore.core.http import Headers

_ALWAYS_EXEMPT = frozenset({"x-amz-content-sha256"})
_HEADER_AUTH_REQUIRED_WHEN_PRESENT = ("content-md5",)


class HeadersNotSigned(AccessDenied):
    """403 ``AccessDenied`` naming the headers a signature should have covered, as S3 does."""

    default_message = "There were headers present in the request which were not signed"

    def __init__(self, names: Iterable[str]) -> None:
        super().__init__()
        self.names = tuple(names)

    def details(self) -> tuple[tuple[str, str], ...]:
        return (("HeadersNotSigned", ", ".join(self.names)),)


def unsigned_headers(headers: Headers, signed: Iterable[str], *, header_auth: bool) -> list[str]:
    """The names (lower case, in request order) that must be signed but are not."""
    covered = set(signed)
    missing: list[str] = [] if "host" in covered else ["host"]
    for raw_name in headers:
        name = raw_name.lower()
        if name in covered or name in _ALWAYS_EXEMPT or name in missing:
            continue
        if name.startswith("x-amz-") or (
            header_auth and name in _HEADER_AUTH_REQUIRED_WHEN_PRESENT
        ):
            missing.append(name)
    return missing


# The answer depends only on the header names in request order, the signed list and the
# kind of authentication, and a client sends the same few combinations all day: checked
# once each, then one dict lookup instead of a loop over every header. Combinations with
# long names are not kept, and the table is emptied when full, which bounds its memory
# whatever clients send.
_MAX_CACHED_COMBINATIONS = 1024
_MAX_CACHED_NAME_CHARACTERS = 1024
_missing_by_combination: dict[tuple[tuple[str, ...], tuple[str, ...], bool], tuple[str, ...]] = {}


def require_signed_headers(headers: Headers, signed: tuple[str, ...], *, header_auth: bool) -> None:
    """Raise :class:`HeadersNotSigned` when the signature leaves a governed header out."""
    combination = (tuple(headers), signed, header_auth)
    missing = _missing_by_combination.get(combination)
    if missing is None:
        missing = tuple(unsigned_headers(headers, signed, header_auth=header_auth))
        names = combination[0]
        if sum(map(len, names)) + sum(map(len, signed)) <= _MAX_CACHED_NAME_CHARACTERS:
            if len(_missing_by_combination) >= _MAX_CACHED_COMBINATIONS:
                _missing_by_combination.clear()
            _missing_by_combination[combination] = missing
    if missing:
        raise HeadersNotSigned(missing)
