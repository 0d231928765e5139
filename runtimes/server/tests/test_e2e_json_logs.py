"""``--log-format json``: every line one JSON object with the documented fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from multistore.testing.gateway import running_gateway
from multistore.testing.signing import send

ACCESS_FIELDS = {
    "time", "level", "logger", "pid", "id", "ip", "identity", "op", "bucket", "method",
    "status", "error", "in", "out", "ms",
}  # fmt: skip
APP_FIELDS = {"time", "level", "logger", "pid", "message"}


def test_json_log_lines(tmp_path: Path) -> None:
    with running_gateway(None, tmp_path, args=["--log-format", "json"]) as gateway:
        assert send("GET", f"{gateway.url}/demo/README.txt").status == 200
        missing = send("GET", f"{gateway.url}/demo/missing.txt")
        assert missing.status == 404
        assert send("GET", f"{gateway.url}/demo?versioning").status == 501
        log = gateway.wait_for_log('"logger": "multistore.access"', count=3)
    entries: list[dict[str, Any]] = [json.loads(line) for line in log.splitlines()]
    access = [e for e in entries if e["logger"] == "multistore.access"]
    app = [e for e in entries if e["logger"] != "multistore.access"]
    assert all(set(e) == ACCESS_FIELDS for e in access), access
    assert all(APP_FIELDS <= set(e) <= APP_FIELDS | {"exception"} for e in app), app
    read = next(e for e in access if e["op"] == "GetObject" and e["status"] == 200)
    assert read["bucket"] == "demo"
    assert read["identity"] == "anonymous"
    assert read["out"] > 0
    assert isinstance(read["ms"], float)
    assert read["time"].endswith("Z")
    refused = next(e for e in access if e["id"] == missing.headers["x-amz-request-id"])
    assert (refused["status"], refused["error"]) == (404, "NoSuchKey")
    assert any(e["message"].startswith("listening on http://127.0.0.1:") for e in app)
    unsupported = next(e for e in app if "NotImplemented" in e["message"])
    assert unsupported["level"] == "INFO"
