"""Events from what aws-cli really sends, replayed in all four shapes.

aws-cli talks to the handler through the local runner served from this process; every
Function URL event the runner builds is recorded with its answer. Each recorded request is
then rebuilt as a Function URL, REST API, ALB and multi-value ALB event and invoked again:
the signature aws-cli computed must verify in every shape, for keys with spaces, ``%``,
``+``, ``=`` and non-ASCII characters. aws-cli's own presigned URLs are checked the same way.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from multistore.aws_lambda.local import make_server
from multistore.aws_lambda.runtime import Container
from multistore.testing.aws_cli import run_aws_cli
from multistore.testing.lambda_events import SHAPES, answer_body, event

from .conftest import KEY

KEYS = ["plain.txt", "with space.txt", "100%.txt", "a+b=c.txt", "ünïcødé/ключ.bin"]
PRESIGNED_KEY = "cli/ünïcødé/ключ.bin"


def content(key: str) -> bytes:
    return f"aws-cli wrote {key}\n".encode() + bytes(range(256))


@dataclass
class Recorder:
    """The container behind the runner, remembering every event and its answer."""

    container: Container
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)

    def invoke(self, event: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.container.invoke(event)
        self.calls.append((dict(event), answer))
        return answer


@dataclass(frozen=True)
class Captured:
    calls: list[tuple[dict[str, Any], dict[str, Any]]]
    presigned: str

    def requests(self, method: str, query_has: str = "") -> list[dict[str, Any]]:
        return [
            e for e, _ in self.calls
            if e["requestContext"]["http"]["method"] == method and query_has in e["rawQueryString"]
        ]  # fmt: skip


@pytest.fixture(scope="module")
def captured(container: Container, tmp_path_factory: pytest.TempPathFactory) -> Captured:
    work = tmp_path_factory.mktemp("aws-cli")
    upload = work / "up"
    for key in KEYS:
        (upload / key).parent.mkdir(parents=True, exist_ok=True)
        (upload / key).write_bytes(content(key))
    recorder = Recorder(container)
    server = make_server(recorder, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="lambda-local", daemon=True)
    thread.start()
    try:
        for args in (
            ["s3", "cp", str(upload), "s3://files/cli/", "--recursive"],
            ["s3", "cp", "s3://files/cli/", str(work / "down"), "--recursive"],
        ):
            result = run_aws_cli(url, *args, credentials=KEY, cwd=work)
            assert result.returncode == 0, result.stderr
        presign = run_aws_cli(url, "s3", "presign", f"s3://files/{PRESIGNED_KEY}",
                              credentials=KEY, cwd=work)  # fmt: skip
        assert presign.returncode == 0, presign.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    for key in KEYS:
        assert (work / "down" / key).read_bytes() == content(key)
    return Captured(recorder.calls, presign.stdout.strip())


def timeless(body: bytes) -> bytes:
    return re.sub(rb"<LastModified>[^<]*</LastModified>", b"", body)


def replay(container: Container, shape: str, recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The recorded request, as the front end of ``shape`` would hand it to Lambda."""
    headers = dict(recorded["headers"])
    query = recorded["rawQueryString"]
    url = f"http://{headers['host']}{recorded['rawPath']}" + (f"?{query}" if query else "")
    body = base64.b64decode(recorded["body"])
    method = recorded["requestContext"]["http"]["method"]
    return container.invoke(event(shape, method, url, headers, body))


def test_aws_cli_requests_were_recorded_and_answered(captured: Captured) -> None:
    puts = captured.requests("PUT")
    gets = [e for e in captured.requests("GET") if not e["rawQueryString"]]
    lists = captured.requests("GET", "list-type=2")
    assert len(puts) == len(gets) == len(KEYS)
    assert lists
    assert all(answer["statusCode"] == 200 for _, answer in captured.calls)
    # aws-cli sent the odd keys escaped, and signed them that way.
    paths = {e["rawPath"] for e in puts}
    assert "/files/cli/with%20space.txt" in paths
    assert "/files/cli/100%25.txt" in paths
    assert "/files/cli/a%2Bb%3Dc.txt" in paths
    assert all(e["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 ") for e in puts)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_recorded_request_verifies_in_every_shape(
    container: Container, captured: Captured, shape: str
) -> None:
    for recorded, original in captured.calls:
        answer = replay(container, shape, recorded)
        assert answer["statusCode"] == original["statusCode"], (recorded["rawPath"], answer)
        if recorded["requestContext"]["http"]["method"] == "GET":
            # Replayed PUTs rewrote the objects: listings differ in their times only.
            assert timeless(answer_body(answer)) == timeless(answer_body(original))


@pytest.mark.parametrize("shape", SHAPES)
def test_aws_cli_presigned_url_verifies_in_every_shape(
    container: Container, captured: Captured, shape: str
) -> None:
    assert "Signature=" in captured.presigned  # aws-cli v1 presigns with SigV2
    answer = container.invoke(event(shape, "GET", captured.presigned, {}, b""))
    assert answer["statusCode"] == 200
    assert answer_body(answer) == content(PRESIGNED_KEY.removeprefix("cli/"))


@pytest.mark.parametrize("shape", SHAPES)
def test_a_changed_key_no_longer_verifies(
    container: Container, captured: Captured, shape: str
) -> None:
    recorded = dict(captured.requests("PUT")[0])
    recorded["rawPath"] = recorded["rawPath"].replace("/cli/", "/cli2/")
    answer = replay(container, shape, recorded)
    assert answer["statusCode"] == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in answer_body(answer)
