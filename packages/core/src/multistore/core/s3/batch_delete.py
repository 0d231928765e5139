"""DeleteObjects (``POST /{bucket}?delete``): up to 1000 keys, each authorized on its own.

Keys the caller may not delete are reported as ``AccessDenied`` and never reach the backend;
if none may be deleted the backend is not contacted at all.
"""

from __future__ import annotations

from multistore.core.auth.authorize import is_authorized
from multistore.core.backends.pool import BackendPool
from multistore.core.config import Action
from multistore.core.http import GatewayResponse
from multistore.core.middleware import DispatchContext
from multistore.core.s3.keys import apply_backend_prefix
from multistore.core.s3.multipart import bucket_of, capable, read_small_body, xml_response
from multistore.core.s3.write_xml import DeleteResultEntry, parse_delete, render_delete_result

# 1000 keys of up to 1024 bytes each, escaped, plus the envelope.
MAX_DELETE_BODY = 2 << 20


async def delete_objects(ctx: DispatchContext, backends: BackendPool) -> GatewayResponse:
    bucket = bucket_of(ctx)
    request = parse_delete(await read_small_body(ctx, limit=MAX_DELETE_BODY))
    entries: list[DeleteResultEntry | None] = []
    allowed: list[tuple[int, str]] = []
    for index, key in enumerate(request.keys):
        # Every key S3 accepts is accepted here as on DeleteObject (s3/keys.py).
        if is_authorized(ctx.identity, bucket, Action.DELETE_OBJECT, key):
            allowed.append((index, key))
            entries.append(None)
        else:
            entries.append(DeleteResultEntry(key, "AccessDenied", "Access Denied"))
    if allowed:
        backend = capable(backends.get(bucket), "delete_objects", "DeleteObjects", bucket)
        outcomes = await backend.delete_objects(
            [apply_backend_prefix(bucket.backend_prefix, key) for _, key in allowed]
        )
        for (index, key), outcome in zip(allowed, outcomes, strict=True):
            entries[index] = DeleteResultEntry(key, outcome.error_code, outcome.error_message)
    results = [entry for entry in entries if entry is not None]
    return xml_response(render_delete_result(results, quiet=request.quiet))
