"""Cross-origin resource sharing: which browser origins may call a bucket (SPEC §2).

A bucket's ``cors_origins`` decide for it; a bucket without any falls back to the
gateway-wide list, and so does every path that names no configured bucket (``/``, routes,
unknown names). The fallback for unknown names is deliberate: preflights are answered
without authentication, so an answer that differed between "no such bucket" and "a bucket
with no origins of its own" would let anyone probe bucket names.

CORS is off unless some list is configured: then every preflight is refused and no
response carries ``Access-Control-*`` headers.

The gateway sends no ``Access-Control-Allow-Credentials``. Browsers sign S3 requests
themselves (an ``Authorization`` header set by script, or a presigned URL), so there is
no ambient cookie or HTTP-auth credential for another origin to ride on, and ``"*"`` is as
safe as the data it exposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from multidict import CIMultiDict

from multistore.core.config import BucketConfig
from multistore.core.errors import S3Error
from multistore.core.http import RequestInfo, Response

ANY_ORIGIN = "*"
ALLOWED_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE"})
ALLOW_METHODS_VALUE = "GET, HEAD, PUT, POST, DELETE"
# Long enough to spare a preflight per request, short enough that a narrowed config takes
# effect within the hour (Chromium caps the cache at 2 h anyway).
PREFLIGHT_MAX_AGE_SECONDS = 3600
# Named headers work in every browser and for credentialed requests; the trailing "*"
# additionally exposes everything else (x-amz-meta-*, checksums) where the fetch spec's
# wildcard applies, i.e. for requests without credentials, which is how browsers call S3.
EXPOSE_HEADERS_VALUE = ", ".join(
    (
        "ETag",
        "Content-Length",
        "Content-Range",
        "Content-Type",
        "Content-Encoding",
        "Content-Disposition",
        "Content-Language",
        "Cache-Control",
        "Expires",
        "Last-Modified",
        "Accept-Ranges",
        "x-amz-request-id",
        "x-amz-version-id",
        "x-amz-delete-marker",
        "*",
    )
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class AccessForbidden(S3Error):
    """A preflight the CORS configuration does not allow (S3's code and wording)."""

    code, status = "AccessForbidden", 403
    default_message = (
        "CORSResponse: This CORS request is not allowed. This is usually because the "
        "evaluation of Origin, request method / Access-Control-Request-Method or "
        "Access-Control-Request-Headers are not allowed by the resource's CORS spec."
    )


def is_preflight(request: RequestInfo) -> bool:
    """``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method`` (fetch spec §3.2.2)."""
    headers = request.headers
    return (
        request.method == "OPTIONS"
        and "Origin" in headers
        and "Access-Control-Request-Method" in headers
    )


def normalize_origin(origin: str) -> str:
    """The ASCII serialization a browser sends: lower-case, no default port.

    Config files may say ``https://Viewer.Example:443``; the browser says
    ``https://viewer.example``. Anything that is not an origin is returned unchanged (it
    simply never matches).
    """
    if origin == ANY_ORIGIN:
        return origin
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return origin
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return origin
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or _DEFAULT_PORTS.get(scheme) == port:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


@dataclass(frozen=True, slots=True)
class OriginSet:
    """A compiled ``cors_origins`` list."""

    any_origin: bool = False
    origins: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, origins: tuple[str, ...]) -> OriginSet:
        return _compiled(origins)

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def allow(self, origin: str) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or ``None`` if refused."""
        if self.any_origin:
            return ANY_ORIGIN
        # Compared with the header as sent: browsers always send the normalized form.
        return origin if origin in self.origins else None


@lru_cache(maxsize=256)
def _compiled(origins: tuple[str, ...]) -> OriginSet:
    # Keyed by the config tuple: bucket configs are immutable and a reload makes new ones,
    # so a bounded cache compiles each distinct list once instead of once per request.
    return OriginSet(
        any_origin=ANY_ORIGIN in origins,
        origins=frozenset(normalize_origin(o) for o in origins if o != ANY_ORIGIN),
    )


class CorsPolicy:
    """Answers preflights and decorates responses; built once per gateway."""

    __slots__ = ("_default",)

    def __init__(self, default_origins: tuple[str, ...] = ()) -> None:
        self._default = OriginSet.parse(tuple(default_origins))

    def origins_for(self, bucket: BucketConfig | None) -> OriginSet:
        """The bucket's own origins, else the gateway-wide ones (also for unknown buckets)."""
        if bucket is not None and bucket.cors_origins:
            return OriginSet.parse(bucket.cors_origins)
        return self._default

    def allowed_origin(self, origin: str, bucket: BucketConfig | None) -> str | None:
        return self.origins_for(bucket).allow(origin)

    def preflight(self, request: RequestInfo, bucket: BucketConfig | None) -> Response:
        """A 200 carrying the grant, or :class:`AccessForbidden`.

        The refusal is the same whatever the reason (origin, method, unknown bucket), so a
        preflight reveals nothing beyond the configured origins themselves.
        """
        origin = request.header("Origin")
        method = request.header("Access-Control-Request-Method")
        allowed = self.allowed_origin(origin, bucket)
        if allowed is None or method not in ALLOWED_METHODS:
            raise AccessForbidden()
        headers = CIMultiDict(
            {
                "Access-Control-Allow-Origin": allowed,
                "Access-Control-Allow-Methods": ALLOW_METHODS_VALUE,
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
                "Access-Control-Expose-Headers": EXPOSE_HEADERS_VALUE,
            }
        )
        requested_headers = request.header("Access-Control-Request-Headers")
        if requested_headers:
            # Echoed rather than "*": the wildcard never covers Authorization, which every
            # signed browser request sends.
            headers["Access-Control-Allow-Headers"] = requested_headers
            headers["Vary"] = "Origin, Access-Control-Request-Headers"
        else:
            headers["Vary"] = "Origin"
        return Response(200, headers)

    def decorate(self, headers: CIMultiDict[str], origin: str, bucket: BucketConfig | None) -> bool:
        """Grant ``origin`` read access to this (actual, non-preflight) response.

        Errors are decorated too: without the grant a browser hides a 403 from the script
        and reports an opaque network error instead. Returns whether anything was added.
        """
        allowed = self.allowed_origin(origin, bucket)
        if allowed is None:
            return False
        headers["Access-Control-Allow-Origin"] = allowed
        headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS_VALUE
        add_vary(headers, "Origin")
        return True


def add_vary(headers: CIMultiDict[str], name: str) -> None:
    """Add ``name`` to ``Vary`` without dropping what a backend already put there."""
    current = headers.get("Vary")
    if not current:
        headers["Vary"] = name
        return
    tokens = {token.strip().lower() for token in current.split(",")}
    if name.lower() not in tokens and "*" not in tokens:
        headers["Vary"] = f"{current}, {name}"


__all__ = [
    "ALLOWED_METHODS",
    "ANY_ORIGIN",
    "EXPOSE_HEADERS_VALUE",
    "PREFLIGHT_MAX_AGE_SECONDS",
    "AccessForbidden",
    "CorsPolicy",
    "OriginSet",
    "add_vary",
    "is_preflight",
    "normalize_origin",
]
