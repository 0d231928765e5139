"""``[server] trusted_proxies``: forwarding headers are believed only from those peers."""

from __future__ import annotations

from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.server.client_ip import TrustedProxies
from multistore.testing.gateway import running_gateway
from multistore.testing.signing import send


def _config(root: Path, trusted: list[str]) -> dict[str, object]:
    return {
        "server": {"trusted_proxies": trusted},
        "buckets": [{"name": "public", "backend_type": "file", "anonymous_access": True,
                     "backend_options": {"root": str(root)}}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("trusted", "headers", "seen"),
    [
        # From a trusted proxy: the rightmost hop that is not a proxy is the client.
        (["127.0.0.1"], {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}, "203.0.113.9"),
        (["127.0.0.1", "10.0.0.0/8"], {"X-Forwarded-For": "203.0.113.9, 10.1.2.3"}, "203.0.113.9"),
        (["127.0.0.1"], {"Forwarded": 'for="[2001:db8::1]:4711";proto=https'}, "2001:db8::1"),
        # From anyone else, the same headers are a spoof and are ignored.
        (["10.0.0.0/8"], {"X-Forwarded-For": "203.0.113.9"}, "127.0.0.1"),
        (["10.0.0.0/8"], {"Forwarded": "for=203.0.113.9"}, "127.0.0.1"),
    ],
)
def test_access_log_shows_the_real_client(
    tmp_path: Path, trusted: list[str], headers: dict[str, str], seen: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_bytes(b"a")
    with running_gateway(_config(root, trusted), tmp_path / "gw") as gateway:
        response = send("GET", f"{gateway.url}/public/a.txt", headers=headers)
        assert response.status == 200
        log = gateway.wait_for_log("op=GetObject")
    (line,) = [line for line in log.splitlines() if "op=GetObject" in line]
    assert f"ip={seen} " in line


def test_unreadable_hops_stop_the_walk() -> None:
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    headers = CIMultiDict({"X-Forwarded-For": "203.0.113.9, unknown, 10.0.0.5"})
    assert proxies.client_ip("127.0.0.1", headers) == "10.0.0.5"
    assert proxies.client_ip("192.0.2.1", headers) == "192.0.2.1"
    assert proxies.client_ip("127.0.0.1", CIMultiDict()) == "127.0.0.1"
