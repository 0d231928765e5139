"""Listing a directory tree with S3 semantics: order, prefixes, delimiters, pages."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.core.backends.base import BackendServices, ListPage, ListRequest, ObjectRequest
from multistore.core.backends.file import FileBackend
from multistore.core.config import BucketConfig
from multistore.core.errors import InvalidArgument
from multistore.core.http import BytesBody


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "bucket"
    path.mkdir()
    return path


@pytest.fixture
async def backend(root: Path) -> AsyncIterator[FileBackend]:
    config = BucketConfig(
        name="files", backend_type="file", backend_options={"root": str(root), "fsync": "false"}
    )
    store = FileBackend(config, BackendServices())
    yield store
    await store.close()


def place(root: Path, keys: list[str]) -> None:
    """Create objects by hand (fast, and exercises objects without sidecars)."""
    for key in keys:
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.encode())


async def list_all(store: FileBackend, request: ListRequest) -> list[ListPage]:
    pages = [await store.list_objects(request)]
    while pages[-1].next_continuation_token is not None:
        assert len(pages) < 10_000
        token = pages[-1].next_continuation_token
        pages.append(
            await store.list_objects(
                ListRequest(
                    prefix=request.prefix,
                    delimiter=request.delimiter,
                    max_keys=request.max_keys,
                    continuation_token=token,
                    start_after=request.start_after,
                )
            )
        )
    return pages


def s3_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def oracle(
    keys: list[str], *, prefix: str, delimiter: str, start_after: str
) -> tuple[list[str], list[str]]:
    """What S3 returns over all pages: keys > start-after under prefix, rolled up into
    common prefixes, of which only those sorting after start-after are returned."""
    contents: list[str] = []
    prefixes: list[str] = []
    for key in s3_order(keys):
        if not key.startswith(prefix) or (start_after and key.encode() <= start_after.encode()):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            if start_after and common.encode() <= start_after.encode():
                continue
            if not prefixes or prefixes[-1] != common:
                prefixes.append(common)
            continue
        contents.append(key)
    return contents, prefixes


async def test_pagination_over_2500_keys_visits_each_once(backend: FileBackend, root: Path) -> None:
    keys = [f"d{i % 7}/sub{i % 3}/k{i:05d}" for i in range(2400)]
    keys += [f"top{i:03d}" for i in range(100)]
    place(root, keys)
    pages = await list_all(backend, ListRequest(max_keys=1000))
    assert [len(p.entries) for p in pages] == [1000, 1000, 500]
    assert pages[-1].next_continuation_token is None
    assert all(p.is_truncated for p in pages[:-1])
    listed = [e.key for p in pages for e in p.entries]
    assert listed == s3_order(keys)
    assert all(p.common_prefixes == [] for p in pages)


async def test_delimiter_and_prefix(backend: FileBackend, root: Path) -> None:
    place(root, ["a.txt", "photos/2023/x.jpg", "photos/2024/y.jpg", "photos/top.jpg", "z"])
    page = await backend.list_objects(ListRequest(delimiter="/"))
    assert [e.key for e in page.entries] == ["a.txt", "z"]
    assert page.common_prefixes == ["photos/"]

    page = await backend.list_objects(ListRequest(prefix="photos/", delimiter="/"))
    assert [e.key for e in page.entries] == ["photos/top.jpg"]
    assert page.common_prefixes == ["photos/2023/", "photos/2024/"]

    page = await backend.list_objects(ListRequest(prefix="photos/20"))
    assert [e.key for e in page.entries] == ["photos/2023/x.jpg", "photos/2024/y.jpg"]

    page = await backend.list_objects(ListRequest(prefix="pho", delimiter="/"))
    assert page.entries == []
    assert page.common_prefixes == ["photos/"]

    page = await backend.list_objects(ListRequest(prefix="photos/2023/x.jpg"))
    assert [e.key for e in page.entries] == ["photos/2023/x.jpg"]

    page = await backend.list_objects(ListRequest(prefix="nothing/here/"))
    assert page.entries == []
    assert page.common_prefixes == []


async def test_common_prefixes_paginate_once_each(backend: FileBackend, root: Path) -> None:
    keys = [f"dir{i:02d}/file{j}" for i in range(12) for j in range(3)] + ["loose1", "loose2"]
    place(root, keys)
    pages = await list_all(backend, ListRequest(delimiter="/", max_keys=5))
    assert all(len(p.entries) + len(p.common_prefixes) == 5 for p in pages[:-1])
    prefixes = [cp for p in pages for cp in p.common_prefixes]
    assert prefixes == [f"dir{i:02d}/" for i in range(12)]
    assert [e.key for p in pages for e in p.entries] == ["loose1", "loose2"]


async def test_v1_marker_naming_a_common_prefix_resumes_after_it(
    backend: FileBackend, root: Path
) -> None:
    # The V1 pagination S3 clients do: NextMarker is the last common prefix returned.
    place(root, ["dir1/subdir/file.txt", "dir1/subdir.ext", "dir1/subdir1.ext", "dir1/z/1"])
    first = await backend.list_objects(ListRequest(prefix="dir1/", delimiter="/", max_keys=2))
    assert [e.key for e in first.entries] == ["dir1/subdir.ext"]
    assert first.common_prefixes == ["dir1/subdir/"]
    second = await backend.list_objects(
        ListRequest(prefix="dir1/", delimiter="/", max_keys=2, start_after="dir1/subdir/")
    )
    assert [e.key for e in second.entries] == ["dir1/subdir1.ext"]
    assert second.common_prefixes == ["dir1/z/"]
    inside = await backend.list_objects(
        ListRequest(prefix="dir1/", delimiter="/", start_after="dir1/subdir/a")
    )
    assert [e.key for e in inside.entries] == ["dir1/subdir1.ext"]
    assert inside.common_prefixes == ["dir1/z/"]


async def test_start_after(backend: FileBackend, root: Path) -> None:
    place(root, ["a/1", "a/2", "b/1", "c"])
    page = await backend.list_objects(ListRequest(start_after="a/1"))
    assert [e.key for e in page.entries] == ["a/2", "b/1", "c"]
    page = await backend.list_objects(ListRequest(start_after="a/zzz"))
    assert [e.key for e in page.entries] == ["b/1", "c"]
    page = await backend.list_objects(ListRequest(start_after="b"))
    assert [e.key for e in page.entries] == ["b/1", "c"]
    page = await backend.list_objects(ListRequest(start_after="c"))
    assert page.entries == []
    assert page.next_continuation_token is None


async def test_unicode_and_punctuation_order(backend: FileBackend, root: Path) -> None:
    keys = [
        "a",
        "a-b",
        "a/b",
        "a/c/d",
        "a0",
        "A",
        "Z",
        "é",
        "z",
        "日本",
        "😀",
        "ﬀ",
        "a b",
        "a.b",
        "~tilde",
    ]
    # "a" cannot be a file and a directory at once: drop the file.
    keys.remove("a")
    place(root, keys)
    page = await backend.list_objects(ListRequest())
    assert [e.key for e in page.entries] == s3_order(keys)
    pages = await list_all(backend, ListRequest(max_keys=1))
    assert [e.key for p in pages for e in p.entries] == s3_order(keys)


async def test_oracle_over_many_parameter_combinations(backend: FileBackend, root: Path) -> None:
    keys = [
        "a-b",
        "a.c",
        "a/b",
        "a/b-c/d",
        "a/b-c/e",
        "a/bc",
        "a/c/d/e",
        "a0",
        "b/x-y-z",
        "b/x-y/z",
        "b-/q",
        "c",
        "dé/ü",
        "d/😀/x",
        "e/e/e/e/e",
    ]
    place(root, keys)
    (root / "empty" / "nested").mkdir(parents=True)
    prefixes = ["", "a", "a/", "a/b", "b/x", "d", "e/e/", "zzz"]
    delimiters = ["", "/", "-", "b", "e/"]
    start_afters = ["", "a/b", "a/b-c/d", "a/b-", "b", "b/x-y", "d/😀"]
    for prefix, delimiter, start_after, max_keys in itertools.product(
        prefixes, delimiters, start_afters, [1, 2, 3, 1000]
    ):
        request = ListRequest(
            prefix=prefix, delimiter=delimiter, start_after=start_after or None, max_keys=max_keys
        )
        pages = await list_all(backend, request)
        contents = [e.key for p in pages for e in p.entries]
        common = [cp for p in pages for cp in p.common_prefixes]
        expected = oracle(keys, prefix=prefix, delimiter=delimiter, start_after=start_after)
        assert (contents, common) == expected, request
        assert all(len(p.entries) + len(p.common_prefixes) == max_keys for p in pages[:-1])
        assert len(pages[-1].entries) + len(pages[-1].common_prefixes) <= max_keys


async def test_internal_directory_and_non_objects_are_hidden(
    backend: FileBackend, root: Path, tmp_path: Path
) -> None:
    await backend.put_object(ObjectRequest(key="real", headers=CIMultiDict()), BytesBody(b"x"), 1)
    assert (root / ".multistore").is_dir()
    (root / "empty" / "dirs" / "only").mkdir(parents=True)
    os.mkfifo(root / "fifo")
    (root / "link").symlink_to(tmp_path)
    (root / "bad\nname").write_bytes(b"control character")
    os.close(os.open(os.fsencode(root) + b"/latin1-\xe9", os.O_CREAT | os.O_WRONLY))
    page = await backend.list_objects(ListRequest())
    assert [e.key for e in page.entries] == ["real"]
    page = await backend.list_objects(ListRequest(delimiter="/"))
    assert [e.key for e in page.entries] == ["real"]
    assert page.common_prefixes == []


async def test_entries_carry_size_etag_and_time(backend: FileBackend) -> None:
    request = ObjectRequest(key="f/one", headers=CIMultiDict())
    await backend.put_object(request, BytesBody(b"12345"), 5)
    head = await backend.head_object(request)
    page = await backend.list_objects(ListRequest())
    (entry,) = page.entries
    assert entry.key == "f/one"
    assert entry.size == 5
    assert entry.etag == head.headers["ETag"] == '"827ccb0eea8a706c4c34a16891f84e7b"'
    assert entry.last_modified.tzinfo is not None
    assert entry.storage_class == "STANDARD"


async def test_max_keys_zero_and_bad_tokens(backend: FileBackend, root: Path) -> None:
    place(root, ["a", "b"])
    page = await backend.list_objects(ListRequest(max_keys=0))
    assert page.entries == []
    assert page.common_prefixes == []
    assert not page.is_truncated
    for token in ["!!!", "eA==", ""]:
        with pytest.raises(InvalidArgument):
            await backend.list_objects(ListRequest(continuation_token=token))


async def test_continuation_token_wins_over_start_after(backend: FileBackend, root: Path) -> None:
    place(root, ["a", "b", "c", "d"])
    first = await backend.list_objects(ListRequest(max_keys=2))
    assert [e.key for e in first.entries] == ["a", "b"]
    second = await backend.list_objects(
        ListRequest(max_keys=2, continuation_token=first.next_continuation_token, start_after="c")
    )
    assert [e.key for e in second.entries] == ["c", "d"]


async def test_escaping_prefixes_list_nothing(
    backend: FileBackend, root: Path, tmp_path: Path
) -> None:
    (tmp_path / "sibling.txt").write_bytes(b"outside")
    place(root, ["inside"])
    for prefix in ["../", "../sibling", "/", "//", "./", "a/../", "\x00"]:
        page = await backend.list_objects(ListRequest(prefix=prefix))
        assert page.entries == [], prefix
        assert page.common_prefixes == [], prefix


async def test_a_page_reads_only_the_directories_it_needs(
    backend: FileBackend, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    place(root, [f"bulk{i:03d}/{j}" for i in range(200) for j in range(3)])
    place(root, ["photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2023/old.jpg"])
    scanned: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(fd: int) -> object:
        scanned.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", recording_scandir)

    page = await backend.list_objects(ListRequest(prefix="photos/2024/"))
    assert [e.key for e in page.entries] == ["photos/2024/a.jpg", "photos/2024/b.jpg"]
    assert scanned == [str(root / "photos" / "2024")]  # not root, not photos/, no bulk*

    scanned.clear()
    page = await backend.list_objects(ListRequest(max_keys=10))
    assert len(page.entries) == 10
    assert len(scanned) == 1 + 4  # root, then bulk000..bulk003 until the page is full
    assert page.is_truncated

    scanned.clear()
    page = await backend.list_objects(
        ListRequest(max_keys=10, continuation_token=page.next_continuation_token)
    )
    assert next(e.key for e in page.entries) == "bulk003/1"
    assert len(scanned) == 1 + 4  # bulk000..bulk002 are skipped by name, never read

    scanned.clear()
    page = await backend.list_objects(ListRequest(delimiter="/", max_keys=5))
    assert page.common_prefixes == [f"bulk{i:03d}/" for i in range(5)]
    # One unsorted peek per rolled-up directory, plus one for the sixth that proves the
    # listing is truncated.
    assert len(scanned) == 1 + 6
