"""ListMultipartUploads over the manifests of the uploads in progress.

Order is S3's: by key, then by initiation time (then id, for uploads started in the same
nanosecond). ``key-marker`` alone resumes after every upload of that key;
``key-marker`` + ``upload-id-marker`` resumes after that one upload of the key — or, if it
was completed or aborted meanwhile, after every upload of the key, since its place in the
order is gone. With a delimiter, uploads roll up into common prefixes as in ListObjects, a
common prefix counting as one entry; a common prefix at or before ``key-marker`` is not
repeated.
"""

from __future__ import annotations

from collections.abc import Iterable

from multistore.core.backends.base import ListUploadsRequest, UploadInfo, UploadsPage
from multistore.core.backends.file.uploads import UploadManifest


def uploads_page(manifests: Iterable[UploadManifest], request: ListUploadsRequest) -> UploadsPage:
    page = UploadsPage()
    if request.max_uploads <= 0:
        return page
    ordered = sorted(
        (m for m in manifests if m.key.startswith(request.prefix)),
        key=lambda m: (m.key, m.initiated_ns, m.upload_id),
    )
    marker = request.key_marker
    last_prefix: str | None = None
    last_entry: tuple[str, str | None] | None = None  # (key or common prefix, upload id)
    for manifest in ordered[_start(ordered, request) :]:
        common = _common_prefix(manifest.key, request.prefix, request.delimiter)
        if common is not None and (
            common == last_prefix or (marker is not None and common <= marker)
        ):
            continue
        if len(page.uploads) + len(page.common_prefixes) == request.max_uploads:
            assert last_entry is not None
            page.next_key_marker, page.next_upload_id_marker = last_entry
            break
        if common is not None:
            page.common_prefixes.append(common)
            last_prefix = common
            last_entry = (common, None)
        else:
            page.uploads.append(
                UploadInfo(
                    key=manifest.key,
                    upload_id=manifest.upload_id,
                    initiated=manifest.initiated,
                    storage_class=manifest.storage_class,
                )
            )
            last_entry = (manifest.key, manifest.upload_id)
    return page


def _start(ordered: list[UploadManifest], request: ListUploadsRequest) -> int:
    marker = request.key_marker
    if marker is None:
        return 0
    after_key = next((i for i, m in enumerate(ordered) if m.key > marker), len(ordered))
    if request.upload_id_marker:
        for index, manifest in enumerate(ordered[:after_key]):
            if manifest.key == marker and manifest.upload_id == request.upload_id_marker:
                return index + 1
    return after_key


def _common_prefix(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    position = key.find(delimiter, len(prefix))
    return None if position < 0 else key[: position + len(delimiter)]
