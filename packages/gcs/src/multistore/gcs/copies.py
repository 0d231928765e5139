"""Server-side copies on GCS: ``compose`` within a bucket, ``rewriteTo`` between buckets.

A compose of one source takes the destination's metadata in the same call (so
``x-amz-metadata-directive: REPLACE`` is atomic; the emulator's rewrite also ignores the
metadata it is given). The content is the source's, so the source's S3 ETag and part
sizes are recorded for the copy: a composite object has no MD5 of its own.
"""

from __future__ import annotations

from typing import Any

from multistore.core.errors import ServiceUnavailable
from multistore.gcs.metadata import ETAG_METADATA, PARTS_METADATA, generation, s3_etag
from multistore.gcs.wire import GcsWire

# A large or cross-location rewrite takes several calls on GCS, each continuing with the
# previous call's rewriteToken.
MAX_REWRITE_CALLS = 1000


async def compose_copy(
    wire: GcsWire,
    key: str,
    source_key: str,
    source_resource: dict[str, Any],
    resource: dict[str, Any],
    precondition: str | None,
) -> dict[str, Any]:
    """Copy ``source_key`` to ``key`` in the same bucket, with ``resource`` as metadata."""
    recorded = dict(resource.get("metadata") or {})
    source_metadata = source_resource.get("metadata") or {}
    recorded[ETAG_METADATA] = s3_etag(source_resource).strip('"')
    if source_metadata.get(PARTS_METADATA):
        recorded[PARTS_METADATA] = source_metadata[PARTS_METADATA]
    source = {
        "name": source_key,
        "generation": generation(source_resource),
        "objectPreconditions": {"ifGenerationMatch": generation(source_resource)},
    }
    query = [("ifGenerationMatch", precondition)] if precondition is not None else []
    return await wire.send_json(
        "POST",
        wire.object_url(key, "/compose"),
        {"sourceObjects": [source], "destination": {**resource, "metadata": recorded}},
        query=query,
        key=key,
    )


async def rewrite_copy(
    wire: GcsWire,
    source_url: str,
    source_resource: dict[str, Any],
    key: str,
    resource: dict[str, Any],
    precondition: str | None,
) -> dict[str, Any]:
    """Copy to ``key`` from another bucket of the same endpoint (``source_url`` is the
    source's ``rewriteTo`` URL for ``key``)."""
    query = [("sourceGeneration", generation(source_resource))]
    if precondition is not None:
        query.append(("ifGenerationMatch", precondition))
    for _ in range(MAX_REWRITE_CALLS):
        answer = await wire.send_json("POST", source_url, resource, query=query, key=key)
        if answer.get("done"):
            stored: dict[str, Any] = answer.get("resource") or {}
            return stored
        query = [(name, value) for name, value in query if name != "rewriteToken"]
        query.append(("rewriteToken", str(answer.get("rewriteToken") or "")))
    raise ServiceUnavailable("the copy did not finish")
