"""Metering's queued work is out when the invocation returns: Lambda may freeze the
environment right after and retire it frozen, so nothing may wait for a background task.

No test here closes the container or sleeps before looking: what it checks must be written
by the time the handler (or the local runner's HTTP answer) returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from multistore.aws_lambda.runtime import Container
from multistore.testing.gateway import running_gateway
from multistore.testing.lambda_events import answer_body, event
from multistore.testing.redis_server import RedisServer, running_redis
from multistore.testing.signing import send, sign

from .conftest import ALL_ACTIONS, KEY

HOST = "https://gateway.example"
RATE_KEY = "multistore:metering:rate:60000:files:auth:lambda"
BYTES_KEY = "multistore:metering:bytes:60000:files:auth:lambda"
LIMITS = {
    "rate_limits": {"authenticated": {"requests": 1000, "seconds": 60}},
    "quotas": [{"bucket": "files", "bytes": "1GiB", "seconds": 60}],
}


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis") as server:
        yield server


def metered_config(root: Path, metering: dict[str, Any]) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    return {
        "buckets": [{"name": "files", "backend_type": "file", "anonymous_access": False,
                     "backend_options": {"root": str(root)}}],
        "credentials": [{
            "access_key_id": KEY[0], "secret_access_key": KEY[1], "principal_name": "lambda",
            "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}],
        }],
        "metering": metering,
    }  # fmt: skip


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Container]]:
    containers: list[Container] = []
    yield containers
    for container in containers:
        container.close()


def start(tmp_path: Path, config: dict[str, Any], containers: list[Container]) -> Container:
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    container = Container({"CONFIG_PATH": str(path)})
    containers.append(container)
    container.gateway()
    return container


def get(container: Container, key: str) -> dict[str, Any]:
    url = f"{HOST}/files/{key}"
    headers = sign("GET", url, access_key=KEY[0], secret_key=KEY[1])
    return container.invoke(event("function_url", "GET", url, headers, b""))


def usage_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def counted(url: str) -> tuple[int, int]:
    """Requests and bytes Redis's windows hold for the ``lambda`` principal on ``files``."""
    client = Redis.from_url(url, decode_responses=True)
    try:
        requests = sum(int(v) for v in client.hvals(RATE_KEY))
        moved = sum(int(v) for v in client.hvals(BYTES_KEY))
    finally:
        client.close()
    return requests, moved


def test_a_get_s_usage_event_is_in_the_file_when_the_invocation_returns(
    tmp_path: Path, started: list[Container]
) -> None:
    root, usage = tmp_path / "files", tmp_path / "usage.jsonl"
    # The default batch_size (500): the writer would linger 0.1 s for more events.
    container = start(tmp_path, metered_config(root, {"sink": "jsonl", "sink_path": str(usage)}),
                      started)  # fmt: skip
    (root / "one.bin").write_bytes(b"1" * 1234)
    answer = get(container, "one.bin")
    assert len(answer_body(answer)) == 1234
    (recorded,) = usage_events(usage)
    assert recorded["request_id"] == answer["headers"]["x-amz-request-id"]
    assert (recorded["operation"], recorded["bytes_out"]) == ("GetObject", 1234)
    second = get(container, "missing.bin")
    assert second["statusCode"] == 404
    assert [e["request_id"] for e in usage_events(usage)] == [
        answer["headers"]["x-amz-request-id"], second["headers"]["x-amz-request-id"],
    ]  # fmt: skip


def test_used_units_are_in_redis_when_the_invocation_returns(
    tmp_path: Path, started: list[Container], redis_server: RedisServer
) -> None:
    root = tmp_path / "files"
    metering = {"store": "redis", "redis_url": redis_server.url, "sink": "none", **LIMITS}
    container = start(tmp_path, metered_config(root, metering), started)
    (root / "one.bin").write_bytes(b"1" * 1000)
    for n in range(1, 4):
        # The first request takes a lease (a round trip it waits for); the next ones are
        # admitted from it, and only the report after the answer tells Redis of them.
        assert get(container, "one.bin")["statusCode"] == 200
        assert counted(redis_server.url) == (n, 1000 * n)


def test_through_the_local_runner_both_are_written_before_the_answer(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    root, usage = tmp_path / "files", tmp_path / "usage.jsonl"
    metering = {"store": "redis", "redis_url": redis_server.url, "sink": "jsonl",
                "sink_path": str(usage), **LIMITS}  # fmt: skip
    config = metered_config(root, metering)
    (root / "two.bin").write_bytes(b"2" * 4321)
    with running_gateway(config, tmp_path / "gw", runtime="lambda") as gateway:
        url = f"{gateway.url}/files/two.bin"
        answer = send("GET", url, headers=sign("GET", url, access_key=KEY[0], secret_key=KEY[1]))
        assert answer.status == 200
        (recorded,) = usage_events(usage)
        assert recorded["request_id"] == answer.headers["x-amz-request-id"]
        assert recorded["bytes_out"] == 4321
        assert counted(redis_server.url) == (1, 4321)
