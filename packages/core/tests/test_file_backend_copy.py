"""CopyObject and UploadPartCopy on the file backend, driven directly."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.core.backends.base import BackendServices, CompletedPart, ObjectRequest
from multistore.core.backends.file import FileBackend
from multistore.core.config import BucketConfig
from multistore.core.errors import (
    AccessDenied,
    InvalidArgument,
    InvalidRequest,
    NoSuchKey,
    NoSuchUpload,
    PreconditionFailed,
)
from multistore.core.http import BytesBody
from multistore.core.s3.xml import http_date

MiB = 1 << 20
SPECIAL_KEYS = [
    "report*.pdf",
    "100%.txt",
    "100%25.txt",
    "a=b",
    "dir with spaces/file name.txt",
    "ünïcødé/日本語 ✓.bin",
]


def make_backend(root: Path) -> FileBackend:
    config = BucketConfig(name="files", backend_type="file", backend_options={"root": str(root)})
    return FileBackend(config, BackendServices())


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "bucket"
    path.mkdir()
    return path


@pytest.fixture
async def backend(root: Path) -> AsyncIterator[FileBackend]:
    store = make_backend(root)
    yield store
    await store.close()


@pytest.fixture
async def other(tmp_path: Path) -> AsyncIterator[FileBackend]:
    path = tmp_path / "other-bucket"
    path.mkdir()
    store = make_backend(path)
    yield store
    await store.close()


def request(key: str, headers: Mapping[str, str] | None = None) -> ObjectRequest:
    return ObjectRequest(key=key, headers=CIMultiDict(headers or {}))


async def put(
    store: FileBackend, key: str, data: bytes, headers: Mapping[str, str] | None = None
) -> str:
    response = await store.put_object(request(key, headers), BytesBody(data), len(data))
    return response.headers["ETag"]


async def read(store: FileBackend, key: str) -> tuple[CIMultiDict[str], bytes]:
    response = await store.get_object(request(key))
    try:
        data = b"".join([chunk async for chunk in response.body])
    finally:
        await response.close()
    return response.headers, data


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def temp_files(root: Path) -> list[str]:
    tmp = root / ".multistore" / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


SOURCE_HEADERS = {
    "Content-Type": "text/csv",
    "Content-Disposition": "attachment",
    "x-amz-meta-origin": "source",
    "x-amz-storage-class": "GLACIER",
}


# -- CopyObject ----------------------------------------------------------------------------


async def test_copy_keeps_metadata_but_not_storage_class(backend: FileBackend, root: Path) -> None:
    data = os.urandom(3 * MiB + 7)
    await put(backend, "src/data.csv", data, SOURCE_HEADERS)
    result = await backend.copy_object(request("dst/copy.csv"), backend, "src/data.csv", None)

    assert result.etag == md5_etag(data)
    assert result.last_modified is not None
    assert (root / "dst" / "copy.csv").read_bytes() == data
    headers, body = await read(backend, "dst/copy.csv")
    assert body == data
    assert headers["ETag"] == result.etag
    assert headers["Content-Type"] == "text/csv"
    assert headers["Content-Disposition"] == "attachment"
    assert headers["x-amz-meta-origin"] == "source"
    assert "x-amz-storage-class" not in headers  # S3: a copy is STANDARD unless asked
    assert temp_files(root) == []


async def test_copy_with_storage_class_and_copy_directive(backend: FileBackend) -> None:
    await put(backend, "src", b"x", SOURCE_HEADERS)
    await backend.copy_object(
        request("dst", {"x-amz-storage-class": "STANDARD_IA", "Content-Type": "ignored/here"}),
        backend,
        "src",
        None,
    )
    headers, _ = await read(backend, "dst")
    assert headers["x-amz-storage-class"] == "STANDARD_IA"
    assert headers["Content-Type"] == "text/csv"  # COPY ignores the request's content headers


async def test_copy_with_replace_directive(backend: FileBackend) -> None:
    await put(backend, "src", b"payload", SOURCE_HEADERS)
    await backend.copy_object(
        request(
            "dst",
            {
                "x-amz-metadata-directive": "REPLACE",
                "Content-Type": "application/json",
                "x-amz-meta-fresh": "yes",
            },
        ),
        backend,
        "src",
        None,
    )
    headers, body = await read(backend, "dst")
    assert body == b"payload"
    assert headers["Content-Type"] == "application/json"
    assert headers["x-amz-meta-fresh"] == "yes"
    assert "x-amz-meta-origin" not in headers
    assert "Content-Disposition" not in headers


async def test_unknown_directive(backend: FileBackend) -> None:
    await put(backend, "src", b"x")
    with pytest.raises(InvalidArgument):
        await backend.copy_object(
            request("dst", {"x-amz-metadata-directive": "MERGE"}), backend, "src", None
        )


async def test_copy_onto_itself(backend: FileBackend) -> None:
    await put(backend, "self", b"same", SOURCE_HEADERS)
    with pytest.raises(InvalidRequest, match="illegal"):
        await backend.copy_object(request("self"), backend, "self", None)
    await backend.copy_object(
        request("self", {"x-amz-metadata-directive": "REPLACE", "Content-Type": "text/plain"}),
        backend,
        "self",
        None,
    )
    headers, body = await read(backend, "self")
    assert (body, headers["Content-Type"]) == (b"same", "text/plain")
    assert "x-amz-meta-origin" not in headers
    await backend.copy_object(
        request("self", {"x-amz-storage-class": "GLACIER"}), backend, "self", None
    )
    headers, body = await read(backend, "self")
    assert (body, headers["x-amz-storage-class"]) == (b"same", "GLACIER")


async def test_copy_source_conditions(backend: FileBackend) -> None:
    etag = await put(backend, "src", b"conditional")
    last_modified = (await backend.head_object(request("src"))).headers["Last-Modified"]
    moment = parsedate_to_datetime(last_modified)
    earlier = http_date(moment - timedelta(days=1))
    later = http_date(moment + timedelta(hours=1))  # +1 s could be the past by the time it is read

    allowed = [
        {"x-amz-copy-source-if-match": etag},
        {"x-amz-copy-source-if-match": etag.strip('"')},
        {"x-amz-copy-source-if-none-match": '"other"'},
        {"x-amz-copy-source-if-modified-since": earlier},
        {"x-amz-copy-source-if-unmodified-since": last_modified},
        # S3: If-Match true wins over If-Unmodified-Since false.
        {"x-amz-copy-source-if-match": etag, "x-amz-copy-source-if-unmodified-since": earlier},
    ]
    refused = [
        {"x-amz-copy-source-if-match": '"other"'},
        {"x-amz-copy-source-if-none-match": etag},
        {"x-amz-copy-source-if-none-match": "*"},
        {"x-amz-copy-source-if-modified-since": last_modified},
        {"x-amz-copy-source-if-unmodified-since": earlier},
        # S3: If-None-Match false with If-Modified-Since true is still 412.
        {"x-amz-copy-source-if-none-match": etag, "x-amz-copy-source-if-modified-since": earlier},
    ]
    for index, headers in enumerate(allowed):
        await backend.copy_object(request(f"ok/{index}", headers), backend, "src", None)
        assert (await read(backend, f"ok/{index}"))[1] == b"conditional"
    for index, headers in enumerate(refused):
        with pytest.raises(PreconditionFailed):
            await backend.copy_object(request(f"no/{index}", headers), backend, "src", None)
    assert not (backend.root / "no").exists()
    # A future If-Modified-Since is ignored, as on GET.
    await backend.copy_object(
        request("future", {"x-amz-copy-source-if-modified-since": later}), backend, "src", None
    )


async def test_destination_conditions(backend: FileBackend, root: Path) -> None:
    await put(backend, "src", b"new bytes")
    existing = await put(backend, "dst", b"old bytes")
    with pytest.raises(PreconditionFailed):
        await backend.copy_object(request("dst", {"If-None-Match": "*"}), backend, "src", None)
    with pytest.raises(PreconditionFailed):
        await backend.copy_object(request("dst", {"If-Match": '"nope"'}), backend, "src", None)
    with pytest.raises(NoSuchKey):
        await backend.copy_object(request("absent", {"If-Match": existing}), backend, "src", None)
    assert (root / "dst").read_bytes() == b"old bytes"
    assert temp_files(root) == []
    await backend.copy_object(request("dst", {"If-Match": existing}), backend, "src", None)
    await backend.copy_object(request("fresh", {"If-None-Match": "*"}), backend, "src", None)
    assert (root / "dst").read_bytes() == (root / "fresh").read_bytes() == b"new bytes"


async def test_copy_between_two_roots(backend: FileBackend, other: FileBackend, root: Path) -> None:
    data = os.urandom(2 * MiB)
    await put(other, "shared/key", data, SOURCE_HEADERS)
    assert backend.can_copy_from(other)
    assert other.can_copy_from(backend)
    # The same key in another root is not "onto itself".
    result = await backend.copy_object(request("shared/key"), other, "shared/key", None)
    assert result.etag == md5_etag(data)
    assert (root / "shared" / "key").read_bytes() == data
    headers, _ = await read(backend, "shared/key")
    assert headers["x-amz-meta-origin"] == "source"
    await other.copy_object(request("back"), backend, "shared/key", None)
    assert (await read(other, "back"))[1] == data


async def test_copy_of_a_multipart_object_gets_an_md5_etag(backend: FileBackend) -> None:
    parts = [os.urandom(5 * MiB), b"tail"]
    upload_id = await backend.create_multipart_upload(request("mpu"))
    etags = [
        (await backend.upload_part(request("mpu"), upload_id, n, BytesBody(p), len(p))).etag
        for n, p in enumerate(parts, 1)
    ]
    completed = await backend.complete_multipart_upload(
        request("mpu"), upload_id, [CompletedPart(n, e) for n, e in enumerate(etags, 1)]
    )
    assert completed.etag.endswith('-2"')
    copied = await backend.copy_object(request("copy"), backend, "mpu", None)
    assert copied.etag == md5_etag(b"".join(parts))


async def test_copy_of_a_file_placed_by_hand(backend: FileBackend, root: Path) -> None:
    (root / "by-hand.txt").write_bytes(b"hand made")
    result = await backend.copy_object(request("copied.txt"), backend, "by-hand.txt", None)
    assert result.etag == md5_etag(b"hand made")
    headers, _ = await read(backend, "copied.txt")
    assert headers["Content-Type"] == "application/octet-stream"


async def test_copy_source_errors(backend: FileBackend, root: Path, tmp_path: Path) -> None:
    await put(backend, "src", b"x")
    with pytest.raises(NoSuchKey):
        await backend.copy_object(request("dst"), backend, "missing", None)
    with pytest.raises(InvalidArgument):
        await backend.copy_object(request("dst"), backend, "src", "3HL4kqtJlcpXroDTDmJ")
    with pytest.raises(NoSuchKey):
        await backend.copy_object(request("dst"), backend, ".multistore/meta", None)
    with pytest.raises(InvalidRequest, match="255 bytes"):
        await backend.copy_object(request("x" * 300), backend, "src", None)
    (tmp_path / "secret").write_bytes(b"secret")
    (root / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(AccessDenied):
        await backend.copy_object(request("dst"), backend, "link", None)
    await backend.copy_object(request("dst"), backend, "src", "null")
    assert (root / "dst").read_bytes() == b"x"
    assert temp_files(root) == []


async def test_special_keys_through_copy(backend: FileBackend, root: Path) -> None:
    sources = {key: f"content of {key}".encode() for key in SPECIAL_KEYS}
    for key, data in sources.items():
        await put(backend, f"in/{key}", data)
    for key, data in sources.items():
        await backend.copy_object(request(f"out/{key}"), backend, f"in/{key}", None)
        assert root.joinpath("out", *key.split("/")).read_bytes() == data
    assert {p.name for p in (root / "out").iterdir()} == {k.split("/")[0] for k in SPECIAL_KEYS}


# -- UploadPartCopy ------------------------------------------------------------------------


async def test_upload_part_copy_with_a_range(
    backend: FileBackend, other: FileBackend, root: Path
) -> None:
    source = os.urandom(8 * MiB)
    await put(other, "100%.bin", source)
    upload_id = await backend.create_multipart_upload(
        request("a=b/assembled", {"Content-Type": "video/mp4"})
    )
    first = await backend.upload_part_copy(
        request("a=b/assembled"), upload_id, 1, other, "100%.bin", (1000, 1000 + 5 * MiB - 1)
    )
    assert first.etag == md5_etag(source[1000 : 1000 + 5 * MiB])
    assert first.last_modified is not None
    second = await backend.upload_part_copy(
        request("a=b/assembled"), upload_id, 2, other, "100%.bin", None
    )
    assert second.etag == md5_etag(source)
    tail = await backend.upload_part(request("a=b/assembled"), upload_id, 3, BytesBody(b"tail"), 4)
    await backend.complete_multipart_upload(
        request("a=b/assembled"),
        upload_id,
        [CompletedPart(1, first.etag), CompletedPart(2, second.etag), CompletedPart(3, tail.etag)],
    )
    expected = source[1000 : 1000 + 5 * MiB] + source + b"tail"
    assert (root / "a=b" / "assembled").read_bytes() == expected
    headers, _ = await read(backend, "a=b/assembled")
    assert headers["Content-Type"] == "video/mp4"
    assert temp_files(root) == []


async def test_upload_part_copy_refusals(backend: FileBackend, root: Path) -> None:
    etag = await put(backend, "src", b"0123456789")
    upload_id = await backend.create_multipart_upload(request("dst"))
    for bad_range in [(5, 10), (8, 3), (-1, 2), (10, 10)]:
        with pytest.raises(InvalidArgument):
            await backend.upload_part_copy(request("dst"), upload_id, 1, backend, "src", bad_range)
    with pytest.raises(PreconditionFailed):
        await backend.upload_part_copy(
            request("dst", {"x-amz-copy-source-if-none-match": etag}),
            upload_id,
            1,
            backend,
            "src",
            None,
        )
    with pytest.raises(NoSuchUpload):
        await backend.upload_part_copy(request("dst"), "C" * 32, 1, backend, "src", None)
    with pytest.raises(InvalidArgument):
        await backend.upload_part_copy(request("dst"), upload_id, 0, backend, "src", None)
    page = await backend.list_parts(request("dst"), upload_id, max_parts=5, part_number_marker=0)
    assert page.parts == []
    last = await backend.upload_part_copy(request("dst"), upload_id, 1, backend, "src", (9, 9))
    assert last.etag == md5_etag(b"9")
    assert temp_files(root) == []


async def test_upload_part_copy_computes_the_upload_checksum(backend: FileBackend) -> None:
    await put(backend, "src", b"checksummed bytes")
    upload_id = await backend.create_multipart_upload(
        request("dst", {"x-amz-checksum-algorithm": "CRC32"})
    )
    result = await backend.upload_part_copy(request("dst"), upload_id, 1, backend, "src", (0, 10))
    expected = base64.b64encode(zlib.crc32(b"checksummed").to_bytes(4, "big")).decode()
    assert result.headers["x-amz-checksum-crc32"] == expected


async def test_can_copy_only_from_file_backends(backend: FileBackend) -> None:
    assert not backend.can_copy_from(object())  # type: ignore[arg-type]
