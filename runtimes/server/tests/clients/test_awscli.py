"""aws-cli (v1, botocore) over TLS: cp, sync, ls, rm --recursive, s3api."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..conftest import FULL, aws_cli
from .conftest import MiB, Target, assert_ok, file_sha256, payload, sha256


def test_awscli_round_trip(target: Target, tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = aws_cli(target.tls, *args, cwd=tmp_path)
        assert_ok(result)
        return result.stdout

    url = f"s3://{target.bucket}/{target.key('cli/')}"
    source = tmp_path / "object.bin"
    source.write_bytes(payload(9 * MiB, 6))  # above the 8 MiB threshold: multipart
    (source.parent / "sub").mkdir()
    (source.parent / "sub" / "small.txt").write_text("small\n")
    # One recursive cp writes both (and keeps the CLI's start-up cost to one run).
    run("s3", "cp", "--recursive", "--exclude", "*", "--include", "object.bin",
        "--include", "sub/small.txt", str(tmp_path), url)  # fmt: skip
    assert sha256(target.stored(target.key("cli/object.bin")) or b"") == file_sha256(source)
    assert target.stored(target.key("cli/sub/small.txt")) == b"small\n"

    listed = run("s3", "ls", "--recursive", url)
    assert {line.split()[-1] for line in listed.splitlines()} == {
        target.key("cli/object.bin"),
        target.key("cli/sub/small.txt"),
    }

    back = tmp_path / "back.bin"
    run("s3", "cp", f"{url}object.bin", str(back))
    assert file_sha256(back) == file_sha256(source)
    part = tmp_path / "part.bin"
    run(
        "s3api", "get-object", "--bucket", target.bucket, "--key", target.key("cli/object.bin"),
        "--range", "bytes=100-1123", str(part),
    )  # fmt: skip
    assert part.read_bytes() == source.read_bytes()[100:1124]

    source.write_bytes(payload(1000, 7))
    run("s3", "cp", str(source), f"{url}object.bin")
    assert target.stored(target.key("cli/object.bin")) == source.read_bytes()

    run("s3", "rm", f"{url}object.bin")
    assert target.stored_under(target.key("cli/")) == {target.key("cli/sub/small.txt")}
    listed = run("s3", "ls", url)
    assert listed.split() == ["PRE", "sub/"]


def test_awscli_sync_and_rm_recursive(target: Target, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    names = ["a.bin", "sub/b.txt", "sub/deeper/c d.txt", "odd/100%+x.txt"]
    for n, name in enumerate(names):
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload(10_000 + n, 10 + n))
        # sync compares modification times; backends keep whole seconds.
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    url = f"s3://{target.bucket}/{target.key('tree')}"

    first = aws_cli(target.tls, "s3", "sync", str(tree), url, cwd=tmp_path)
    assert_ok(first)
    for name in names:
        stored = target.stored(target.key(f"tree/{name}"))
        assert sha256(stored or b"") == file_sha256(tree / name), name
    again = aws_cli(target.tls, "s3", "sync", str(tree), url, cwd=tmp_path)
    assert_ok(again)
    assert again.stdout.strip() == ""  # nothing changed, nothing sent

    (tree / "sub/b.txt").unlink()
    (tree / "a.bin").write_bytes(payload(20_000, 99))
    pruned = aws_cli(target.tls, "s3", "sync", "--delete", str(tree), url, cwd=tmp_path)
    assert_ok(pruned)
    assert target.stored(target.key("tree/sub/b.txt")) is None
    assert target.stored(target.key("tree/a.bin")) == (tree / "a.bin").read_bytes()

    down = tmp_path / "down"
    assert_ok(aws_cli(target.tls, "s3", "sync", url, str(down), cwd=tmp_path))
    assert sorted(p.relative_to(down).as_posix() for p in down.rglob("*") if p.is_file()) == (
        sorted(["a.bin", "sub/deeper/c d.txt", "odd/100%+x.txt"])
    )

    removed = aws_cli(target.tls, "s3", "rm", "--recursive", url, cwd=tmp_path)
    assert_ok(removed)
    assert target.stored_under(target.key("tree/")) == set()


def test_awscli_folder_marker_and_rm_recursive(target: Target, tmp_path: Path) -> None:
    # What the S3 console's "Create folder" does: a 0-byte key ending in "/".
    marker = target.key("folder/")
    put = aws_cli(
        target.tls, "s3api", "put-object", "--bucket", target.bucket, "--key", marker,
        cwd=tmp_path,
    )  # fmt: skip
    assert_ok(put)
    client = target.tls.client(*FULL)
    assert client.head_object(Bucket=target.bucket, Key=marker)["ContentLength"] == 0
    (tmp_path / "inside.txt").write_text("inside\n")
    assert_ok(
        aws_cli(
            target.tls, "s3", "cp", str(tmp_path / "inside.txt"),
            f"s3://{target.bucket}/{marker}inside.txt", cwd=tmp_path,
        )
    )  # fmt: skip
    listed = aws_cli(
        target.tls, "s3", "ls", "--recursive", f"s3://{target.bucket}/{marker}", cwd=tmp_path
    )
    assert_ok(listed)
    assert {line.split()[-1] for line in listed.stdout.splitlines()} == {
        marker,
        f"{marker}inside.txt",
    }

    removed = aws_cli(
        target.tls, "s3", "rm", "--recursive", f"s3://{target.bucket}/{marker}", cwd=tmp_path
    )
    assert_ok(removed)
    assert client.list_objects_v2(Bucket=target.bucket, Prefix=marker)["KeyCount"] == 0
