"""The two runtimes one end-to-end suite runs against, and the marker that limits a test to one.

The session fixture ``gateway_runtime`` (the plugin's) is parametrised over
``GATEWAY_RUNTIMES``: a gateway fixture that takes it and starts its gateway with
``running_gateway(..., **runtime_options(gateway_runtime))`` makes every test that uses it
run twice, against ``multistore-server`` and against the Lambda handler behind
``multistore-lambda-local``. A test that cannot apply to the buffered
Lambda handler says why with ``@pytest.mark.server_only(reason=...)`` (or a module's
``pytestmark``); its Lambda variant is deselected at collection, never skipped, so a run
reports only tests that ran. A ``server_only`` mark without a reason stops the run.
"""

from __future__ import annotations

from typing import Any

import pytest

SERVER = "server"
LAMBDA_LOCAL = "lambda-local"
GATEWAY_RUNTIMES = (SERVER, LAMBDA_LOCAL)
RUNTIME_FIXTURE = "gateway_runtime"
"""The parametrised fixture whose value names the runtime of a collected test."""


def runtime_options(
    runtime: str, *, max_object_size: str | None = None, domain: str | None = None
) -> dict[str, Any]:
    """Keyword arguments of ``running_gateway`` that start ``runtime`` with these settings.

    The server takes flags; the Lambda runner takes only its config, so the same settings go
    through the ``MULTISTORE_*`` variables a function's configuration would set.
    """
    settings = {"max-object-size": max_object_size, "domain": domain}
    given = {name: value for name, value in settings.items() if value is not None}
    if runtime == SERVER:
        return {"args": [part for name, value in given.items() for part in (f"--{name}", value)]}
    if runtime == LAMBDA_LOCAL:
        env = {f"MULTISTORE_{name.replace('-', '_').upper()}": v for name, v in given.items()}
        return {"runtime": "lambda", "env": env}
    raise ValueError(f"unknown runtime {runtime!r}")


def item_runtime(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    runtime = callspec.params.get(RUNTIME_FIXTURE)
    return runtime if runtime in GATEWAY_RUNTIMES else None


def deselect_server_only(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the Lambda variants of ``server_only`` tests from the run."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("server_only")
        if marker is not None and not marker.kwargs.get("reason"):
            raise pytest.UsageError(f"{item.nodeid}: server_only needs reason=...")
        if marker is not None and item_runtime(item) == LAMBDA_LOCAL:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# Why a test cannot apply to the buffered handler, for the reasons several tests share.
FIVE_MIB_PARTS = (
    "multipart with 5 MiB parts (S3's minimum for all but the last part): a part is more "
    "than the 4,694,016 bytes one Function URL request carries"
)
OVER_THE_PAYLOAD_LIMIT = (
    "its body is larger than one Lambda payload carries; the handler's answer to such "
    "bodies is tested in runtimes/lambda/tests/test_payload_limits.py"
)
EXPECT_CONTINUE = (
    "Expect: 100-continue before a body over the payload limit: Lambda's front end reads "
    "whole bodies, the function never sees the handshake (the runner refuses such a "
    "declared length with 413 before the body, tested in runtimes/lambda/tests)"
)
