"""Bind multipart upload ids to the key they were created for (issue #15).

The gateway authorizes a part-level call (UploadPart, ListParts, Complete, Abort,
UploadPartCopy) against the key in its URL. That is only sound if the upload id in the
query belongs to that key. AWS S3 checks this itself, but S3-compatible stores do not all do
so: moto, for one, completes an upload at the key it was created for whatever key the
request names, so a caller scoped to ``allowed/`` could finish somebody else's upload of
``secret/x``.

So before any part-level call reaches the backend, the gateway checks the id against the
backend's own ListMultipartUploads answer for that exact key. A confirmed pair is
remembered (an upload id never moves to another key), so an upload of many parts pays for
one extra listing per worker, not one per part. Uploads created through this worker are
remembered from the start and cost nothing.

Sealing bucket and key into the id the client sees was the alternative; it needs a secret
shared by every worker and kept across restarts, which the gateway does not have for
buckets without backend credentials, and ids would no longer be the backend's own.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from multistore.core.backends.base import ListUploadsRequest, UploadsPage
from multistore.core.errors import NoSuchUpload

# Enough for every upload in flight through one worker; the oldest confirmations go first
# and are simply looked up again if they are used later.
MAX_REMEMBERED = 4096
# ListMultipartUploads pages of up to 1000 uploads each, for keys starting with the key.
MAX_PAGES = 20


class UploadLister(Protocol):
    async def list_multipart_uploads(self, request: ListUploadsRequest) -> UploadsPage: ...


class UploadBindings:
    """Which upload id belongs to which backend key, as confirmed by the backend."""

    def __init__(self, *, capacity: int = MAX_REMEMBERED) -> None:
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._capacity = capacity

    def remember(self, upload_id: str, key: str) -> None:
        self._keys[upload_id] = key
        self._keys.move_to_end(upload_id)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)

    def forget(self, upload_id: str) -> None:
        self._keys.pop(upload_id, None)

    async def check(self, backend: UploadLister, key: str, upload_id: str) -> None:
        """Raise ``NoSuchUpload`` unless ``upload_id`` is an upload of exactly ``key``."""
        known = self._keys.get(upload_id)
        if known is not None:
            if known != key:
                raise NoSuchUpload()
            self._keys.move_to_end(upload_id)
            return
        if not await _listed(backend, key, upload_id):
            raise NoSuchUpload()
        self.remember(upload_id, key)


async def _listed(backend: UploadLister, key: str, upload_id: str) -> bool:
    key_marker: str | None = None
    upload_id_marker: str | None = None
    for _ in range(MAX_PAGES):
        page = await backend.list_multipart_uploads(
            ListUploadsRequest(
                prefix=key,
                delimiter="",
                key_marker=key_marker,
                upload_id_marker=upload_id_marker,
                max_uploads=1000,
            )
        )
        if any(u.upload_id == upload_id and u.key == key for u in page.uploads):
            return True
        # S3 lists uploads in key order, and ``key`` sorts before every longer key with that
        # prefix: once a later key shows up, no upload of ``key`` itself can follow.
        if any(u.key > key for u in page.uploads) or page.next_key_marker is None:
            return False
        key_marker, upload_id_marker = page.next_key_marker, page.next_upload_id_marker
    return False
