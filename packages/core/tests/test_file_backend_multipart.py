"""Multipart uploads on the file backend, driven directly: S3's rules, atomicity, staging."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib
from collections.abc import Mapping
from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.core.backends.base import (
    CompletedPart,
    ListUploadsRequest,
    ObjectRequest,
    UploadsPage,
    WriteResult,
)
from multistore.core.backends.file import FileBackend
from multistore.core.errors import (
    AccessDenied,
    BadDigest,
    EntityTooSmall,
    IncompleteBody,
    InvalidArgument,
    InvalidPart,
    InvalidPartNumber,
    InvalidPartOrder,
    InvalidRequest,
    MalformedXML,
    NoSuchKey,
    NoSuchUpload,
    PreconditionFailed,
    S3Error,
)
from multistore.core.http import BytesBody, StreamingResponse

MiB = 1 << 20
SPECIAL_KEYS = [
    "report*.pdf",
    "100%.txt",
    "100%25.txt",
    "a=b",
    "by_country/country_iso=ETH/part 0.parquet",
    "dir with spaces/file name.txt",
    "ünïcødé/日本語 ✓.bin",
]


def request(key: str, headers: Mapping[str, str] | None = None) -> ObjectRequest:
    return ObjectRequest(key=key, headers=CIMultiDict(headers or {}))


async def create(store: FileBackend, key: str, headers: Mapping[str, str] | None = None) -> str:
    return await store.create_multipart_upload(request(key, headers))


async def upload(
    store: FileBackend,
    key: str,
    upload_id: str,
    number: int,
    data: bytes,
    headers: Mapping[str, str] | None = None,
) -> WriteResult:
    return await store.upload_part(
        request(key, headers), upload_id, number, BytesBody(data), len(data)
    )


async def complete(
    store: FileBackend,
    key: str,
    upload_id: str,
    parts: list[tuple[int, str]],
    headers: Mapping[str, str] | None = None,
) -> WriteResult:
    listed = [CompletedPart(number, etag) for number, etag in parts]
    return await store.complete_multipart_upload(request(key, headers), upload_id, listed)


async def read(store: FileBackend, key: str) -> tuple[CIMultiDict[str], bytes]:
    response = await store.get_object(request(key))
    try:
        data = b"".join([chunk async for chunk in response.body])
    finally:
        await response.close()
    return response.headers, data


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def expected_multipart_etag(parts: list[bytes]) -> str:
    """S3's multipart ETag, computed from the part bytes independently of the backend."""
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def temp_files(root: Path) -> list[str]:
    tmp = root / ".multistore" / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


def staged_uploads(root: Path) -> list[str]:
    uploads = root / ".multistore" / "uploads"
    return sorted(p.name for p in uploads.iterdir()) if uploads.exists() else []


async def upload_all(store: FileBackend, key: str, upload_id: str, parts: list[bytes]) -> list[str]:
    etags = []
    for number, data in enumerate(parts, start=1):
        etags.append((await upload(store, key, upload_id, number, data)).etag)
    return etags


# -- round trips ---------------------------------------------------------------------------


async def test_three_parts_and_a_tail_round_trip(backend: FileBackend, root: Path) -> None:
    parts = [os.urandom(5 * MiB) for _ in range(3)] + [os.urandom(12345)]
    upload_id = await create(
        backend,
        "big/object.bin",
        {
            "Content-Type": "application/x-parquet",
            "Cache-Control": "max-age=60",
            "x-amz-meta-Owner": "alice",
            "x-amz-storage-class": "STANDARD_IA",
        },
    )
    assert len(upload_id) == 32
    assert (root / ".multistore" / "uploads" / upload_id / "manifest.json").is_file()
    etags = await upload_all(backend, "big/object.bin", upload_id, parts)
    assert etags == [f'"{md5_hex(p)}"' for p in parts]

    result = await complete(backend, "big/object.bin", upload_id, list(enumerate(etags, 1)))

    assert result.etag == expected_multipart_etag(parts)
    assert result.last_modified is not None
    assert (root / "big" / "object.bin").read_bytes() == b"".join(parts)
    headers, data = await read(backend, "big/object.bin")
    assert data == b"".join(parts)
    assert headers["ETag"] == result.etag
    assert headers["Content-Type"] == "application/x-parquet"
    assert headers["Cache-Control"] == "max-age=60"
    assert headers["x-amz-meta-owner"] == "alice"
    assert headers["x-amz-storage-class"] == "STANDARD_IA"
    assert headers["Content-Length"] == str(15 * MiB + 12345)
    assert staged_uploads(root) == []
    assert temp_files(root) == []


async def test_a_repeated_complete_gets_the_same_answer(backend: FileBackend, root: Path) -> None:
    parts = [os.urandom(5 * MiB), b"tail"]
    upload_id = await create(backend, "retried", {"x-amz-checksum-algorithm": "CRC32"})
    etags = await upload_all(backend, "retried", upload_id, parts)
    first = await complete(backend, "retried", upload_id, list(enumerate(etags, 1)))
    assert staged_uploads(root) == []

    again = await complete(backend, "retried", upload_id, list(enumerate(etags, 1)))
    assert (again.etag, dict(again.headers), again.last_modified) == (
        first.etag,
        dict(first.headers),
        first.last_modified,
    )
    assert first.headers["x-amz-checksum-type"] == "COMPOSITE"
    for other_parts, key in (
        ([(1, etags[0])], "retried"),  # not the parts that were completed
        (list(enumerate(etags, 1)), "another-key"),  # the id belongs to another key
    ):
        with pytest.raises(NoSuchUpload):
            await complete(backend, key, upload_id, other_parts)
    with pytest.raises(NoSuchUpload):
        await upload(backend, "retried", upload_id, 3, b"too late")
    assert (await read(backend, "retried"))[1] == b"".join(parts)


async def test_completion_records_expire(backend: FileBackend, root: Path) -> None:
    upload_id = await create(backend, "old")
    etags = await upload_all(backend, "old", upload_id, [b"x"])
    await complete(backend, "old", upload_id, [(1, etags[0])])
    record = root / ".multistore" / "completed" / f"{upload_id}.json"
    assert record.is_file()
    an_hour_ago = time.time() - 3601
    os.utime(record, (an_hour_ago, an_hour_ago))
    with pytest.raises(NoSuchUpload):
        await complete(backend, "old", upload_id, [(1, etags[0])])
    await backend.cleanup_stale_uploads(3600)
    assert not record.exists()


# -- GET/HEAD ?partNumber ------------------------------------------------------------------


async def get_part(
    store: FileBackend, key: str, number: str, headers: Mapping[str, str] | None = None
) -> tuple[StreamingResponse, bytes]:
    query = {"partNumber": number}
    response = await store.get_object(
        ObjectRequest(key=key, headers=CIMultiDict(headers or {}), query=query)
    )
    try:
        data = b"".join([chunk async for chunk in response.body])
    finally:
        await response.close()
    return response, data


async def test_each_part_of_a_multipart_object_can_be_read(backend: FileBackend) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3), b"tail"]
    upload_id = await create(backend, "parted")
    etags = await upload_all(backend, "parted", upload_id, parts)
    # Listed with gaps in the numbers: part N of the object is the N-th listed part.
    await upload(backend, "parted", upload_id, 9, b"never listed")
    await complete(backend, "parted", upload_id, list(enumerate(etags, 1)))
    total = sum(map(len, parts))
    offset = 0
    for number, part in enumerate(parts, 1):
        response, data = await get_part(backend, "parted", str(number))
        assert response.status == 206
        assert data == part
        assert response.headers["x-amz-mp-parts-count"] == "3"
        assert response.headers["Content-Range"] == (
            f"bytes {offset}-{offset + len(part) - 1}/{total}"
        )
        assert response.content_length == len(part)
        head = await backend.head_object(
            ObjectRequest(key="parted", headers=CIMultiDict(), query={"partNumber": str(number)})
        )
        assert (head.status, head.content_length) == (206, len(part))
        assert head.headers["x-amz-mp-parts-count"] == "3"
        offset += len(part)
    with pytest.raises(InvalidPartNumber) as beyond:
        await get_part(backend, "parted", "4")
    assert beyond.value.status == 416
    with pytest.raises(InvalidRequest):
        await get_part(backend, "parted", "1", {"Range": "bytes=0-1"})
    for bad in ("0", "10001", "x", "-1", "\u0661"):  # the last: ARABIC-INDIC DIGIT ONE
        with pytest.raises(InvalidArgument):
            await get_part(backend, "parted", bad)
    with pytest.raises(PreconditionFailed):
        await get_part(backend, "parted", "1", {"If-Match": '"nope"'})


async def test_a_single_part_object_is_its_own_part_1(backend: FileBackend) -> None:
    await backend.put_object(request("single"), BytesBody(b"whole object"), 12)
    response, data = await get_part(backend, "single", "1")
    assert (response.status, data) == (206, b"whole object")
    assert response.headers["Content-Range"] == "bytes 0-11/12"
    assert "x-amz-mp-parts-count" not in response.headers
    with pytest.raises(InvalidPartNumber):
        await get_part(backend, "single", "2")


async def test_single_small_part_is_allowed(backend: FileBackend) -> None:
    upload_id = await create(backend, "tiny")
    etag = (await upload(backend, "tiny", upload_id, 1, b"only")).etag
    result = await complete(backend, "tiny", upload_id, [(1, etag)])
    assert result.etag == expected_multipart_etag([b"only"])
    headers, data = await read(backend, "tiny")
    assert data == b"only"
    assert headers["Content-Type"] == "application/octet-stream"


async def test_parts_uploaded_out_of_order_and_concurrently(backend: FileBackend) -> None:
    parts = {n: os.urandom(5 * MiB + n) for n in (1, 2, 3)}
    upload_id = await create(backend, "ooo")
    results = await asyncio.gather(
        *(upload(backend, "ooo", upload_id, n, parts[n]) for n in (3, 1, 2))
    )
    etags = dict(zip((3, 1, 2), (r.etag for r in results), strict=True))
    await complete(backend, "ooo", upload_id, [(n, etags[n]) for n in (1, 2, 3)])
    assert (await read(backend, "ooo"))[1] == parts[1] + parts[2] + parts[3]


async def test_gaps_in_part_numbers_are_fine(backend: FileBackend) -> None:
    upload_id = await create(backend, "gaps")
    first = os.urandom(5 * MiB)
    e1 = (await upload(backend, "gaps", upload_id, 2, first)).etag
    e2 = (await upload(backend, "gaps", upload_id, 7, b"tail")).etag
    await upload(backend, "gaps", upload_id, 9, b"never listed")
    result = await complete(backend, "gaps", upload_id, [(2, e1), (7, '"' + e2.strip('"') + '"')])
    assert result.etag == expected_multipart_etag([first, b"tail"])
    assert (await read(backend, "gaps"))[1] == first + b"tail"


async def test_reuploading_a_part_replaces_it(backend: FileBackend, root: Path) -> None:
    upload_id = await create(backend, "replaced")
    old = await upload(backend, "replaced", upload_id, 1, b"old bytes")
    new = await upload(backend, "replaced", upload_id, 1, b"new bytes")
    page = await backend.list_parts(
        request("replaced"), upload_id, max_parts=1000, part_number_marker=0
    )
    assert [(p.part_number, p.etag, p.size) for p in page.parts] == [(1, new.etag, 9)]
    with pytest.raises(InvalidPart):
        await complete(backend, "replaced", upload_id, [(1, old.etag)])
    await complete(backend, "replaced", upload_id, [(1, new.etag.strip('"'))])  # bare ETag ok
    assert (await read(backend, "replaced"))[1] == b"new bytes"
    assert temp_files(root) == []


# -- S3's completion rules -----------------------------------------------------------------


async def test_completion_rules_leave_no_object(backend: FileBackend, root: Path) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(100), os.urandom(5 * MiB)]
    upload_id = await create(backend, "rules")
    etags = await upload_all(backend, "rules", upload_id, parts)
    attempts: list[tuple[type[S3Error], list[tuple[int, str]]]] = [
        (InvalidPart, [(1, etags[0]), (2, '"0123456789abcdef0123456789abcdef"')]),
        (InvalidPart, [(1, etags[0]), (4, etags[1])]),
        (InvalidPart, [(0, etags[0])]),
        (InvalidPartOrder, [(2, etags[1]), (1, etags[0])]),
        (InvalidPartOrder, [(1, etags[0]), (1, etags[0])]),
        (EntityTooSmall, [(1, etags[0]), (2, etags[1]), (3, etags[2])]),
        (MalformedXML, []),
    ]
    for error, listed in attempts:
        with pytest.raises(error):
            await complete(backend, "rules", upload_id, listed)
        assert not (root / "rules").exists()
        assert temp_files(root) == []
    # The upload survived every refusal.
    await complete(backend, "rules", upload_id, [(1, etags[0]), (2, etags[1])])
    assert (await read(backend, "rules"))[1] == parts[0] + parts[1]


async def test_part_numbers_outside_1_to_10000(backend: FileBackend) -> None:
    upload_id = await create(backend, "numbers")
    for number in (0, -1, 10001):
        with pytest.raises(InvalidArgument):
            await upload(backend, "numbers", upload_id, number, b"x")
    assert (await upload(backend, "numbers", upload_id, 10000, b"x")).etag == f'"{md5_hex(b"x")}"'


async def test_short_part_body_stores_nothing(backend: FileBackend, root: Path) -> None:
    upload_id = await create(backend, "short")
    with pytest.raises(IncompleteBody):
        await backend.upload_part(request("short"), upload_id, 1, BytesBody(b"abc"), 10)
    with pytest.raises(IncompleteBody):
        await backend.upload_part(request("short"), upload_id, 1, BytesBody(b"abcdef"), 3)
    page = await backend.list_parts(request("short"), upload_id, max_parts=10, part_number_marker=0)
    assert page.parts == []
    assert temp_files(root) == []


async def test_content_md5_of_a_part_is_checked(backend: FileBackend, root: Path) -> None:
    upload_id = await create(backend, "md5")
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(BadDigest):
        await upload(backend, "md5", upload_id, 1, b"data", {"Content-MD5": wrong})
    right = base64.b64encode(hashlib.md5(b"data").digest()).decode()
    await upload(backend, "md5", upload_id, 1, b"data", {"Content-MD5": right})
    assert temp_files(root) == []


async def test_cancelled_part_upload_leaves_nothing(backend: FileBackend, root: Path) -> None:
    class StallingBody:
        def __init__(self) -> None:
            self.stalled = asyncio.Event()
            self.sent = False

        async def read(self, n: int = -1) -> bytes:
            if not self.sent:
                self.sent = True
                return b"x" * 1000
            self.stalled.set()
            await asyncio.Event().wait()
            return b""

    upload_id = await create(backend, "stalled")
    body = StallingBody()
    task = asyncio.create_task(backend.upload_part(request("stalled"), upload_id, 1, body, 5000))
    await body.stalled.wait()
    assert len(temp_files(root)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert temp_files(root) == []
    assert list((root / ".multistore" / "uploads" / upload_id).iterdir()) == [
        root / ".multistore" / "uploads" / upload_id / "manifest.json"
    ]


# -- abort and unknown uploads -------------------------------------------------------------


async def test_abort_then_everything_is_no_such_upload(backend: FileBackend, root: Path) -> None:
    upload_id = await create(backend, "aborted")
    etag = (await upload(backend, "aborted", upload_id, 1, os.urandom(MiB))).etag
    await backend.abort_multipart_upload(request("aborted"), upload_id)

    assert staged_uploads(root) == []
    assert temp_files(root) == []
    with pytest.raises(NoSuchUpload):
        await complete(backend, "aborted", upload_id, [(1, etag)])
    with pytest.raises(NoSuchUpload):
        await upload(backend, "aborted", upload_id, 2, b"late")
    with pytest.raises(NoSuchUpload):
        await backend.list_parts(request("aborted"), upload_id, max_parts=10, part_number_marker=0)
    with pytest.raises(NoSuchUpload):
        await backend.abort_multipart_upload(request("aborted"), upload_id)
    assert not (root / "aborted").exists()
    assert (await backend.list_multipart_uploads(ListUploadsRequest())).uploads == []
    assert temp_files(root) == []


@pytest.mark.parametrize(
    "upload_id", ["", "nope", "../../../etc", "manifest.json", "A" * 31, "A" * 32, "A" * 33]
)
async def test_unknown_upload_ids(backend: FileBackend, root: Path, upload_id: str) -> None:
    await create(backend, "known")  # the uploads directory exists
    with pytest.raises(NoSuchUpload):
        await upload(backend, "known", upload_id, 1, b"x")
    with pytest.raises(NoSuchUpload):
        await complete(backend, "known", upload_id, [(1, '"x"')])
    with pytest.raises(NoSuchUpload):
        await backend.abort_multipart_upload(request("known"), upload_id)
    assert temp_files(root) == []


async def test_upload_ids_belong_to_their_key(backend: FileBackend) -> None:
    upload_id = await create(backend, "mine")
    etag = (await upload(backend, "mine", upload_id, 1, b"x")).etag
    for operation in (
        upload(backend, "other", upload_id, 1, b"y"),
        complete(backend, "other", upload_id, [(1, etag)]),
        backend.abort_multipart_upload(request("other"), upload_id),
        backend.list_parts(request("other"), upload_id, max_parts=1, part_number_marker=0),
    ):
        with pytest.raises(NoSuchUpload):
            await operation
    await complete(backend, "mine", upload_id, [(1, etag)])


async def test_keys_the_file_system_cannot_hold_are_refused(backend: FileBackend) -> None:
    with pytest.raises(InvalidRequest, match="255 bytes"):
        await create(backend, "x" * 300)


async def test_without_an_upload_nothing_is_created(backend: FileBackend, root: Path) -> None:
    with pytest.raises(NoSuchUpload):
        await upload(backend, "k", "A" * 32, 1, b"x")
    assert (await backend.list_multipart_uploads(ListUploadsRequest())).uploads == []
    assert not (root / ".multistore").exists()


# -- conditional completion ----------------------------------------------------------------


async def test_if_none_match_on_complete_keeps_the_existing_object(
    backend: FileBackend, root: Path
) -> None:
    await backend.put_object(request("taken"), BytesBody(b"original"), 8)
    upload_id = await create(backend, "taken")
    etag = (await upload(backend, "taken", upload_id, 1, b"replacement")).etag
    with pytest.raises(PreconditionFailed):
        await complete(backend, "taken", upload_id, [(1, etag)], {"If-None-Match": "*"})
    assert (root / "taken").read_bytes() == b"original"
    assert temp_files(root) == []
    assert staged_uploads(root) == [upload_id]  # still there: retry or abort, as on S3

    original_etag = f'"{md5_hex(b"original")}"'
    with pytest.raises(PreconditionFailed):
        await complete(backend, "taken", upload_id, [(1, etag)], {"If-Match": '"0" '})
    await complete(backend, "taken", upload_id, [(1, etag)], {"If-Match": original_etag})
    assert (root / "taken").read_bytes() == b"replacement"


async def test_if_match_on_complete_of_a_missing_key(backend: FileBackend, root: Path) -> None:
    upload_id = await create(backend, "absent")
    etag = (await upload(backend, "absent", upload_id, 1, b"x")).etag
    with pytest.raises(NoSuchKey):
        await complete(backend, "absent", upload_id, [(1, etag)], {"If-Match": '"abc"'})
    assert not (root / "absent").exists()


async def test_concurrent_if_none_match_completes_have_one_winner(
    backend: FileBackend, root: Path
) -> None:
    bodies = [f"writer {i};".encode() * (20000 + i) for i in range(8)]
    uploads = []
    for data in bodies:
        upload_id = await create(backend, "contended")
        uploads.append((upload_id, (await upload(backend, "contended", upload_id, 1, data)).etag))

    async def attempt(upload_id: str, etag: str) -> str | None:
        try:
            result = await complete(
                backend, "contended", upload_id, [(1, etag)], {"If-None-Match": "*"}
            )
        except PreconditionFailed:
            return None
        return result.etag

    results = await asyncio.gather(*(attempt(u, e) for u, e in uploads))
    winners = [i for i, etag in enumerate(results) if etag is not None]
    assert len(winners) == 1
    assert (root / "contended").read_bytes() == bodies[winners[0]]
    assert results[winners[0]] == expected_multipart_etag([bodies[winners[0]]])
    remaining = await backend.list_multipart_uploads(ListUploadsRequest())
    assert len(remaining.uploads) == len(bodies) - 1
    assert temp_files(root) == []


async def test_complete_onto_a_prefix_is_refused_and_keeps_the_upload(
    backend: FileBackend, root: Path
) -> None:
    await backend.put_object(request("dir/inner"), BytesBody(b"x"), 1)
    upload_id = await create(backend, "dir")
    etag = (await upload(backend, "dir", upload_id, 1, b"x")).etag
    with pytest.raises(InvalidRequest):
        await complete(backend, "dir", upload_id, [(1, etag)])
    assert temp_files(root) == []
    assert staged_uploads(root) == [upload_id]


async def test_complete_through_a_symlink_is_refused(
    backend: FileBackend, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    upload_id = await create(backend, "link/x")
    etag = (await upload(backend, "link/x", upload_id, 1, b"x")).etag
    with pytest.raises(AccessDenied):
        await complete(backend, "link/x", upload_id, [(1, etag)])
    assert list(outside.iterdir()) == []
    assert temp_files(root) == []


# -- checksums -----------------------------------------------------------------------------


async def test_composite_crc32_checksum(backend: FileBackend) -> None:
    parts = [os.urandom(5 * MiB), b"tail bytes"]
    upload_id = await create(backend, "crc", {"x-amz-checksum-algorithm": "crc32"})
    sent = await upload(
        backend, "crc", upload_id, 1, parts[0], {"x-amz-checksum-crc32": crc32_b64(parts[0])}
    )
    # The second part's checksum came in a trailer the gateway does not pass on: computed.
    computed = await upload(backend, "crc", upload_id, 2, parts[1])
    assert sent.headers["x-amz-checksum-crc32"] == crc32_b64(parts[0])
    assert computed.headers["x-amz-checksum-crc32"] == crc32_b64(parts[1])

    page = await backend.list_parts(request("crc"), upload_id, max_parts=10, part_number_marker=0)
    assert page.checksum_algorithm == "CRC32"
    assert [dict(p.checksums) for p in page.parts] == [
        {"ChecksumCRC32": crc32_b64(parts[0])},
        {"ChecksumCRC32": crc32_b64(parts[1])},
    ]
    wrong = [
        CompletedPart(1, sent.etag, {"ChecksumCRC32": crc32_b64(parts[0])}),
        CompletedPart(2, computed.etag, {"ChecksumCRC32": crc32_b64(b"something else")}),
    ]
    with pytest.raises(InvalidPart):
        await backend.complete_multipart_upload(request("crc"), upload_id, wrong)

    listed = [
        CompletedPart(1, sent.etag, {"ChecksumCRC32": crc32_b64(parts[0])}),
        CompletedPart(2, computed.etag, {"ChecksumCRC32": crc32_b64(parts[1])}),
    ]
    result = await backend.complete_multipart_upload(request("crc"), upload_id, listed)
    raw = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    assert result.headers["x-amz-checksum-crc32"] == f"{crc32_b64(raw)}-2"
    assert result.headers["x-amz-checksum-type"] == "COMPOSITE"
    headers, _ = await read(backend, "crc")
    assert "x-amz-checksum-crc32" not in headers  # never on GET/HEAD: see file_multipart


async def test_full_object_crc32_checksum(backend: FileBackend, root: Path) -> None:
    parts = [os.urandom(5 * MiB), os.urandom(1000)]
    whole = crc32_b64(parts[0] + parts[1])
    create_headers = {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"}
    upload_id = await create(backend, "full", create_headers)
    etags = await upload_all(backend, "full", upload_id, parts)
    listed = list(enumerate(etags, 1))

    with pytest.raises(BadDigest):
        await complete(
            backend, "full", upload_id, listed, {"x-amz-checksum-crc32": crc32_b64(b"x")}
        )
    assert not (root / "full").exists()
    assert temp_files(root) == []

    result = await complete(backend, "full", upload_id, listed, {"x-amz-checksum-crc32": whole})
    assert result.headers["x-amz-checksum-crc32"] == whole
    assert result.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    assert result.etag == expected_multipart_etag(parts)


async def test_checksum_choices_s3_refuses(backend: FileBackend) -> None:
    for headers in (
        {"x-amz-checksum-algorithm": "MD4"},
        {"x-amz-checksum-algorithm": "SHA256", "x-amz-checksum-type": "FULL_OBJECT"},
        {"x-amz-checksum-algorithm": "CRC64NVME", "x-amz-checksum-type": "COMPOSITE"},
        {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "SOMETIMES"},
    ):
        with pytest.raises(InvalidRequest):
            await create(backend, "k", headers)
    upload_id = await create(backend, "k", {"x-amz-checksum-algorithm": "CRC32"})
    sha = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    with pytest.raises(InvalidRequest):
        await upload(backend, "k", upload_id, 1, b"x", {"x-amz-checksum-sha256": sha})


# -- listing -------------------------------------------------------------------------------


async def test_list_parts_pages(backend: FileBackend) -> None:
    upload_id = await create(backend, "listed", {"x-amz-storage-class": "GLACIER_IR"})
    data = {n: f"part {n}".encode() * n for n in range(1, 6)}
    for n in (5, 3, 1, 4, 2):
        await upload(backend, "listed", upload_id, n, data[n])

    async def page(marker: int, size: int) -> tuple[list[int], int | None]:
        result = await backend.list_parts(
            request("listed"), upload_id, max_parts=size, part_number_marker=marker
        )
        assert result.storage_class == "GLACIER_IR"
        assert result.checksum_algorithm is None
        for part in result.parts:
            assert part.etag == f'"{md5_hex(data[part.part_number])}"'
            assert part.size == len(data[part.part_number])
        return [p.part_number for p in result.parts], result.next_part_number_marker

    assert await page(0, 2) == ([1, 2], 2)
    assert await page(2, 2) == ([3, 4], 4)
    assert await page(4, 2) == ([5], None)
    assert await page(0, 1000) == ([1, 2, 3, 4, 5], None)
    assert await page(5, 10) == ([], None)


async def test_list_uploads_order_prefix_delimiter_and_markers(backend: FileBackend) -> None:
    ids: dict[str, list[str]] = {}
    for key in ["b", "a/1", "a/2", "a/1", "c/d/e", "c/f", "top"]:
        ids.setdefault(key, []).append(await create(backend, key))

    everything = await backend.list_multipart_uploads(ListUploadsRequest())
    expected = [
        ("a/1", ids["a/1"][0]), ("a/1", ids["a/1"][1]), ("a/2", ids["a/2"][0]),
        ("b", ids["b"][0]), ("c/d/e", ids["c/d/e"][0]), ("c/f", ids["c/f"][0]),
        ("top", ids["top"][0]),
    ]  # fmt: skip
    assert [(u.key, u.upload_id) for u in everything.uploads] == expected
    assert everything.next_key_marker is None

    walked: list[tuple[str, str]] = []
    pages = 0
    listing = ListUploadsRequest(max_uploads=2)
    while True:
        page = await backend.list_multipart_uploads(listing)
        pages += 1
        walked += [(u.key, u.upload_id) for u in page.uploads]
        if page.next_key_marker is None:
            break
        listing = ListUploadsRequest(
            max_uploads=2,
            key_marker=page.next_key_marker,
            upload_id_marker=page.next_upload_id_marker,
        )
    assert walked == expected
    assert pages == 4

    grouped = await backend.list_multipart_uploads(ListUploadsRequest(delimiter="/"))
    assert grouped.common_prefixes == ["a/", "c/"]
    assert [u.key for u in grouped.uploads] == ["b", "top"]

    first = await backend.list_multipart_uploads(ListUploadsRequest(delimiter="/", max_uploads=1))
    assert (first.common_prefixes, first.next_key_marker) == (["a/"], "a/")
    assert first.next_upload_id_marker is None
    rest = await backend.list_multipart_uploads(ListUploadsRequest(delimiter="/", key_marker="a/"))
    assert (rest.common_prefixes, [u.key for u in rest.uploads]) == (["c/"], ["b", "top"])

    under_c = await backend.list_multipart_uploads(ListUploadsRequest(prefix="c/", delimiter="/"))
    assert (under_c.common_prefixes, [u.key for u in under_c.uploads]) == (["c/d/"], ["c/f"])

    after_key = await backend.list_multipart_uploads(ListUploadsRequest(key_marker="a/1"))
    assert [u.key for u in after_key.uploads] == ["a/2", "b", "c/d/e", "c/f", "top"]
    after_first = await backend.list_multipart_uploads(
        ListUploadsRequest(key_marker="a/1", upload_id_marker=ids["a/1"][0])
    )
    assert after_first.uploads[0].upload_id == ids["a/1"][1]

    # The marker upload was aborted between pages: resume after its whole key.
    await backend.abort_multipart_upload(request("a/1"), ids["a/1"][0])
    resumed = await backend.list_multipart_uploads(
        ListUploadsRequest(key_marker="a/1", upload_id_marker=ids["a/1"][0])
    )
    assert resumed.uploads[0].key == "a/2"
    assert await backend.list_multipart_uploads(ListUploadsRequest(max_uploads=0)) == UploadsPage()


async def test_list_uploads_reports_initiation_and_storage_class(backend: FileBackend) -> None:
    before = time.time()
    await create(backend, "glacier", {"x-amz-storage-class": "GLACIER"})
    page = await backend.list_multipart_uploads(ListUploadsRequest())
    assert page.uploads[0].storage_class == "GLACIER"
    assert before - 1 <= page.uploads[0].initiated.timestamp() <= time.time() + 1


# -- keys ----------------------------------------------------------------------------------


async def test_special_keys_through_multipart(backend: FileBackend, root: Path) -> None:
    pending: dict[str, str] = {}
    for index, key in enumerate(SPECIAL_KEYS):
        upload_id = await create(backend, key, {"Content-Type": "text/plain"})
        etag = (await upload(backend, key, upload_id, 1, f"content {index}".encode())).etag
        await complete(backend, key, upload_id, [(1, etag)])
        pending[key] = await create(backend, key)
    for index, key in enumerate(SPECIAL_KEYS):
        assert root.joinpath(*key.split("/")).read_bytes() == f"content {index}".encode()
        assert (await read(backend, key))[1] == f"content {index}".encode()
    top_level = set(os.listdir(root)) - {".multistore"}
    assert top_level == {key.split("/")[0] for key in SPECIAL_KEYS}
    listed = await backend.list_multipart_uploads(ListUploadsRequest())
    assert [(u.key, u.upload_id) for u in listed.uploads] == sorted(pending.items())
    for key, upload_id in pending.items():
        parts = await backend.list_parts(request(key), upload_id, max_parts=1, part_number_marker=0)
        assert parts.parts == []
        await backend.abort_multipart_upload(request(key), upload_id)
    assert staged_uploads(root) == []


async def test_abort_racing_complete_has_one_outcome(backend: FileBackend, root: Path) -> None:
    async def abort_after(delay: float, key: str, upload_id: str) -> None:
        await asyncio.sleep(delay)
        await backend.abort_multipart_upload(request(key), upload_id)

    outcomes = set()
    for round_, delay in enumerate([0.0] + [0.001 * 2**n for n in range(9)]):
        key = f"race/{round_}"
        upload_id = await create(backend, key)
        etags = await upload_all(backend, key, upload_id, [os.urandom(5 * MiB), b"tail"])
        # From "abort first" through "abort mid-assembly" to "abort after the commit".
        completed, aborted = await asyncio.gather(
            complete(backend, key, upload_id, list(enumerate(etags, 1))),
            abort_after(delay, key, upload_id),
            return_exceptions=True,
        )
        outcomes.add(type(completed))
        if isinstance(completed, WriteResult):
            assert isinstance(aborted, NoSuchUpload)
            assert (root / "race" / str(round_)).stat().st_size == 5 * MiB + 4
        else:
            assert isinstance(completed, NoSuchUpload)
            assert aborted is None
            assert not (root / "race" / str(round_)).exists()
    assert outcomes == {WriteResult, NoSuchUpload}
    assert staged_uploads(root) == []
    assert temp_files(root) == []


# -- stale uploads -------------------------------------------------------------------------


async def test_cleanup_stale_uploads(backend: FileBackend, root: Path) -> None:
    old = await create(backend, "old")
    await upload(backend, "old", old, 1, b"abandoned")
    await asyncio.sleep(0.3)
    fresh = await create(backend, "fresh")
    tmp = root / ".multistore" / "tmp"
    (tmp / "crashed.upload").write_bytes(b"half a body")
    os.utime(tmp / "crashed.upload", (time.time() - 3600, time.time() - 3600))
    (tmp / "in-flight.upload").write_bytes(b"still arriving")

    assert await backend.cleanup_stale_uploads(3600) == 0
    assert staged_uploads(root) == sorted([old, fresh])

    assert await backend.cleanup_stale_uploads(0.2) == 1
    assert staged_uploads(root) == [fresh]
    assert temp_files(root) == ["in-flight.upload"]
    with pytest.raises(NoSuchUpload):
        await complete(backend, "old", old, [(1, f'"{md5_hex(b"abandoned")}"')])
    etag = (await upload(backend, "fresh", fresh, 1, b"kept")).etag
    await complete(backend, "fresh", fresh, [(1, etag)])
    assert (root / "fresh").read_bytes() == b"kept"


async def test_no_descriptor_leaks(backend: FileBackend) -> None:
    # Opens the backend's own long-lived directories (tmp, uploads, meta, locks).
    for ending in ("complete", "abort"):
        warm = await create(backend, "warm")
        etag = (await upload(backend, "warm", warm, 1, b"x")).etag
        if ending == "complete":
            await complete(backend, "warm", warm, [(1, etag)])
        else:
            await backend.abort_multipart_upload(request("warm"), warm)
    before = sorted(os.listdir("/proc/self/fd"))
    for round_ in range(3):
        upload_id = await create(backend, f"k{round_}")
        etag = (await upload(backend, f"k{round_}", upload_id, 1, b"x" * 1000)).etag
        for failing in (
            complete(backend, f"k{round_}", upload_id, [(1, '"bad"')]),
            complete(backend, f"k{round_}", upload_id, [(2, etag)]),
            upload(backend, f"k{round_}", "B" * 32, 1, b"x"),
        ):
            with pytest.raises(S3Error):
                await failing
        await backend.list_parts(
            request(f"k{round_}"), upload_id, max_parts=5, part_number_marker=0
        )
        await backend.list_multipart_uploads(ListUploadsRequest())
        await complete(backend, f"k{round_}", upload_id, [(1, etag)])
    assert sorted(os.listdir("/proc/self/fd")) == before
