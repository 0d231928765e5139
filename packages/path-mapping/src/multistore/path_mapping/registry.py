"""``MappedRegistry``: any bucket registry, with mapped buckets presented hierarchically."""

from __future__ import annotations

from multistore.core.registry import (
    BucketEntry,
    BucketOwner,
    BucketRegistry,
    ListRewrite,
    ResolvedBucket,
)
from multistore.path_mapping.mapping import PathMapping


class MappedRegistry:
    """Looks buckets up by their internal names and says how clients see them.

    ``acme--climate`` resolves to the configured bucket with display name ``acme`` and keys
    shown under ``climate/`` (listings, multipart responses). Names that do not map are
    returned exactly as the inner registry has them.
    """

    def __init__(self, inner: BucketRegistry, mapping: PathMapping) -> None:
        self.inner = inner
        self.mapping = mapping

    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        resolved = await self.inner.get_bucket(name)
        if resolved is None:
            return None
        mapped = self.mapping.parse_bucket_name(name)
        if mapped is None:
            return resolved
        rewrite = ListRewrite(add_prefix=mapped.key_prefix) if mapped.key_prefix else None
        return ResolvedBucket(
            resolved.config, list_rewrite=rewrite, display_name=mapped.display_bucket
        )

    async def list_buckets(self) -> list[BucketEntry]:
        return await self.inner.list_buckets()

    def bucket_owner(self) -> BucketOwner:
        return self.inner.bucket_owner()
