"""``/.multistore/metrics``: scraped from a two-worker gateway, parsed by prometheus_client."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator

import pytest

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.metrics import Samples, scrape, total, value
from multistore.testing.moto_backend import MotoS3
from multistore.testing.ports import free_port
from multistore.testing.signing import send

from .conftest import ALL_ACTIONS, FULL
from .test_e2e_supervision import children_of


@pytest.fixture(scope="module")
def metered(moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("metrics-root")
    (root / "hello.txt").write_bytes(b"hello metrics")
    moto_s3.client().create_bucket(Bucket="metrics")
    config = {
        "buckets": [
            {"name": "files", "backend_type": "file", "anonymous_access": True,
             "backend_options": {"root": str(root)}},
            {"name": "moto", "backend_type": "s3", "anonymous_access": False,
             "backend_options": moto_s3.backend_options("metrics")},
            {"name": "down", "backend_type": "s3", "anonymous_access": True,
             "backend_options": {"endpoint": f"http://127.0.0.1:{free_port()}",
                                 "bucket_name": "gone"}},
        ],
        "credentials": [
            {"access_key_id": FULL[0], "secret_access_key": FULL[1], "principal_name": "full",
             "created_at": "2024-01-01T00:00:00Z",
             "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}]},
        ],
    }  # fmt: skip
    workdir = tmp_path_factory.mktemp("metered")
    with running_gateway(config, workdir, args=["--workers", "2"]) as gateway:
        assert wait_until(lambda: send("GET", f"{gateway.url}/.multistore/readyz").status == 200)
        yield gateway


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def scrape_retrying(gateway: GatewayProcess) -> Samples:
    """A scrape that may land on a worker just killed (its queued connections are reset)."""
    try:
        return scrape(gateway)
    except OSError:
        return {}


def test_requests_bytes_and_latency_are_counted_across_workers(metered: GatewayProcess) -> None:
    before = scrape(metered)
    for _ in range(12):  # on new connections, so both workers get some
        assert send("GET", f"{metered.url}/files/hello.txt").status == 200
    for _ in range(3):
        assert send("GET", f"{metered.url}/files/missing.txt").status == 404

    def counted() -> bool:
        now = scrape(metered)
        ok = "GetObject", "2xx", "files"
        return value(now, "multistore_requests_total", operation=ok[0], status_class=ok[1],
                     bucket=ok[2]) - value(before, "multistore_requests_total", operation=ok[0],
                     status_class=ok[1], bucket=ok[2]) == 12  # fmt: skip

    assert wait_until(counted), scrape(metered)
    after = scrape(metered)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("multistore_requests_total", operation="GetObject", status_class="4xx",
                bucket="files") == 3  # fmt: skip
    assert grew("multistore_sent_bytes_total", operation="GetObject", bucket="files") >= 12 * 13
    assert grew("multistore_request_duration_seconds_count", operation="GetObject",
                status_class="2xx") == 12  # fmt: skip
    assert grew("multistore_request_duration_seconds_bucket", operation="GetObject",
                status_class="2xx", le="+Inf") == 12  # fmt: skip
    assert value(after, "multistore_workers", state="ready") == 2
    # The scrape itself (another worker's gauge may be up to a second old).
    assert value(after, "multistore_requests_in_flight") >= 1


def test_backend_latency_errors_and_pool_usage(metered: GatewayProcess) -> None:
    client = metered.client(*FULL)
    client.put_object(Bucket="moto", Key="m.txt", Body=b"moto")
    assert client.get_object(Bucket="moto", Key="m.txt")["Body"].read() == b"moto"
    assert send("GET", f"{metered.url}/down/x.txt").status == 503

    def seen() -> bool:
        samples = scrape(metered)
        return total(samples, "multistore_backend_errors_total", kind="transport") >= 1 and (
            total(samples, "multistore_backend_request_duration_seconds_count") >= 2
        )

    assert wait_until(seen), scrape(metered)
    samples = scrape(metered)
    moto_origins = {
        dict(labels)["backend"]
        for name, labels in samples
        if name == "multistore_backend_request_duration_seconds_count"
    }
    assert any(origin.startswith("http://127.0.0.1:") for origin in moto_origins)
    pooled = {
        (dict(labels)["backend"], dict(labels)["state"])
        for name, labels in samples
        if name == "multistore_backend_connections"
    }
    assert {state for origin, state in pooled if origin in moto_origins} == {"idle", "in_use"}
    assert total(samples, "multistore_client_connections") >= 1


def test_reloads_and_worker_restarts_are_counted(metered: GatewayProcess) -> None:
    os.kill(metered.pid, signal.SIGHUP)
    assert wait_until(
        lambda: value(scrape(metered), "multistore_config_reloads_total", outcome="success") == 2
    ), metered.log()
    before = scrape(metered)
    requests_before = total(before, "multistore_requests_total")
    victim = min(children_of(metered.pid))
    os.kill(victim, signal.SIGKILL)
    assert wait_until(
        lambda: value(scrape_retrying(metered), "multistore_worker_restarts_total") == 1
    )
    assert wait_until(lambda: send("GET", f"{metered.url}/.multistore/readyz").status == 200)
    after = scrape(metered)
    # The dead worker's counts stay in the totals: counters never go down.
    assert total(after, "multistore_requests_total") >= requests_before
    assert value(after, "multistore_workers", state="ready") == 2
