"""The file backend driven directly: bytes, metadata, conditions, atomicity, confinement."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.core.backends.base import BackendServices, ListRequest, ObjectRequest
from multistore.core.backends.file import FileBackend
from multistore.core.config import BucketConfig
from multistore.core.errors import (
    AccessDenied,
    BadDigest,
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidDigest,
    InvalidRange,
    InvalidRequest,
    NoSuchKey,
    NotModified,
    PreconditionFailed,
    S3Error,
    XAmzContentSHA256Mismatch,
)
from multistore.core.http import BytesBody, Response, StreamingResponse

MiB = 1 << 20


def request(
    key: str, headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None
) -> ObjectRequest:
    return ObjectRequest(key=key, headers=CIMultiDict(headers or {}), query=dict(query or {}))


async def put(
    store: FileBackend, key: str, data: bytes, headers: Mapping[str, str] | None = None
) -> Response:
    return await store.put_object(request(key, headers), BytesBody(data), len(data))


async def get(
    store: FileBackend,
    key: str,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
) -> tuple[StreamingResponse, bytes]:
    response = await store.get_object(request(key, headers, query))
    try:
        data = b"".join([chunk async for chunk in response.body])
    finally:
        await response.close()
    return response, data


def md5_etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def leftovers(root: Path) -> list[str]:
    """Uploads still sitting in the backend's temp directory."""
    tmp = root / ".multistore" / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.exists() else []


class ChunkedBody:
    """A body that arrives in small uneven pieces and yields to the loop between them."""

    def __init__(self, data: bytes, piece: int) -> None:
        self._data = data
        self._offset = 0
        self._piece = piece

    async def read(self, n: int = -1) -> bytes:
        await asyncio.sleep(0)
        size = self._piece if n < 0 else min(n, self._piece)
        chunk = self._data[self._offset : self._offset + size]
        self._offset += len(chunk)
        return chunk


# -- round trips and metadata -------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1024, 8 * MiB, 3 * MiB + 7])
async def test_round_trip_is_byte_exact(backend: FileBackend, root: Path, size: int) -> None:
    data = os.urandom(size)
    response = await put(backend, "dir/object.bin", data)
    assert response.status == 200
    assert response.headers["ETag"] == md5_etag(data)
    assert (root / "dir" / "object.bin").read_bytes() == data

    got, body = await get(backend, "dir/object.bin")
    assert got.status == 200
    assert body == data
    assert got.content_length == size
    assert got.headers["Content-Length"] == str(size)
    assert got.headers["ETag"] == md5_etag(data)
    assert got.headers["Accept-Ranges"] == "bytes"
    assert got.headers["Content-Type"] == "application/octet-stream"

    head = await backend.head_object(request("dir/object.bin"))
    assert head.status == 200
    assert head.content_length == size
    assert head.headers["ETag"] == md5_etag(data)
    assert [chunk async for chunk in head.body] == []
    assert leftovers(root) == []


async def test_body_in_small_uneven_pieces(backend: FileBackend) -> None:
    data = os.urandom(2 * MiB + 12345)
    body = ChunkedBody(data, piece=65_521)
    response = await backend.put_object(request("pieces"), body, len(data))
    assert response.headers["ETag"] == md5_etag(data)
    assert (await get(backend, "pieces"))[1] == data


async def test_unknown_length_body(backend: FileBackend) -> None:
    data = os.urandom(1500)
    await backend.put_object(request("streamed"), BytesBody(data), None)
    assert (await get(backend, "streamed"))[1] == data


async def test_metadata_is_preserved(backend: FileBackend) -> None:
    headers = {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Encoding": "gzip",
        "Content-Disposition": 'attachment; filename="data.csv"',
        "Content-Language": "de",
        "Cache-Control": "max-age=60",
        "Expires": "Thu, 01 Dec 2044 16:00:00 GMT",
        "X-Amz-Meta-Owner": "Zoë",
        "x-amz-meta-run": "42",
        "x-amz-storage-class": "STANDARD_IA",
        "x-amz-acl": "public-read",  # not object metadata: not stored
    }
    await put(backend, "meta.csv", b"a,b\n", headers)
    for response in (
        (await get(backend, "meta.csv"))[0],
        await backend.head_object(request("meta.csv")),
    ):
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Disposition"] == 'attachment; filename="data.csv"'
        assert response.headers["Content-Language"] == "de"
        assert response.headers["Cache-Control"] == "max-age=60"
        assert response.headers["Expires"] == "Thu, 01 Dec 2044 16:00:00 GMT"
        assert response.headers["x-amz-meta-owner"] == "Zoë"
        assert response.headers["x-amz-meta-run"] == "42"
        assert response.headers["x-amz-storage-class"] == "STANDARD_IA"
        assert "x-amz-acl" not in response.headers
    page = await backend.list_objects(ListRequest())
    assert [(e.key, e.storage_class) for e in page.entries] == [("meta.csv", "STANDARD_IA")]


async def test_aws_chunked_is_not_stored_as_content_encoding(backend: FileBackend) -> None:
    await put(backend, "plain", b"x", {"Content-Encoding": "aws-chunked"})
    await put(backend, "zipped", b"x", {"Content-Encoding": "aws-chunked,gzip"})
    assert "Content-Encoding" not in (await backend.head_object(request("plain"))).headers
    zipped = await backend.head_object(request("zipped"))
    assert zipped.headers["Content-Encoding"] == "gzip"


async def test_standard_storage_class_is_not_echoed(backend: FileBackend) -> None:
    await put(backend, "std", b"x", {"x-amz-storage-class": "STANDARD"})
    assert "x-amz-storage-class" not in (await backend.head_object(request("std"))).headers


async def test_overwrite_replaces_metadata(backend: FileBackend) -> None:
    await put(backend, "k", b"one", {"Content-Type": "text/plain", "x-amz-meta-a": "1"})
    await put(backend, "k", b"two")
    head = await backend.head_object(request("k"))
    assert head.headers["Content-Type"] == "application/octet-stream"
    assert "x-amz-meta-a" not in head.headers
    assert head.headers["ETag"] == md5_etag(b"two")


async def test_response_overrides(backend: FileBackend) -> None:
    await put(backend, "doc", b"hello", {"Content-Type": "text/plain"})
    query = {
        "response-content-type": "application/json",
        "response-content-disposition": "inline",
        "response-cache-control": "no-cache",
        "response-content-encoding": "identity",
        "response-content-language": "fr",
        "response-expires": "Wed, 01 Jan 2031 00:00:00 GMT",
    }
    response, body = await get(backend, "doc", query=query)
    assert body == b"hello"
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["Content-Disposition"] == "inline"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Content-Encoding"] == "identity"
    assert response.headers["Content-Language"] == "fr"
    assert response.headers["Expires"] == "Wed, 01 Jan 2031 00:00:00 GMT"


async def test_files_placed_by_hand_are_objects(backend: FileBackend, root: Path) -> None:
    (root / "manual").mkdir()
    (root / "manual" / "notes.txt").write_bytes(b"by hand")
    head = await backend.head_object(request("manual/notes.txt"))
    assert head.headers["Content-Type"] == "application/octet-stream"
    etag = head.headers["ETag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert "-" in etag
    assert etag != md5_etag(b"by hand")
    assert (await get(backend, "manual/notes.txt"))[1] == b"by hand"
    page = await backend.list_objects(ListRequest())
    assert [(e.key, e.size, e.etag) for e in page.entries] == [("manual/notes.txt", 7, etag)]


async def test_file_replaced_by_hand_drops_stale_sidecar(backend: FileBackend, root: Path) -> None:
    await put(backend, "edited", b"original", {"Content-Type": "text/plain"})
    (root / "edited").write_bytes(b"edited by hand!")
    head = await backend.head_object(request("edited"))
    assert head.headers["ETag"] != md5_etag(b"original")
    assert head.headers["Content-Type"] == "application/octet-stream"
    assert head.content_length == len(b"edited by hand!")


async def test_last_modified_is_an_http_date(backend: FileBackend, root: Path) -> None:
    await put(backend, "dated", b"x")
    os.utime(root / "dated", ns=(1_700_000_000_250_000_000, 1_700_000_000_250_000_000))
    head = await backend.head_object(request("dated"))
    assert head.headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:20 GMT"
    page = await backend.list_objects(ListRequest())
    assert page.entries[0].last_modified.timestamp() == 1_700_000_000


# -- ranges and conditional reads -----------------------------------------------------------


async def test_ranges(backend: FileBackend) -> None:
    data = bytes(range(256)) * 40
    await put(backend, "ranged", data)
    size = len(data)
    for header, start, end in [
        ("bytes=0-10", 0, 10),
        ("bytes=100-", 100, size - 1),
        ("bytes=-16", size - 16, size - 1),
        ("bytes=-99999", 0, size - 1),
        ("bytes=10000-99999", 10000, size - 1),
    ]:
        response, body = await get(backend, "ranged", {"Range": header})
        assert response.status == 206, header
        assert body == data[start : end + 1]
        assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert response.content_length == end - start + 1
        assert response.headers["Content-Length"] == str(end - start + 1)

    response, body = await get(backend, "ranged", {"Range": "bytes=0-1,4-5"})
    assert response.status == 200
    assert body == data
    assert "Content-Range" not in response.headers

    with pytest.raises(InvalidRange) as caught:
        await backend.get_object(request("ranged", {"Range": f"bytes={size}-"}))
    assert caught.value.headers() == {"Content-Range": f"bytes */{size}"}


async def test_big_range_spans_blocks(backend: FileBackend) -> None:
    data = os.urandom(3 * MiB)
    await put(backend, "big", data)
    response, body = await get(backend, "big", {"Range": f"bytes={MiB - 5}-{2 * MiB + 5}"})
    assert response.status == 206
    assert body == data[MiB - 5 : 2 * MiB + 6]


async def test_head_with_range_is_206(backend: FileBackend) -> None:
    await put(backend, "ranged", b"0123456789")
    head = await backend.head_object(request("ranged", {"Range": "bytes=2-5"}))
    assert head.status == 206
    assert head.content_length == 4
    assert head.headers["Content-Range"] == "bytes 2-5/10"


async def test_ranges_of_an_empty_object(backend: FileBackend) -> None:
    await put(backend, "empty", b"")
    with pytest.raises(InvalidRange):
        await backend.get_object(request("empty", {"Range": "bytes=0-"}))
    response, body = await get(backend, "empty", {"Range": "bytes=-5"})
    assert response.status == 200
    assert body == b""


async def test_conditional_get(backend: FileBackend) -> None:
    await put(backend, "cond", b"payload")
    head = await backend.head_object(request("cond"))
    etag, last_modified = head.headers["ETag"], head.headers["Last-Modified"]

    with pytest.raises(NotModified) as not_modified:
        await backend.get_object(request("cond", {"If-None-Match": etag}))
    assert not_modified.value.headers()["ETag"] == etag
    with pytest.raises(NotModified):
        await backend.head_object(request("cond", {"If-Modified-Since": last_modified}))
    with pytest.raises(PreconditionFailed):
        await backend.get_object(request("cond", {"If-Match": '"nope"'}))
    with pytest.raises(PreconditionFailed):
        await backend.get_object(
            request("cond", {"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
        )
    response, body = await get(backend, "cond", {"If-Match": etag, "If-None-Match": '"other"'})
    assert response.status == 200
    assert body == b"payload"


async def test_conditions_are_checked_before_the_range(backend: FileBackend) -> None:
    await put(backend, "cond", b"abc")
    with pytest.raises(PreconditionFailed):
        await backend.get_object(request("cond", {"If-Match": '"x"', "Range": "bytes=99-"}))


async def test_missing_keys(backend: FileBackend, root: Path) -> None:
    (root / "adir" / "deeper").mkdir(parents=True)
    (root / "afile").write_bytes(b"x")
    for key in ["nothing", "adir", "adir/deeper", "afile/below", "no/such/dir/key"]:
        with pytest.raises(NoSuchKey):
            await backend.get_object(request(key))
        with pytest.raises(NoSuchKey):
            await backend.head_object(request(key))


async def test_versions_are_not_supported(backend: FileBackend) -> None:
    await put(backend, "v", b"x")
    await get(backend, "v")
    assert (await backend.get_object(ObjectRequest("v", CIMultiDict(), {}, "null"))).status == 200
    with pytest.raises(InvalidArgument):
        await backend.get_object(ObjectRequest("v", CIMultiDict(), {}, "3HL4kqtJlcpXroDTDmJ"))


# -- verified, atomic writes ------------------------------------------------------------------


async def test_short_body_stores_nothing(backend: FileBackend, root: Path) -> None:
    with pytest.raises(IncompleteBody):
        await backend.put_object(request("short"), BytesBody(b"x" * 50), 100)
    assert not (root / "short").exists()
    assert leftovers(root) == []
    with pytest.raises(NoSuchKey):
        await backend.head_object(request("short"))


async def test_long_body_stores_nothing(backend: FileBackend, root: Path) -> None:
    with pytest.raises(IncompleteBody):
        await backend.put_object(request("long"), BytesBody(b"x" * (2 * MiB)), 10)
    assert not (root / "long").exists()
    assert leftovers(root) == []


async def test_declared_length_over_5_gib_is_refused(backend: FileBackend, root: Path) -> None:
    with pytest.raises(EntityTooLarge):
        await backend.put_object(request("huge"), BytesBody(b""), 5 * 1024**3 + 1)
    assert not (root / "huge").exists()


async def test_content_md5(backend: FileBackend, root: Path) -> None:
    data = b"checked"
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    await put(backend, "md5", data, {"Content-MD5": good})
    assert (root / "md5").read_bytes() == data

    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(BadDigest):
        await put(backend, "md5-bad", data, {"Content-MD5": bad})
    assert not (root / "md5-bad").exists()
    with pytest.raises(InvalidDigest):
        await put(backend, "md5-bad", data, {"Content-MD5": "not base64!"})
    with pytest.raises(InvalidDigest):
        await put(backend, "md5-bad", data, {"Content-MD5": base64.b64encode(b"short").decode()})
    assert not (root / "md5-bad").exists()
    assert leftovers(root) == []


async def test_sha256_mismatch_keeps_the_previous_version(backend: FileBackend, root: Path) -> None:
    first = b"version one"
    await put(backend, "sha", first, {"x-amz-content-sha256": hashlib.sha256(first).hexdigest()})
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(XAmzContentSHA256Mismatch):
        await put(backend, "sha", b"version two", {"x-amz-content-sha256": wrong})
    response, body = await get(backend, "sha")
    assert body == first
    assert response.headers["ETag"] == md5_etag(first)
    assert leftovers(root) == []
    # Markers that are not a digest promise nothing about the bytes.
    for marker in ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"]:
        await put(backend, "sha", b"v3", {"x-amz-content-sha256": marker})
    assert (root / "sha").read_bytes() == b"v3"


async def test_if_none_match_star(backend: FileBackend) -> None:
    await put(backend, "once", b"first", {"If-None-Match": "*"})
    with pytest.raises(PreconditionFailed):
        await put(backend, "once", b"second", {"If-None-Match": "*"})
    assert (await get(backend, "once"))[1] == b"first"


async def test_if_match_on_put(backend: FileBackend, root: Path) -> None:
    with pytest.raises(NoSuchKey):
        await put(backend, "cas", b"v1", {"If-Match": md5_etag(b"anything")})
    assert not (root / "cas").exists()
    await put(backend, "cas", b"v1")
    with pytest.raises(PreconditionFailed):
        await put(backend, "cas", b"v2", {"If-Match": md5_etag(b"v0")})
    assert (root / "cas").read_bytes() == b"v1"
    await put(backend, "cas", b"v2", {"If-Match": md5_etag(b"v1")})
    assert (root / "cas").read_bytes() == b"v2"
    assert leftovers(root) == []


async def test_concurrent_if_none_match_has_one_winner(backend: FileBackend, root: Path) -> None:
    bodies = [f"writer {i} ".encode() * (5000 + i) for i in range(20)]

    async def attempt(data: bytes) -> str | None:
        try:
            response = await backend.put_object(
                request("contended", {"If-None-Match": "*"}), ChunkedBody(data, 8192), len(data)
            )
        except PreconditionFailed:
            return None
        return response.headers["ETag"]

    results = await asyncio.gather(*(attempt(data) for data in bodies))
    winners = [(etag, data) for etag, data in zip(results, bodies, strict=True) if etag]
    assert len(winners) == 1
    etag, data = winners[0]
    assert etag == md5_etag(data)
    response, stored = await get(backend, "contended")
    assert stored == data
    assert response.headers["ETag"] == etag
    assert leftovers(root) == []


_RACE_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from multidict import CIMultiDict
    from multistore.core.backends.base import BackendServices, ObjectRequest
    from multistore.core.backends.file import FileBackend
    from multistore.core.config import BucketConfig
    from multistore.core.errors import PreconditionFailed
    from multistore.core.http import BytesBody

    async def main(root, start_flag, worker, rounds):
        config = BucketConfig(name="race", backend_type="file", backend_options={"root": root})
        backend = FileBackend(config, BackendServices())
        open(start_flag + "." + worker, "w").close()
        while not os.path.exists(start_flag):
            time.sleep(0.0005)
        won = []
        for i in range(rounds):
            body = f"{worker}:{i};".encode() * 2000
            request = ObjectRequest(key=f"race/{i}", headers=CIMultiDict({"If-None-Match": "*"}))
            try:
                await backend.put_object(request, BytesBody(body), len(body))
                won.append(i)
            except PreconditionFailed:
                pass
        await backend.close()
        print(json.dumps(won))

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
    """
)


def test_processes_racing_if_none_match_have_one_winner_per_key(root: Path, tmp_path: Path) -> None:
    workers, rounds = 4, 100
    start_flag = str(tmp_path / "go")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE_SCRIPT, str(root), start_flag, str(w), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(workers)
    ]
    deadline = time.monotonic() + 60
    while not all(os.path.exists(f"{start_flag}.{w}") for w in range(workers)):
        assert time.monotonic() < deadline, "race workers did not start"
        time.sleep(0.01)
    Path(start_flag).touch()
    won: dict[int, list[int]] = {}
    for worker, process in enumerate(processes):
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
        won[worker] = json.loads(out)
    for i in range(rounds):
        winners = [w for w in range(workers) if i in won[w]]
        assert len(winners) == 1, f"key race/{i} won by {winners}"
        assert (root / "race" / str(i)).read_bytes() == f"{winners[0]}:{i};".encode() * 2000
    assert leftovers(root) == []


async def test_cancelled_upload_leaves_nothing(backend: FileBackend, root: Path) -> None:
    class StallingBody:
        def __init__(self) -> None:
            self.sent = False
            self.stalled = asyncio.Event()

        async def read(self, n: int = -1) -> bytes:
            if not self.sent:
                self.sent = True
                return b"x" * 1000
            self.stalled.set()
            await asyncio.Event().wait()
            return b""

    body = StallingBody()
    upload = asyncio.create_task(backend.put_object(request("stalled"), body, 5000))
    await body.stalled.wait()
    assert len(leftovers(root)) == 1
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload
    assert leftovers(root) == []
    assert not (root / "stalled").exists()


async def test_reader_keeps_the_version_it_opened(backend: FileBackend) -> None:
    old = os.urandom(3 * MiB)
    await put(backend, "swap", old)
    response = await backend.get_object(request("swap"))
    try:
        first = await anext(response.body)
        await put(backend, "swap", b"new")
        rest = b"".join([chunk async for chunk in response.body])
    finally:
        await response.close()
    assert first + rest == old
    assert (await get(backend, "swap"))[1] == b"new"


async def test_release_closes_the_file(backend: FileBackend) -> None:
    await put(backend, "held", os.urandom(3 * MiB))
    before = len(os.listdir("/proc/self/fd"))
    response = await backend.get_object(request("held"))
    await anext(response.body)
    assert len(os.listdir("/proc/self/fd")) == before + 1
    await response.close()
    assert len(os.listdir("/proc/self/fd")) == before


# -- keys, names, collisions --------------------------------------------------------------


SPECIAL_KEYS = [
    "report*.pdf",
    "100%.txt",
    "100%25.txt",
    "a=b",
    "with space.txt",
    "ünïcødé/日本語 ファイル.txt",
    "%2e%2e/literal-dots",
    "emoji/😀.bin",
    "q?x=1&y=2#frag",
    "back\\slash",
    "trailing.",
    "a/.multistore/is-fine-below-the-top",
]


async def test_special_keys_are_exact_file_names(backend: FileBackend, root: Path) -> None:
    for index, key in enumerate(SPECIAL_KEYS):
        await put(backend, key, f"content {index}".encode())
    for index, key in enumerate(SPECIAL_KEYS):
        assert root.joinpath(*key.split("/")).read_bytes() == f"content {index}".encode()
        assert (await get(backend, key))[1] == f"content {index}".encode()
    page = await backend.list_objects(ListRequest())
    assert [e.key for e in page.entries] == sorted(SPECIAL_KEYS, key=lambda k: k.encode())
    assert (root / "%2e%2e" / "literal-dots").is_file()


# Every key S3 accepts, with the file name each segment is stored under (SPEC §2).
UNUSUAL_KEYS = {
    "../escape": ".%../escape",
    "a/../../escape": "a/.%../.%../escape",
    "/etc/passwd": ".%/etc/passwd",
    "a//b": "a/.%/b",
    "a/./b": "a/.%./b",
    "./a": ".%./a",
    "dir/": "dir/.%",
    "//": ".%/.%/.%",
    "tab\there": ".%tab%09here",
    "nul\x00and\x7fdel": ".%nul%00and%7Fdel",
    "new\nline/x": ".%new%0Aline/x",
    ".multistore/meta/x": ".%.multistore/meta/x",
    ".%looks-escaped": ".%.%25looks-escaped",
    "deep/.multistore": "deep/.multistore",
}


async def test_every_key_is_stored_inside_root(
    backend: FileBackend, root: Path, tmp_path: Path
) -> None:
    outside = {p: v for p, v in snapshot(tmp_path).items() if not p.startswith(str(root))}
    for index, key in enumerate(UNUSUAL_KEYS):
        await put(backend, key, f"content {index}".encode(), {"Content-Type": "text/x-odd"})
    for index, (key, path) in enumerate(UNUSUAL_KEYS.items()):
        assert root.joinpath(*path.split("/")).read_bytes() == f"content {index}".encode(), key
        response, data = await get(backend, key)
        assert data == f"content {index}".encode()
        assert response.headers["Content-Type"] == "text/x-odd"
        assert (await backend.head_object(request(key))).content_length == len(data)
    page = await backend.list_objects(ListRequest())
    assert [e.key for e in page.entries] == sorted(UNUSUAL_KEYS, key=lambda k: k.encode())
    grouped = await backend.list_objects(ListRequest(prefix="a/", delimiter="/"))
    assert grouped.common_prefixes == ["a/../", "a/./", "a//"]
    assert [e.key for e in (await backend.list_objects(ListRequest(prefix="dir/"))).entries] == [
        "dir/"
    ]
    for key in UNUSUAL_KEYS:
        assert (await backend.delete_object(request(key))).status == 204
        with pytest.raises(NoSuchKey):
            await backend.get_object(request(key))
    assert (await backend.list_objects(ListRequest())).entries == []
    assert sorted(os.listdir(root)) == [".multistore"]
    assert {p: v for p, v in snapshot(tmp_path).items() if not p.startswith(str(root))} == outside


async def test_names_no_key_maps_to_are_not_objects(backend: FileBackend, root: Path) -> None:
    (root / ".%plain").write_bytes(b"not canonical: 'plain' is stored as itself")
    (root / ".%%zz").write_bytes(b"not a valid escape")
    (root / "raw\x01control").write_bytes(b"control characters are always escaped")
    await put(backend, "plain", b"the real one")
    page = await backend.list_objects(ListRequest())
    assert [e.key for e in page.entries] == ["plain"]
    assert (await get(backend, "plain"))[1] == b"the real one"
    with pytest.raises(NoSuchKey):
        await backend.get_object(request("raw\x01control"))


async def test_the_reserved_directory_is_never_addressed(backend: FileBackend, root: Path) -> None:
    await put(backend, "seed", b"x")  # make sure the directory exists
    await put(backend, ".multistore/meta/x", b"a key like any other")
    assert (root / ".%.multistore" / "meta" / "x").read_bytes() == b"a key like any other"
    assert not (root / ".multistore" / "meta" / "x").exists()
    page = await backend.list_objects(ListRequest(prefix=".multistore"))
    assert [e.key for e in page.entries] == [".multistore/meta/x"]
    with pytest.raises(NoSuchKey):
        await backend.get_object(request(".multistore/tmp"))
    await backend.delete_object(request(".multistore/meta/x"))
    assert (root / ".multistore" / "meta").is_dir()


async def test_the_empty_key_is_refused(backend: FileBackend) -> None:
    with pytest.raises(InvalidRequest):
        await put(backend, "", b"x")


def snapshot(path: Path) -> dict[str, tuple[str, bytes | str | None, int]]:
    """Every entry below ``path`` (never following links): kind, content, mtime."""
    found: dict[str, tuple[str, bytes | str | None, int]] = {}
    for directory, dirnames, filenames in os.walk(path, followlinks=False):
        for name in dirnames + filenames:
            full = Path(directory, name)
            info = full.lstat()
            if full.is_symlink():
                found[str(full)] = ("link", os.readlink(full), info.st_mtime_ns)
            elif full.is_dir():
                found[str(full)] = ("dir", None, info.st_mtime_ns)
            else:
                found[str(full)] = ("file", full.read_bytes(), info.st_mtime_ns)
    return found


async def test_symlinks_are_never_followed(
    backend: FileBackend, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    (outside / "sub").mkdir()
    (outside / "sub" / "deep.txt").write_bytes(b"deep")
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file-link").symlink_to(outside / "secret.txt")
    (root / "inside").mkdir()
    (root / "inside" / "real.txt").write_bytes(b"real")
    (root / "inside-link").symlink_to(root / "inside", target_is_directory=True)
    await put(backend, "seed", b"x")
    before = snapshot(outside)

    for key in ["link/secret.txt", "link/sub/deep.txt", "file-link", "inside-link/real.txt"]:
        with pytest.raises(AccessDenied):
            await backend.get_object(request(key))
        with pytest.raises(AccessDenied):
            await backend.head_object(request(key))
        with pytest.raises(AccessDenied):
            await put(backend, key, b"overwritten")
        with pytest.raises(AccessDenied):
            await backend.delete_object(request(key))
    for key in ["link/new.txt", "link/sub/new/deeper.txt", "file-link/x"]:
        with pytest.raises((AccessDenied, InvalidRequest)):
            await put(backend, key, b"new")

    everything = await backend.list_objects(ListRequest())
    assert [e.key for e in everything.entries] == ["inside/real.txt", "seed"]
    grouped = await backend.list_objects(ListRequest(delimiter="/"))
    assert grouped.common_prefixes == ["inside/"]
    for prefix in ["link/", "link/sub/", "inside-link/", "file-link"]:
        page = await backend.list_objects(ListRequest(prefix=prefix))
        assert page.entries == []
        assert page.common_prefixes == []

    assert snapshot(outside) == before
    assert (root / "link").is_symlink()
    assert (root / "file-link").is_symlink()
    assert leftovers(root) == []


async def test_object_and_prefix_cannot_share_a_name(backend: FileBackend, root: Path) -> None:
    await put(backend, "a", b"file")
    with pytest.raises(InvalidRequest) as caught:
        await put(backend, "a/b", b"below a file")
    assert caught.value.status == 400
    assert (root / "a").read_bytes() == b"file"

    await put(backend, "c/d", b"below c")
    with pytest.raises(InvalidRequest):
        await put(backend, "c", b"over a directory")
    assert (root / "c" / "d").read_bytes() == b"below c"
    with pytest.raises(NoSuchKey):
        await backend.get_object(request("c"))
    assert leftovers(root) == []


async def test_too_long_segment_is_a_client_error(backend: FileBackend) -> None:
    key = "x" * 300
    with pytest.raises(InvalidRequest):
        await put(backend, key, b"x")
    with pytest.raises(InvalidRequest):
        await put(backend, key + "/child", b"x")
    with pytest.raises(NoSuchKey):
        await backend.get_object(request(key))


# -- delete ---------------------------------------------------------------------------------


async def test_delete_removes_file_sidecar_and_empty_directories(
    backend: FileBackend, root: Path
) -> None:
    await put(backend, "x/y/z.txt", b"1", {"Content-Type": "text/plain"})
    await put(backend, "x/keep.txt", b"2")
    sidecars = lambda: sorted((root / ".multistore" / "meta").rglob("*.json"))  # noqa: E731
    assert len(sidecars()) == 2

    response = await backend.delete_object(request("x/y/z.txt"))
    assert response.status == 204
    assert not (root / "x" / "y").exists()
    assert (root / "x" / "keep.txt").exists()
    assert len(sidecars()) == 1
    with pytest.raises(NoSuchKey):
        await backend.head_object(request("x/y/z.txt"))

    await backend.delete_object(request("x/keep.txt"))
    assert not (root / "x").exists()
    assert (root / ".multistore").exists()  # the root itself is never pruned
    assert sidecars() == []


async def test_delete_of_missing_keys_is_204(backend: FileBackend, root: Path) -> None:
    (root / "dir").mkdir()
    for key in ["never-existed", "no/such/path", "dir"]:
        assert (await backend.delete_object(request(key))).status == 204
    assert (root / "dir").is_dir()


async def test_put_after_delete_recreates_directories(backend: FileBackend) -> None:
    await put(backend, "p/q/r", b"1")
    await backend.delete_object(request("p/q/r"))
    await put(backend, "p/q/r", b"2")
    assert (await get(backend, "p/q/r"))[1] == b"2"


async def test_concurrent_puts_and_deletes_in_one_directory(backend: FileBackend) -> None:
    # Deleting the last object of a directory prunes it while another key is being
    # written into it; the writer must recreate it rather than fail.
    async def churn(i: int) -> None:
        for _ in range(15):
            await put(backend, f"shared/{i}", b"x")
            await backend.delete_object(request(f"shared/{i}"))

    await asyncio.gather(*(churn(i) for i in range(8)))
    await asyncio.gather(*(put(backend, f"shared/{i}", b"final") for i in range(8)))
    page = await backend.list_objects(ListRequest(prefix="shared/"))
    assert [e.key for e in page.entries] == sorted(f"shared/{i}" for i in range(8))


# -- configuration ----------------------------------------------------------------------------


def test_root_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'photos'.*root"):
        FileBackend(BucketConfig(name="photos", backend_type="file"), BackendServices())
    with pytest.raises(ValueError, match="'photos'"):
        FileBackend(
            BucketConfig(
                name="photos",
                backend_type="file",
                backend_options={"root": str(tmp_path / "missing")},
            ),
            BackendServices(),
        )


async def test_read_only_tree_serves_reads_without_state(root: Path) -> None:
    (root / "ro.txt").write_bytes(b"read only")
    os.chmod(root, 0o555)
    try:
        config = BucketConfig(name="ro", backend_type="file", backend_options={"root": str(root)})
        store = FileBackend(config, BackendServices())
        assert (await get(store, "ro.txt"))[1] == b"read only"
        assert [e.key for e in (await store.list_objects(ListRequest())).entries] == ["ro.txt"]
        assert (await store.delete_object(request("missing"))).status == 204
        await store.close()
    finally:
        os.chmod(root, 0o755)
    assert not (root / ".multistore").exists()


async def test_no_descriptor_leaks(backend: FileBackend, root: Path) -> None:
    await put(backend, "warm/up", b"x")  # opens the backend's own long-lived directories
    await backend.delete_object(request("warm/up"))
    for i in range(30):
        await put(backend, f"d{i % 4}/k{i}", b"x" * i)
    before = sorted(os.listdir("/proc/self/fd"))

    for _ in range(3):
        await list_pages(backend, ListRequest(max_keys=7))
        await list_pages(backend, ListRequest(max_keys=2, delimiter="/"))
        await get(backend, "d1/k5", {"Range": "bytes=1-2"})
        await backend.head_object(request("d2/k6"))
        for failing in [
            backend.get_object(request("missing/key")),
            backend.get_object(request("d1/k5", {"If-Match": '"x"'})),
            backend.get_object(request("d1/k5", {"Range": "bytes=999-"})),
            put(backend, "d1/k5/below", b"x"),
            put(backend, "d3/k7", b"x", {"If-None-Match": "*"}),
            backend.put_object(request("short"), BytesBody(b"x"), 2),
        ]:
            with pytest.raises(S3Error):
                await failing
        await backend.delete_object(request("d0/k0"))
        await put(backend, "d0/k0", b"")

    assert sorted(os.listdir("/proc/self/fd")) == before


async def list_pages(store: FileBackend, first: ListRequest) -> int:
    page = await store.list_objects(first)
    count = 1
    while page.next_continuation_token is not None:
        page = await store.list_objects(
            ListRequest(
                delimiter=first.delimiter,
                max_keys=first.max_keys,
                continuation_token=page.next_continuation_token,
            )
        )
        count += 1
    return count


async def test_state_directory_removed_under_a_running_backend_is_recreated(
    backend: FileBackend, root: Path
) -> None:
    # An operator cleaning up ``.multistore`` by hand must not break every later write: the
    # backend's cached descriptors point at deleted directories and are reopened.
    await put(backend, "before.txt", b"old", {"Content-Type": "text/plain"})
    shutil.rmtree(root / ".multistore")
    answer = await put(backend, "after.txt", b"new", {"Content-Type": "text/plain"})
    assert answer.status == 200
    head, body = await get(backend, "after.txt")
    assert body == b"new"
    assert head.headers["ETag"] == answer.headers["ETag"] == f'"{hashlib.md5(b"new").hexdigest()}"'
    assert head.headers["Content-Type"] == "text/plain"
    # The object whose sidecar went with the directory is still served, with derived values.
    _, old = await get(backend, "before.txt")
    assert old == b"old"
