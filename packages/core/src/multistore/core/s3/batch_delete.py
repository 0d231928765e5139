"""DeleteObjects (``POST /{bucket}?delete``): up to 1000 keys, each authorized on its own.

Keys the caller may not delete are reported as ``AccessDenied`` and never reach the backend;
if none may be deleted the backend is not contacted at all. An ``<Object>`` with conditions
(``<ETag>``, ``<LastModifiedTime>``, ``<Size>``) is deleted on its own, exactly like a
DeleteObject carrying the same conditions as headers, so both backends honour it the same way
and a failed condition is that key's ``PreconditionFailed`` (the object stays).
"""

from __future__ import annotations

import logging

from multidict import CIMultiDict

from multistore.core.auth.authorize import is_authorized
from multistore.core.backends.base import ObjectRequest, ProxyBackend
from multistore.core.backends.pool import BackendPool
from multistore.core.config import Action
from multistore.core.errors import S3Error
from multistore.core.http import GatewayResponse
from multistore.core.middleware import DispatchContext
from multistore.core.s3.conditions import (
    IF_MATCH_LAST_MODIFIED_TIME,
    IF_MATCH_SIZE,
    DeleteConditions,
)
from multistore.core.s3.keys import apply_backend_prefix
from multistore.core.s3.multipart import bucket_of, capable, read_small_body, xml_response
from multistore.core.s3.write_xml import DeleteResultEntry, parse_delete, render_delete_result
from multistore.core.s3.xml import http_date

# 1000 keys of up to 1024 bytes each, escaped, plus the envelope.
MAX_DELETE_BODY = 2 << 20
_log = logging.getLogger(__name__)


async def delete_objects(ctx: DispatchContext, backends: BackendPool) -> GatewayResponse:
    bucket = bucket_of(ctx)
    request = parse_delete(await read_small_body(ctx, limit=MAX_DELETE_BODY))
    entries: list[DeleteResultEntry | None] = []
    batched: list[tuple[int, str]] = []
    conditional: list[tuple[int, str, DeleteConditions]] = []
    for index, (key, conditions) in enumerate(zip(request.keys, request.conditions, strict=True)):
        # Every key S3 accepts is accepted here as on DeleteObject (s3/keys.py).
        if not is_authorized(ctx.identity, bucket, Action.DELETE_OBJECT, key):
            entries.append(DeleteResultEntry(key, "AccessDenied", "Access Denied"))
            continue
        entries.append(None)
        if conditions.present:
            conditional.append((index, key, conditions))
        else:
            batched.append((index, key))
    backend = backends.get(bucket)
    if batched:
        batch = capable(backend, "delete_objects", "DeleteObjects", bucket)
        outcomes = await batch.delete_objects(
            [apply_backend_prefix(bucket.backend_prefix, key) for _, key in batched]
        )
        for (index, key), outcome in zip(batched, outcomes, strict=True):
            entries[index] = DeleteResultEntry(key, outcome.error_code, outcome.error_message)
    for index, key, conditions in conditional:
        backend_key = apply_backend_prefix(bucket.backend_prefix, key)
        entries[index] = await _delete_one(backend, key, backend_key, conditions)
    results = [entry for entry in entries if entry is not None]
    return xml_response(render_delete_result(results, quiet=request.quiet))


async def _delete_one(
    backend: ProxyBackend, key: str, backend_key: str, conditions: DeleteConditions
) -> DeleteResultEntry:
    headers: CIMultiDict[str] = CIMultiDict()
    if conditions.if_match is not None:
        headers["If-Match"] = conditions.if_match
    if conditions.last_modified is not None:
        headers[IF_MATCH_LAST_MODIFIED_TIME] = http_date(conditions.last_modified)
    if conditions.size is not None:
        headers[IF_MATCH_SIZE] = str(conditions.size)
    try:
        await backend.delete_object(ObjectRequest(key=backend_key, headers=headers))
    except S3Error as error:
        if error.status >= 500:
            _log.error("DeleteObjects could not delete %r: %s", key, error.message)
        return DeleteResultEntry(key, error.code, error.public_message)
    return DeleteResultEntry(key)
