"""Hierarchical addresses onto flat bucket names: ``/acme/climate/k`` ↔ bucket ``acme--climate``.

Pure functions, no I/O: what an address means (``PathMapping.parse``), how a request's path
and query are rewritten before routing (``rewrite_request``), and how a copy source is
folded (``rewrite_copy_source``). Paths here are percent-decoded; queries and copy sources
are raw, as they came off the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus

# Parameters that make a request on ``/acme/climate`` a bucket-level one (upstream's way of
# addressing a product as a bucket). Without one, ``/acme/climate`` is what every S3 client
# means by it: the object ``climate`` in bucket ``acme``.
BUCKET_LEVEL_PARAMS = frozenset(
    {
        "list-type", "prefix", "delimiter", "marker", "max-keys", "continuation-token",
        "start-after", "encoding-type", "fetch-owner", "uploads", "key-marker",
        "upload-id-marker", "max-uploads", "delete", "location",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MappedPath:
    """What a hierarchical address names.

    ``bucket`` is the configured (internal) bucket, ``key`` the object key below it (``None``
    for a bucket-level address). Clients see ``display_bucket`` as their bucket and
    ``key_prefix`` in front of every key (``acme`` and ``climate/`` for ``acme--climate``).
    """

    bucket: str
    key: str | None
    display_bucket: str
    key_prefix: str


@dataclass(frozen=True, slots=True)
class RewrittenRequest:
    """The path and query to route on, and the ones the client signed (always the originals)."""

    path: str
    query: str
    signing_path: str
    signing_query: str


@dataclass(frozen=True, slots=True)
class PathMapping:
    """``bucket_segments`` leading path segments, joined by ``bucket_separator``, name a bucket.

    The first ``display_bucket_segments`` of them are what clients see as the bucket; the rest
    appear in front of keys. The defaults give ``/{account}/{product}/{key}`` over buckets
    named ``account--product``, presented as bucket ``account`` with keys ``product/...``.
    """

    bucket_segments: int = 2
    bucket_separator: str = "--"
    display_bucket_segments: int = 1

    def __post_init__(self) -> None:
        if self.bucket_segments < 2:
            raise ValueError("bucket_segments must be at least 2")
        if not 1 <= self.display_bucket_segments < self.bucket_segments:
            raise ValueError("display_bucket_segments must be between 1 and bucket_segments - 1")
        if not self.bucket_separator or "/" in self.bucket_separator:
            raise ValueError("bucket_separator must be non-empty and must not contain '/'")

    def parse(self, path: str) -> MappedPath | None:
        """The bucket and key a decoded path names, or ``None`` when it names no whole bucket."""
        trimmed = path.removeprefix("/")
        if not trimmed:
            return None
        parts = trimmed.split("/", self.bucket_segments)
        if len(parts) < self.bucket_segments:
            return None
        segments = parts[: self.bucket_segments]
        if not all(segments):
            return None
        key = parts[self.bucket_segments] if len(parts) > self.bucket_segments else ""
        return self._mapped(segments, key or None)

    def parse_bucket_name(self, name: str) -> MappedPath | None:
        """How an internal bucket name is presented, or ``None`` for a name that does not map."""
        segments = name.split(self.bucket_separator)
        if len(segments) != self.bucket_segments or not all(segments):
            return None
        if any("/" in segment for segment in segments):
            return None
        return self._mapped(segments, None)

    def _mapped(self, segments: list[str], key: str | None) -> MappedPath:
        shown, below = (
            segments[: self.display_bucket_segments],
            segments[self.display_bucket_segments :],
        )
        return MappedPath(
            bucket=self.bucket_separator.join(segments),
            key=key,
            display_bucket="/".join(shown),
            key_prefix="".join(f"{segment}/" for segment in below),
        )

    def partial_segments(self, path: str) -> list[str] | None:
        """The segments of a path naming fewer than a whole bucket (``/acme`` → ``["acme"]``)."""
        trimmed = path.strip("/")
        if not trimmed:
            return None
        segments = trimmed.split("/")
        if len(segments) >= self.bucket_segments or not all(segments):
            return None
        return segments

    def route_prefix(self, path: str, prefix: str) -> tuple[str, str] | None:
        """Fold the leading components of a listing ``prefix`` into the bucket.

        ``/acme`` with ``prefix=climate/2024/`` lists bucket ``acme--climate`` with
        ``prefix=2024/``. ``None`` when the prefix does not complete a bucket name (such a
        listing is answered at the account level).
        """
        segments = self.partial_segments(path)
        if segments is None:
            return None
        needed = self.bucket_segments - len(segments)
        parts = prefix.split("/", needed)
        if len(parts) <= needed or not all(parts[:needed]):
            return None
        return self.bucket_separator.join(segments + parts[:needed]), parts[needed]

    def rewrite_request(self, path: str, query: str) -> RewrittenRequest:
        """The path/query to route on; the signing pair is always what the client sent.

        A whole bucket in the path is folded (``/acme/climate/k`` → ``/acme--climate/k``;
        ``/acme/climate`` only with a bucket-level query such as ``?list-type=2``); a listing
        of a partial path with a ``prefix`` that completes a bucket is prefix-routed (V1, V2
        and ListMultipartUploads alike). Anything else is left as it is.
        """
        mapped = self.parse(path)
        if mapped is not None and (mapped.key is not None or has_bucket_params(query)):
            routed = f"/{mapped.bucket}" if mapped.key is None else f"/{mapped.bucket}/{mapped.key}"
            return RewrittenRequest(routed, query, path, query)
        prefix = query_param(query, "prefix")
        if prefix:
            routed_prefix = self.route_prefix(path, prefix)
            if routed_prefix is not None:
                bucket, rest = routed_prefix
                return RewrittenRequest(
                    f"/{bucket}", replace_param(query, "prefix", rest), path, query
                )
        return RewrittenRequest(path, query, path, query)

    def rewrite_copy_source(self, value: str) -> str | None:
        """``[/]acme/climate/k[?versionId=v]`` → ``/acme--climate/k[?versionId=v]``.

        The key stays percent-encoded exactly as sent; ``None`` when the value names no object
        of a mapped bucket (the header is then left alone).
        """
        source, marker, version = value.partition("?versionId=")
        source = source.removeprefix("/")
        parts = source.split("/", self.bucket_segments)
        if len(parts) <= self.bucket_segments or not parts[self.bucket_segments]:
            return None
        try:
            segments = [unquote(part, errors="strict") for part in parts[: self.bucket_segments]]
        except UnicodeDecodeError:
            return None
        if not all(segments) or any("/" in segment for segment in segments):
            return None
        bucket = self.bucket_separator.join(segments)
        return f"/{bucket}/{parts[self.bucket_segments]}{marker}{version}"


def _pairs(query: str) -> list[str]:
    return [piece for piece in query.split("&") if piece] if query else []


def has_bucket_params(query: str) -> bool:
    return any(
        unquote_plus(piece.partition("=")[0]) in BUCKET_LEVEL_PARAMS for piece in _pairs(query)
    )


def query_param(query: str, name: str) -> str | None:
    """The first value of ``name`` in a raw query, decoded with form rules (as core does).

    Matches the whole parameter name: ``xprefix=a`` is not ``prefix``.
    """
    for piece in _pairs(query):
        raw_name, _, raw_value = piece.partition("=")
        if unquote_plus(raw_name) == name:
            return unquote_plus(raw_value)
    return None


def replace_param(query: str, name: str, value: str) -> str:
    """``query`` with every ``name=`` pair set to ``value``; other pairs untouched, in order."""
    encoded = quote(value, safe="/~")
    return "&".join(
        f"{name}={encoded}" if unquote_plus(piece.partition("=")[0]) == name else piece
        for piece in _pairs(query)
    )


__all__ = ["MappedPath", "PathMapping", "RewrittenRequest", "query_param", "replace_param"]
