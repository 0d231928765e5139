"""One gateway process for the end-to-end suite, in front of every backend kind under test."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multistore.core.config import Action
from multistore.testing.aws_cli import run_aws_cli
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.moto_backend import MotoS3
from multistore.testing.runtimes import runtime_options
from multistore.testing.tls import TlsFiles

from .backend_azure import azure_backend_under_test
from .backend_gcs import gcs_backend_under_test
from .backends_under_test import BackendUnderTest, FileUnderTest, S3UnderTest

__all__ = ["azure_backend_under_test"]  # a fixture: imported so pytest finds it

ALL_ACTIONS = [action.value for action in Action]

__all__ = ["gcs_backend_under_test"]  # a session fixture, imported to be found

FULL = ("AKIAFULL000000000000", "full-secret-key")
PREFIXED = ("AKIAPREFIX0000000000", "prefix-secret-key")
READER = ("AKIAREADER0000000000", "reader-secret-key")
DISABLED = ("AKIADISABLED00000000", "disabled-secret-key")
EXPIRED = ("AKIAEXPIRED000000000", "expired-secret-key")


def _credential(
    pair: tuple[str, str], name: str, scopes: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "access_key_id": pair[0],
        "secret_access_key": pair[1],
        "principal_name": name,
        "created_at": "2024-01-01T00:00:00Z",
        "enabled": True,
        "allowed_scopes": scopes,
        **extra,
    }


BACKEND_KINDS = ("s3", "file", "azure", "gcs")
"""Every backend kind the suite runs against; each has a ``<kind>_backend_under_test`` fixture."""


def gateway_config(backends: list[BackendUnderTest]) -> dict[str, Any]:
    buckets = [config for backend in backends for config in backend.bucket_configs()]
    prefixed_scopes = [
        {"bucket": b, "prefixes": ["allowed/"], "actions": ALL_ACTIONS}
        for b in (backend.data for backend in backends)
    ]
    return {
        "buckets": buckets,
        "credentials": [
            _credential(FULL, "full", [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}]),
            _credential(PREFIXED, "prefixed", prefixed_scopes),
            _credential(
                READER,
                "reader",
                [{"bucket": "s3-data", "prefixes": [], "actions": ["get_object", "list_bucket"]}],
            ),
            _credential(
                DISABLED,
                "disabled",
                [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}],
                enabled=False,
            ),
            _credential(
                EXPIRED,
                "expired",
                [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}],
                expires_at="2020-01-01T00:00:00Z",
            ),
        ],
    }


@pytest.fixture(scope="session")
def file_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("file-backends")
    roots = {}
    for name in ("file-data", "file-prefixed", "file-public"):
        roots[name] = base / name
        roots[name].mkdir()
    return roots


@pytest.fixture(scope="session")
def s3_backend_under_test(moto_s3: MotoS3) -> S3UnderTest:
    return S3UnderTest(moto_s3)


@pytest.fixture(scope="session")
def file_backend_under_test(file_roots: dict[str, Path]) -> FileUnderTest:
    return FileUnderTest(file_roots)


@pytest.fixture(scope="session")
def backends_under_test(request: pytest.FixtureRequest) -> list[BackendUnderTest]:
    """One of every kind in ``BACKEND_KINDS``, prepared (buckets and containers created)."""
    backends: list[BackendUnderTest] = [
        request.getfixturevalue(f"{kind}_backend_under_test") for kind in BACKEND_KINDS
    ]
    for backend in backends:
        backend.prepare()
    return backends


@pytest.fixture(scope="session")
def gateway(
    gateway_runtime: str,
    backends_under_test: list[BackendUnderTest],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """The gateway every end-to-end test talks to: once ``multistore-server``, once the Lambda
    handler behind ``multistore-lambda-local`` (same config, same buckets). Tests marked
    ``server_only`` run against the server alone (multistore.testing.runtimes)."""
    config = gateway_config(backends_under_test)
    with running_gateway(
        config,
        tmp_path_factory.mktemp(f"gateway-{gateway_runtime}"),
        **runtime_options(gateway_runtime, max_object_size="100MiB"),
    ) as process:
        yield process


@pytest.fixture(params=BACKEND_KINDS)
def backend(
    request: pytest.FixtureRequest, backends_under_test: list[BackendUnderTest]
) -> BackendUnderTest:
    return next(b for b in backends_under_test if b.kind == request.param)


@pytest.fixture
def file_backend(
    backends_under_test: list[BackendUnderTest], file_backend_under_test: FileUnderTest
) -> FileUnderTest:
    """The file backend alone, for behaviour only it has to provide itself."""
    return file_backend_under_test


@pytest.fixture
def full_client(gateway: GatewayProcess) -> Any:
    return gateway.client(*FULL)


@pytest.fixture(scope="session")
def tls_gateway(
    backends_under_test: list[BackendUnderTest],
    tls_files: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    # Same buckets as the plain-HTTP gateway, over TLS; the server alone (a Function URL's
    # TLS ends in front of the function), so it takes no runtime parameter.
    config = gateway_config(backends_under_test)
    with running_gateway(config, tmp_path_factory.mktemp("tls-gateway"), tls=tls_files) as process:
        yield process


def aws_cli(gateway: GatewayProcess, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_aws_cli(gateway, *args, credentials=FULL, cwd=cwd)
