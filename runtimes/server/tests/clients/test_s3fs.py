"""s3fs (fsspec over aiobotocore) over TLS: files, ranges, listings, copy, recursive rm."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import s3fs

from ..conftest import FULL
from .conftest import KiB, MiB, Target, payload, round_trip, sha256


@pytest.fixture
def fs(target: Target) -> Iterator[Any]:
    filesystem = s3fs.S3FileSystem(
        key=FULL[0],
        secret=FULL[1],
        endpoint_url=target.tls.url,
        client_kwargs={"region_name": "us-east-1", "verify": str(target.tls.ca_cert)},
        config_kwargs={"s3": {"addressing_style": "path"}, "retries": {"max_attempts": 1}},
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    yield filesystem
    s3fs.S3FileSystem.clear_instance_cache()


class S3fsObjects:
    def __init__(self, fs: Any, bucket: str) -> None:
        self.fs, self.bucket = fs, bucket

    def path(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    def put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self.path(key), data)

    def list(self, prefix: str) -> set[str]:
        self.fs.invalidate_cache()
        found = self.fs.find(self.path(prefix))
        return {path.removeprefix(f"{self.bucket}/") for path in found}

    def get(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self.path(key))
        return data

    def get_range(self, key: str, start: int, end: int) -> bytes:
        data: bytes = self.fs.cat_file(self.path(key), start=start, end=end + 1)
        return data

    def delete(self, key: str) -> None:
        self.fs.rm_file(self.path(key))


def test_s3fs_round_trip(target: Target, fs: Any) -> None:
    round_trip(S3fsObjects(fs, target.bucket), target)


def test_s3fs_files_dirs_and_copies(target: Target, fs: Any) -> None:
    base = f"{target.bucket}/{target.key('fs')}"
    data = payload(6 * MiB + 11, 20)
    # A block size below the file size makes s3fs write multipart, one part per block.
    with fs.open(f"{base}/big.bin", "wb", block_size=5 * MiB) as handle:
        handle.write(data)
    assert sha256(target.stored(target.key("fs/big.bin")) or b"") == sha256(data)
    info = fs.info(f"{base}/big.bin")
    assert info["size"] == len(data)
    assert fs.info(f"{base}")["type"] == "directory"  # a prefix with objects under it

    with fs.open(f"{base}/big.bin", "rb", block_size=256 * KiB) as handle:
        handle.seek(5 * MiB - 3)
        assert handle.read(10) == data[5 * MiB - 3 : 5 * MiB + 7]

    fs.copy(f"{base}/big.bin", f"{base}/nested/copy.bin")
    fs.mv(f"{base}/nested/copy.bin", f"{base}/nested/moved.bin")
    assert sha256(target.stored(target.key("fs/nested/moved.bin")) or b"") == sha256(data)
    assert target.stored(target.key("fs/nested/copy.bin")) is None
    assert fs.ls(base, detail=False, refresh=True) == [f"{base}/big.bin", f"{base}/nested"]

    fs.rm(base, recursive=True)
    assert target.stored_under(target.key("fs/")) == set()
    assert not fs.exists(f"{base}/big.bin")
