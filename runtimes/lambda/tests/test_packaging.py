"""``multistore-lambda package`` builds a zip that serves on its own: extracted and put on
an isolated interpreter's path (as Lambda puts /var/task), it answers an event."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from multistore.aws_lambda.packaging import PackagingError, needed_members

WORKSPACE = Path(__file__).resolve().parents[3]

SMOKE = """
import json, sys
sys.path[:0] = [sys.argv[1]]
import multistore.aws_lambda as lam
assert lam.__file__.startswith(sys.argv[1]), lam.__file__
event = {"version": "2.0", "rawPath": "/b/hello.txt", "rawQueryString": "",
         "headers": {"host": "localhost"},
         "requestContext": {"http": {"method": "GET", "sourceIp": "127.0.0.1"}},
         "isBase64Encoded": False, "body": ""}
print(json.dumps(lam.handler(event, None)))
"""


def test_zip_holds_only_what_the_function_needs_and_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "b").mkdir(parents=True)
    (data / "b" / "hello.txt").write_bytes(b"from the zip")
    config = tmp_path / "gateway.json"
    bucket = {"name": "b", "backend_type": "file", "anonymous_access": True,
              "backend_options": {"root": str(data / "b")}}  # fmt: skip
    config.write_text(json.dumps({"buckets": [bucket]}))
    output = tmp_path / "function.zip"
    # This interpreter and uv's cache: no network, the wheels `uv sync` already fetched.
    done = subprocess.run(
        [sys.executable, "-m", "multistore.aws_lambda.packaging", "package",
         "--config", str(config), "--with", "sts", "-o", str(output), "--arch", "host",
         "--offline"],
        cwd=WORKSPACE, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "bytes (multistore-core, multistore-static-config" in done.stdout
    with zipfile.ZipFile(output) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "task")
    tops = {name.split("/")[0] for name in names}
    assert "gateway.json" in tops
    assert {"multistore", "httptools", "multidict", "jwt"} <= tops
    # No server, no test tooling, no other plugins.
    assert not any(top.startswith(("aiohttp", "boto", "moto", "pytest", "uvloop")) for top in tops)
    modules = {name.split("/")[1] for name in names if name.startswith("multistore/")}
    assert modules == {"aws_lambda", "core", "http_client", "static_config", "sts"}
    answer = subprocess.run(
        [sys.executable, "-I", "-c", SMOKE, str(tmp_path / "task")],
        env={"CONFIG_PATH": str(tmp_path / "task" / "gateway.json")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    result = json.loads(answer.stdout)
    assert result["statusCode"] == 200


def test_members_follow_the_config(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[path_mapping]\n[[buckets]]\nname = "a--b"\nbackend_type = "file"\n'
        f'anonymous_access = false\nbackend_options = {{ root = "{tmp_path}" }}\n'
    )
    members = needed_members(config, ["sts"])
    assert members[-2:] == ["multistore-sts", "multistore-path-mapping"]
    with pytest.raises(PackagingError, match="choose from"):
        needed_members(config, ["nonsense"])
