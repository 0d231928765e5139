"""One gateway, the in-memory store: request-rate limits and byte quotas end to end."""

from __future__ import annotations

import time
from pathlib import Path

from multistore.testing.gateway import running_gateway
from multistore.testing.signing import send, sign

from .conftest import READER, metered_config


def test_anonymous_rate_limit_answers_429_slowdown_and_the_window_slides(
    root: Path, tmp_path: Path
) -> None:
    (root / "a.txt").write_bytes(b"hello")
    metering = {"sink": "none", "rate_limits": {"anonymous": {"requests": 3, "seconds": 2}}}
    with running_gateway(metered_config(root, metering), tmp_path / "gw") as gateway:
        url = f"{gateway.url}/public/a.txt"
        assert [send("GET", url).status for _ in range(3)] == [200, 200, 200]
        refused = send("GET", url)
        assert refused.status == 429
        assert b"<Code>SlowDown</Code>" in refused.body
        assert refused.headers["Content-Type"] == "application/xml"
        retry_after = int(refused.headers["Retry-After"])
        assert 1 <= retry_after <= 3
        # An authenticated caller has its own budget (no authenticated limit configured).
        signed = sign("GET", url, access_key=READER[0], secret_key=READER[1])
        assert send("GET", url, headers=signed).status == 200
        time.sleep(retry_after)
        assert send("GET", url).status == 200


def test_byte_quota_refuses_once_spent_and_per_client(root: Path, tmp_path: Path) -> None:
    (root / "blob.bin").write_bytes(b"x" * 400_000)
    metering = {"sink": "none", "quotas": [{"bucket": "public", "bytes": "1MiB", "seconds": 60}]}
    with running_gateway(metered_config(root, metering), tmp_path / "gw") as gateway:
        url = f"{gateway.url}/public/blob.bin"
        statuses = [send("GET", url).status for _ in range(4)]
        # 3 x 400 kB = 1.2 MB > 1 MiB: the third is admitted (the quota had room), not the 4th.
        assert statuses == [200, 200, 200, 429]
        signed = sign("GET", url, access_key=READER[0], secret_key=READER[1])
        assert send("GET", url, headers=signed).status == 200
        # An upload announcing more than what is left is refused before a byte is read.
        body = b"u" * 900_000
        put = f"{gateway.url}/public/up.bin"
        headers = sign("PUT", put, access_key=READER[0], secret_key=READER[1], body=body)
        refused = send("PUT", put, headers=headers, body=body)
        assert refused.status == 429, refused.body
        assert not (root / "up.bin").exists()


def test_anonymous_budgets_follow_the_real_client_ip_behind_a_trusted_proxy(
    root: Path, tmp_path: Path
) -> None:
    (root / "a.txt").write_bytes(b"hello")
    metering = {"sink": "none", "rate_limits": {"anonymous": {"requests": 2, "seconds": 30}}}
    trusted = metered_config(root, metering, server={"trusted_proxies": ["127.0.0.1"]})
    with running_gateway(trusted, tmp_path / "trusted") as gateway:
        url = f"{gateway.url}/public/a.txt"
        first = {"X-Forwarded-For": "203.0.113.1"}
        second = {"X-Forwarded-For": "203.0.113.2"}
        assert [send("GET", url, headers=first).status for _ in range(3)] == [200, 200, 429]
        assert send("GET", url, headers=second).status == 200
    untrusted = metered_config(root, metering, server={"trusted_proxies": ["10.0.0.0/8"]})
    with running_gateway(untrusted, tmp_path / "untrusted") as gateway:
        url = f"{gateway.url}/public/a.txt"
        # A client cannot buy itself a fresh budget by writing a new X-Forwarded-For.
        statuses = [
            send("GET", url, headers={"X-Forwarded-For": f"198.51.100.{n}"}).status
            for n in range(3)
        ]
        assert statuses == [200, 200, 429]
