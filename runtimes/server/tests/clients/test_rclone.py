"""rclone (Debian, `provider = Other`) over HTTP: ListObjects V1, UNSIGNED-PAYLOAD single PUTs,
CreateBucket before uploads; copy/sync/check/delete of a tree holding a 100 MiB file."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from ..conftest import FULL
from .conftest import (
    MiB,
    Target,
    assert_ok,
    clean_env,
    file_sha256,
    payload,
    round_trip,
    sha256,
)

# rclone's tree test moves 100 MiB up and down through the gateway, twice per backend.
pytestmark = pytest.mark.timeout(600)


class Rclone:
    def __init__(self, binary: str, target: Target, workdir: Path) -> None:
        self.binary, self.target, self.workdir = binary, target, workdir
        self.env = clean_env(
            RCLONE_CONFIG_GW_TYPE="s3",
            RCLONE_CONFIG_GW_PROVIDER="Other",
            RCLONE_CONFIG_GW_ENDPOINT=target.http.url,
            RCLONE_CONFIG_GW_REGION="us-east-1",
            RCLONE_CONFIG_GW_ACCESS_KEY_ID=FULL[0],
            RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=FULL[1],
        )

    def remote(self, key: str) -> str:
        return f"gw:{self.target.bucket}/{key}"

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        command = [
            self.binary, "--config", str(self.workdir / "rclone.conf"),
            "--retries", "1", "--low-level-retries", "1", "--stats", "0", *args,
        ]  # fmt: skip
        return subprocess.run(
            command, env=self.env, cwd=self.workdir, capture_output=True, timeout=300, check=False
        )

    def ok(self, *args: str) -> bytes:
        result = self.run(*args)
        assert_ok(result)
        return result.stdout

    # the ObjectClient protocol
    def put(self, key: str, data: bytes) -> None:
        source = self.workdir / "upload.tmp"
        source.write_bytes(data)
        self.ok("copyto", str(source), self.remote(key))

    def list(self, prefix: str) -> set[str]:
        lines = self.ok("lsf", "-R", "--files-only", self.remote(prefix)).decode().splitlines()
        return {f"{prefix}{line}" for line in lines}

    def get(self, key: str) -> bytes:
        return self.ok("cat", self.remote(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.ok(
            "cat", "--offset", str(start), "--count", str(end - start + 1), self.remote(key)
        )

    def delete(self, key: str) -> None:
        self.ok("deletefile", self.remote(key))


def test_rclone_round_trip(target: Target, rclone_binary: str, tmp_path: Path) -> None:
    round_trip(Rclone(rclone_binary, target, tmp_path), target)


def make_tree(root: Path) -> dict[str, str]:
    files = {
        "big.bin": payload(100 * MiB, 40),
        "a.txt": b"alpha\n" * 100,
        "sub/b.bin": payload(70_000, 41),
        "sub/deeper/c d.txt": b"with a space\n",
        "sub/deeper/e+f.txt": b"with a plus\n",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return {name: file_sha256(root / name) for name in files}


def test_rclone_copy_sync_check_delete_tree(
    target: Target, rclone_binary: str, tmp_path: Path
) -> None:
    rclone = Rclone(rclone_binary, target, tmp_path)
    tree = tmp_path / "tree"
    digests = make_tree(tree)
    remote = rclone.remote(target.key("tree"))

    rclone.ok("copy", str(tree), remote)
    for name, digest in digests.items():
        stored = target.stored(target.key(f"tree/{name}"))
        assert stored is not None, name
        assert sha256(stored) == digest, name
    rclone.ok("check", str(tree), remote)  # sizes and MD5s (ETags) agree

    # sync: one file changed, one removed, one added locally.
    (tree / "a.txt").write_bytes(b"changed\n")
    (tree / "sub/b.bin").unlink()
    (tree / "new.txt").write_bytes(b"new\n")
    time.sleep(0.01)
    rclone.ok("sync", str(tree), remote)
    assert target.stored(target.key("tree/a.txt")) == b"changed\n"
    assert target.stored(target.key("tree/sub/b.bin")) is None
    assert target.stored(target.key("tree/new.txt")) == b"new\n"
    rclone.ok("check", str(tree), remote)

    # A differing object is caught by check.
    target.backend.put_raw(target.bucket, target.key("tree/new.txt"), b"tampered\n")
    assert rclone.run("check", str(tree), remote).returncode != 0

    down = tmp_path / "down"
    rclone.ok("copy", remote, str(down))
    assert file_sha256(down / "big.bin") == digests["big.bin"]
    assert (down / "sub/deeper/c d.txt").read_bytes() == b"with a space\n"
    assert (down / "new.txt").read_bytes() == b"tampered\n"

    rclone.ok("delete", remote)
    assert target.stored_under(target.key("tree/")) == set()
    assert rclone.ok("lsf", "-R", remote) == b""
