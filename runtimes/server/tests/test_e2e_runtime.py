"""The server runtime itself: demo mode, health, extensions, workers, shutdown, file safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from multistore.server.demo import DEMO_ACCESS_KEY_ID, DEMO_BUCKET, DEMO_SECRET_ACCESS_KEY
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.ports import free_port
from multistore.testing.runtimes import runtime_options
from multistore.testing.signing import send, sign
from multistore.testing.venvs import python_with

from .conftest import FULL


def test_demo_mode_serves_a_local_directory(tmp_path: Path) -> None:
    with running_gateway(None, tmp_path) as gateway:
        anonymous = gateway.client()
        readme = anonymous.get_object(Bucket=DEMO_BUCKET, Key="README.txt")["Body"].read()
        assert b"multistore" in readme
        writer = gateway.client(DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY)
        writer.put_object(Bucket=DEMO_BUCKET, Key="hello.txt", Body=b"hi")
        assert (tmp_path / "data" / DEMO_BUCKET / "hello.txt").read_bytes() == b"hi"
        with pytest.raises(ClientError):
            anonymous.put_object(Bucket=DEMO_BUCKET, Key="nope.txt", Body=b"x")


def test_health_and_request_ids(gateway: GatewayProcess) -> None:
    health = send("GET", f"{gateway.url}/.multistore/healthz")
    assert health.status == 200
    assert health.body == b"ok\n"
    error = send("GET", f"{gateway.url}/file-data/secret.txt")
    request_id = error.headers["x-amz-request-id"]
    assert f"<RequestId>{request_id}</RequestId>".encode() in error.body
    assert f"id={request_id}" in gateway.wait_for_log(f"id={request_id}")


def test_server_errors_hide_internals(tmp_path: Path, gateway_runtime: str) -> None:
    config = {"buckets": [{"name": "down", "backend_type": "s3", "anonymous_access": True,
                           "backend_options": {"endpoint": f"http://127.0.0.1:{free_port()}",
                                               "bucket_name": "secret-backend-name"}}]}  # fmt: skip
    with running_gateway(config, tmp_path, **runtime_options(gateway_runtime)) as gateway:
        response = send("GET", f"{gateway.url}/down/key.txt")
        assert response.status == 503
        assert b"<Code>ServiceUnavailable</Code>" in response.body
        assert b"secret-backend-name" not in response.body
        assert b"127.0.0.1" not in response.body
        assert "unreachable" in gateway.log()


def test_file_backend_never_leaves_its_root(
    gateway: GatewayProcess, file_roots: dict[str, Path], tmp_path: Path, unique: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("top secret")
    folder = file_roots["file-public"] / unique
    folder.mkdir(parents=True)
    (folder / "link").symlink_to(outside)
    (folder / "file-link.txt").symlink_to(outside / "secret.txt")
    anonymous = gateway.client()
    writer = gateway.client(*FULL)
    for key in (f"{unique}link/secret.txt", f"{unique}file-link.txt"):
        with pytest.raises(ClientError):
            anonymous.get_object(Bucket="file-public", Key=key)
        with pytest.raises(ClientError):
            writer.put_object(Bucket="file-public", Key=key, Body=b"overwritten")
    listed = writer.list_objects_v2(Bucket="file-public")
    assert not any("secret" in o["Key"] for o in listed.get("Contents", []))
    for raw in (
        "/file-public/../outside/secret.txt",
        "/file-public/%2e%2e/outside/secret.txt",
        "/file-public//etc/passwd",
        "/file-public/%2Fetc%2Fpasswd",
    ):
        assert send("GET", gateway.url + raw).status in (400, 403, 404), raw
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_workers_share_the_port_and_sigterm_drains(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "multistore.server", "--listen", f"127.0.0.1:{port}",
               "--workers", "2", "--data-dir", str(tmp_path / "data")]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    log = tmp_path / "workers.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and log.read_text().count("listening on") < 2:
            time.sleep(0.1)
        assert log.read_text().count("listening on") == 2, log.read_text()
        pids = set()
        for _ in range(20):
            assert send("GET", f"http://127.0.0.1:{port}/demo/README.txt").status == 200
        for line in log.read_text().splitlines():
            if "multistore.access" in line:
                pids.add(line.split("[", 1)[1].split("]", 1)[0])
        assert len(pids) >= 1
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert log.read_text().count("shutting down") == 2
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def test_virtual_hosted_buckets(tmp_path: Path) -> None:
    with running_gateway(None, tmp_path, args=["--domain", "s3.local"]) as gateway:
        port = gateway.url.rsplit(":", 1)[1]
        local = f"127.0.0.1:{port}"
        vhost = f"http://{DEMO_BUCKET}.s3.local:{port}"
        assert send("GET", f"{vhost}/README.txt", connect_to=local).status == 200
        url = f"{vhost}/virtual/hosted.txt"
        headers = sign(
            "PUT", url, access_key=DEMO_ACCESS_KEY_ID, secret_key=DEMO_SECRET_ACCESS_KEY, body=b"vh"
        )
        assert send("PUT", url, headers=headers, body=b"vh", connect_to=local).status == 200
        listing = send("GET", f"{vhost}/?list-type=2&prefix=virtual/", connect_to=local)
        assert b"<Key>virtual/hosted.txt</Key>" in listing.body
        # The bare domain is path style.
        assert (
            send(
                "GET", f"http://s3.local:{port}/{DEMO_BUCKET}/virtual/hosted.txt", connect_to=local
            ).body
            == b"vh"
        )
        # boto3's default presigned URL (SigV2) signs /bucket/key even for virtual-hosted URLs.
        client = boto3.client(
            "s3",
            endpoint_url=f"http://s3.local:{port}",
            region_name="us-east-1",
            aws_access_key_id=DEMO_ACCESS_KEY_ID,
            aws_secret_access_key=DEMO_SECRET_ACCESS_KEY,
            config=Config(s3={"addressing_style": "virtual"}),
        )
        presigned = client.generate_presigned_url(
            "get_object", Params={"Bucket": DEMO_BUCKET, "Key": "virtual/hosted.txt"}
        )
        client.close()
        assert presigned.startswith(vhost)
        response = send("GET", presigned, connect_to=local)
        assert (response.status, response.body) == (200, b"vh")


def _wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sighup_reloads_the_config_and_keeps_it_when_the_new_one_is_bad(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "f.txt").write_text("file")

    def bucket(name: str) -> dict[str, Any]:
        return {"name": name, "backend_type": "file", "anonymous_access": True,
                "backend_options": {"root": str(root)}}  # fmt: skip

    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps({"buckets": [bucket("before")]}))
    with running_gateway(config_path, tmp_path / "run") as gateway:
        assert send("GET", f"{gateway.url}/before/f.txt").status == 200
        assert send("GET", f"{gateway.url}/after/f.txt").status == 403
        config_path.write_text(json.dumps({"buckets": [bucket("after")]}))
        os.kill(gateway.pid, signal.SIGHUP)
        assert _wait_for(lambda: send("GET", f"{gateway.url}/after/f.txt").status == 200)
        assert send("GET", f"{gateway.url}/before/f.txt").status == 403
        config_path.write_text("{ this is not json")
        os.kill(gateway.pid, signal.SIGHUP)
        assert _wait_for(lambda: "reload rejected" in gateway.log())
        assert send("GET", f"{gateway.url}/after/f.txt").status == 200


def test_a_bucket_that_cannot_be_served_is_a_startup_error(tmp_path: Path) -> None:
    # The server alone: the development environment has the optional backends installed.
    python = python_with(["multistore-server"], tmp_path / "server-only")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"buckets": [
        {"name": "gone", "backend_type": "file", "anonymous_access": True,
         "backend_options": {"root": str(tmp_path / "missing")}},
        {"name": "blob", "backend_type": "azure", "anonymous_access": True,
         "backend_options": {"account_name": "a", "container_name": "c"}},
    ]}))  # fmt: skip
    command = [python, "-m", "multistore.server", "--config", str(config),
               "--listen", f"127.0.0.1:{free_port()}", "--workers", "1"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert result.returncode == 2
    assert "cannot start" in result.stderr
    assert "'gone'" in result.stderr
    assert "'azure' is not installed" in result.stderr


def test_missing_keys_on_an_s3_backend_are_not_warnings(gateway: GatewayProcess) -> None:
    # rclone HEADs every key before uploading it and pyarrow HEADs "directories": a 404 from
    # the backend is the client's answer, not something for the operator to look at.
    client = gateway.client(*FULL)
    logged = len(gateway.log())
    with pytest.raises(ClientError) as head:
        client.head_object(Bucket="s3-data", Key="runtime/never-written")
    assert head.value.response["Error"]["Code"] == "404"
    with pytest.raises(ClientError) as get:
        client.get_object(Bucket="s3-data", Key="runtime/never-written")
    assert get.value.response["Error"]["Code"] == "NoSuchKey"
    assert "WARNING" not in gateway.log()[logged:]
