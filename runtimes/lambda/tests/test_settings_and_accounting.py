"""The handler's own settings (max object size as on the server) and what it accounts: the
access line and the usage events carry the exact bytes of each answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from multistore.aws_lambda.runtime import Container, body_size
from multistore.aws_lambda.settings import SettingsError
from multistore.testing.lambda_events import answer_body, event
from multistore.testing.signing import sign

from .conftest import ALL_ACTIONS, KEY

HOST = "https://gateway.example"


def file_config(root: Path, **extra: Any) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    return {
        "buckets": [{"name": "files", "backend_type": "file", "anonymous_access": False,
                     "backend_options": {"root": str(root)}}],
        "credentials": [{
            "access_key_id": KEY[0], "secret_access_key": KEY[1], "principal_name": "lambda",
            "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}],
        }],
        **extra,
    }  # fmt: skip


def started(tmp_path: Path, config: dict[str, Any], **env: str) -> Container:
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    container = Container({"CONFIG_PATH": str(path), **env})
    container.gateway()
    return container


@pytest.fixture
def closing() -> Iterator[list[Container]]:
    containers: list[Container] = []
    yield containers
    for container in containers:
        container.close()


def call(
    container: Container, method: str, target: str, body: bytes = b"", shape: str = "function_url"
) -> dict[str, Any]:
    url = f"{HOST}/files/{target}"
    headers = sign(method, url, access_key=KEY[0], secret_key=KEY[1], body=body)
    return container.invoke(event(shape, method, url, headers, body))


@pytest.mark.parametrize(
    ("env", "server_table", "limit"),
    [
        ({"MULTISTORE_MAX_OBJECT_SIZE": "1KiB"}, None, 1024),
        ({}, {"max_object_size": 1000}, 1000),
        ({"MULTISTORE_MAX_OBJECT_SIZE": "2000"}, {"max_object_size": 1000}, 2000),  # env wins
    ],
)
def test_max_object_size_is_honoured_as_on_the_server(
    tmp_path: Path,
    closing: list[Container],
    env: dict[str, str],
    server_table: dict[str, int] | None,
    limit: int,
) -> None:
    extra = {"server": server_table} if server_table else {}
    root = tmp_path / "files"
    container = started(tmp_path, file_config(root, **extra), **env)
    closing.append(container)
    assert call(container, "PUT", "fits.bin", b"f" * limit)["statusCode"] == 200
    refused = call(container, "PUT", "over.bin", b"o" * (limit + 1))
    assert refused["statusCode"] == 400
    assert b"<Code>EntityTooLarge</Code>" in answer_body(refused)
    assert not (root / "over.bin").exists()
    # A multipart part over the limit is refused the same way.
    created = call(container, "POST", "parts.bin?uploads")
    upload_id = re.search(rb"<UploadId>([^<]+)</UploadId>", answer_body(created))
    assert upload_id is not None
    part = call(
        container, "PUT", f"parts.bin?partNumber=1&uploadId={quote(upload_id[1].decode())}",
        b"p" * (limit + 1),
    )  # fmt: skip
    assert part["statusCode"] == 400
    assert b"<Code>EntityTooLarge</Code>" in answer_body(part)


def test_an_unreadable_max_object_size_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(file_config(tmp_path / "files")))
    container = Container({"CONFIG_PATH": str(path), "MULTISTORE_MAX_OBJECT_SIZE": "lots"})
    try:
        with pytest.raises(SettingsError, match="MULTISTORE_MAX_OBJECT_SIZE"):
            container.gateway()
    finally:
        container.close()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 1000])
def test_body_size_is_exact_for_every_base64_padding(size: int) -> None:
    import base64

    answer = {"body": base64.b64encode(b"x" * size).decode(), "isBase64Encoded": True}
    assert body_size(answer) == size
    assert body_size({"body": "é" * size, "isBase64Encoded": False}) == 2 * size


def test_access_lines_and_usage_events_carry_the_exact_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = tmp_path / "usage.jsonl"
    root = tmp_path / "files"
    metering = {"sink": "jsonl", "sink_path": str(usage), "batch_size": 1}
    container = started(tmp_path, file_config(root, metering=metering))
    sizes = [0, 1, 2, 3, 4, 1000]
    expected: dict[str, tuple[int, int]] = {}  # request id -> (bytes in, bytes out)
    try:
        for size in sizes:
            (root / f"{size}.bin").write_bytes(b"z" * size)
            for shape in ("function_url", "alb"):
                answer = call(container, "GET", f"{size}.bin", shape=shape)
                assert len(answer_body(answer)) == size
                expected[answer["headers"]["x-amz-request-id"]] = (0, size)
        head = call(container, "HEAD", "1000.bin")
        expected[head["headers"]["x-amz-request-id"]] = (0, 0)
        put = call(container, "PUT", "written.bin", b"w" * 777)
        expected[put["headers"]["x-amz-request-id"]] = (777, 0)
    finally:
        container.close()  # metering writes what it still holds
    lines = capsys.readouterr().err.splitlines()
    logged = {}
    for line in lines:
        found = re.search(r"multistore\.access id=(\S+) .* in=(\d+) out=(\d+) ", line)
        if found:
            logged[found[1]] = (int(found[2]), int(found[3]))
    assert logged == expected
    events = [json.loads(line) for line in usage.read_text().splitlines()]
    metered = {e["request_id"]: (e["bytes_in"], e["bytes_out"]) for e in events}
    assert metered == expected


@pytest.mark.parametrize(
    ("env", "expect"),
    [
        ({"MULTISTORE_LOG_FORMAT": "json"}, "json"),
        ({"MULTISTORE_LOG_LEVEL": "warning"}, "none"),
        ({"LOG_LEVEL": "ERROR"}, "none"),
        ({}, "text"),
    ],
)
def test_access_line_format_and_level(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    closing: list[Container],
    env: dict[str, str],
    expect: str,
) -> None:
    container = started(tmp_path, file_config(tmp_path / "files"), **env)
    closing.append(container)
    answer = call(container, "GET", "missing.txt")
    request_id = answer["headers"]["x-amz-request-id"]
    lines = [line for line in capsys.readouterr().err.splitlines() if request_id in line]
    if expect == "none":
        assert lines == []
    elif expect == "json":
        (line,) = lines
        fields = json.loads(line)
        assert fields["logger"] == "multistore.access"
        assert (fields["id"], fields["status"], fields["error"]) == (request_id, 404, "NoSuchKey")
        assert (fields["op"], fields["bucket"], fields["identity"]) == (
            "GetObject", "files", "lambda",
        )  # fmt: skip
    else:
        (line,) = lines
        assert f"id={request_id} " in line
        assert "status=404 error=NoSuchKey" in line


def test_an_unknown_log_format_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(file_config(tmp_path / "files")))
    container = Container({"CONFIG_PATH": str(path), "MULTISTORE_LOG_FORMAT": "xml"})
    try:
        with pytest.raises(SettingsError, match="MULTISTORE_LOG_FORMAT"):
            container.gateway()
    finally:
        container.close()
