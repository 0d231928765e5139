"""aws-cli's write commands over TLS, where botocore sends aws-chunked bodies with CRC trailers."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from multistore.testing.gateway import GatewayProcess

from .conftest import BackendUnderTest, aws_cli

MiB = 1 << 20


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cp_of_a_20_mib_file_is_multipart_and_exact(
    tls_gateway: GatewayProcess, backend: BackendUnderTest, unique: str, tmp_path: Path
) -> None:
    source = tmp_path / "twenty.bin"
    source.write_bytes(os.urandom(20 * MiB))
    target_url = f"s3://{backend.data}/{unique}twenty.bin"
    put = aws_cli(tls_gateway, "s3", "cp", str(source), target_url, cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    assert f"{unique}twenty.bin" in backend.stored_keys(backend.data)
    back = tmp_path / "back.bin"
    get = aws_cli(tls_gateway, "s3", "cp", target_url, str(back), cwd=tmp_path)
    assert get.returncode == 0, get.stderr
    assert digest(back) == digest(source)
    head = aws_cli(
        tls_gateway,
        "s3api",
        "head-object",
        "--bucket",
        backend.data,
        "--key",
        f"{unique}twenty.bin",
        cwd=tmp_path,
    )
    assert '"ETag": "\\"' in head.stdout
    assert "-3" in head.stdout  # 8 MiB parts: 8 + 8 + 4


def test_sync_rm_recursive_and_server_side_cp(
    tls_gateway: GatewayProcess, backend: BackendUnderTest, unique: str, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    for name in ("a.txt", "sub/b.txt", "sub/deeper/c d.txt", "odd/100%.txt"):
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 100)
        # sync re-uploads when the local file looks newer than the stored one; backends
        # keep whole seconds, so files written this second could look newer.
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    base = f"s3://{backend.data}/{unique}tree"
    synced = aws_cli(tls_gateway, "s3", "sync", str(tree), base, cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    stored = {k for k in backend.stored_keys(backend.data) if k.startswith(f"{unique}tree/")}
    assert stored == {
        f"{unique}tree/{n}" for n in ("a.txt", "sub/b.txt", "sub/deeper/c d.txt", "odd/100%.txt")
    }
    again = aws_cli(tls_gateway, "s3", "sync", str(tree), base, cwd=tmp_path)
    assert again.returncode == 0
    assert "upload:" not in again.stdout  # nothing changed, nothing sent
    copied = aws_cli(
        tls_gateway,
        "s3",
        "cp",
        f"{base}/a.txt",
        f"s3://{backend.data}/{unique}copy-of-a.txt",
        cwd=tmp_path,
    )
    assert copied.returncode == 0, copied.stderr
    assert f"{unique}copy-of-a.txt" in backend.stored_keys(backend.data)
    removed = aws_cli(tls_gateway, "s3", "rm", "--recursive", base, cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert not any(k.startswith(f"{unique}tree/") for k in backend.stored_keys(backend.data))
