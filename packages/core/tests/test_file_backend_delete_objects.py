"""DeleteObjects on the file backend: one outcome per key, in order, never an exception."""

from __future__ import annotations

from pathlib import Path

from multidict import CIMultiDict

from multistore.core.backends.base import DeleteOutcome, ObjectRequest
from multistore.core.backends.file import FileBackend
from multistore.core.http import BytesBody


async def put(store: FileBackend, key: str, data: bytes = b"x") -> None:
    await store.put_object(ObjectRequest(key=key, headers=CIMultiDict()), BytesBody(data), 1)


async def test_mixed_outcomes_in_request_order(
    backend: FileBackend, root: Path, tmp_path: Path
) -> None:
    keys_present = ["dir/a", "dir/sub/b", "report*.pdf", "100%.txt", "a=b", "spa ce", "ünï ✓"]
    for key in keys_present:
        await put(backend, key)
    await put(backend, "100%25.txt")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"keep me")
    (root / "link").symlink_to(outside, target_is_directory=True)

    keys = [
        "dir/a",
        "missing",
        "link/victim",
        "dir/sub/b",
        "a//b",  # a key like any other (stored as a/.%/b): none here, nothing to delete
        ".multistore/locks/000.lock",  # the key of .%.multistore/..., never the lock file
        "x" * 300,  # no object here can have this name: nothing to delete
        "report*.pdf",
        "100%.txt",
        "a=b",
        "spa ce",
        "ünï ✓",
        "dir/a",  # twice: the second is a delete of a missing key
    ]
    outcomes = await backend.delete_objects(keys)

    assert [o.key for o in outcomes] == keys
    failed = {o.key: o.error_code for o in outcomes if o.error_code is not None}
    assert failed == {"link/victim": "AccessDenied"}
    assert all(o.error_message for o in outcomes if o.error_code is not None)
    assert outcomes[1] == DeleteOutcome("missing")
    for key in keys_present:
        assert not root.joinpath(*key.split("/")).exists()
    assert not (root / "dir").exists()  # emptied directories are pruned, as on DELETE
    assert (root / "100%25.txt").read_bytes() == b"x"
    assert (outside / "victim").read_bytes() == b"keep me"
    assert (root / ".multistore" / "locks").is_dir()


async def test_empty_request(backend: FileBackend) -> None:
    assert await backend.delete_objects([]) == []


async def test_a_thousand_keys(backend: FileBackend, root: Path) -> None:
    keys = [f"bulk/{i:04d}" for i in range(1000)]
    for key in keys[::2]:
        await put(backend, key)
    outcomes = await backend.delete_objects(keys)
    assert outcomes == [DeleteOutcome(key) for key in keys]
    assert not (root / "bulk").exists()


async def test_delete_object_of_a_key_directly_in_root(backend: FileBackend, root: Path) -> None:
    # Regression: pruning empty directories failed for a key with no directory of its own.
    await put(backend, "top-level")
    response = await backend.delete_object(ObjectRequest(key="top-level", headers=CIMultiDict()))
    assert response.status == 204
    assert not (root / "top-level").exists()
