"""A reload (SIGHUP) applies new ``[metering]`` limits, and a bad table is rejected."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from multistore.testing.gateway import running_gateway
from multistore.testing.signing import send

from .conftest import metered_config


def _rate(requests: int) -> dict[str, object]:
    return {"sink": "none", "rate_limits": {"anonymous": {"requests": requests, "seconds": 60}}}


def test_sighup_applies_new_limits_and_rejects_a_bad_metering_table(
    root: Path, tmp_path: Path
) -> None:
    (root / "a.txt").write_bytes(b"hello")
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(metered_config(root, _rate(2))))
    with running_gateway(path, tmp_path / "gw") as gateway:
        url = f"{gateway.url}/public/a.txt"
        assert [send("GET", url).status for _ in range(3)] == [200, 200, 429]
        # Twice the limit: the two requests already made still count in the window.
        path.write_text(json.dumps(metered_config(root, _rate(4))))
        os.kill(gateway.pid, signal.SIGHUP)
        gateway.wait_for_log("metering limits reloaded: 1 rate limit(s), 0 quota(s)")
        assert [send("GET", url).status for _ in range(3)] == [200, 200, 429]
        # A table the gateway cannot serve is a rejected reload: the limits stay.
        path.write_text(json.dumps(metered_config(root, _rate(0))))
        os.kill(gateway.pid, signal.SIGHUP)
        log = gateway.wait_for_log("configuration reload rejected")
        assert "requests must be a positive integer" in log
        assert send("GET", url).status == 429
        # Without the table, no limits (the middleware stays, with nothing to check).
        config = metered_config(root, {})
        del config["metering"]
        path.write_text(json.dumps(config))
        os.kill(gateway.pid, signal.SIGHUP)
        gateway.wait_for_log("metering limits reloaded: 0 rate limit(s), 0 quota(s)")
        assert [send("GET", url).status for _ in range(3)] == [200, 200, 200]
