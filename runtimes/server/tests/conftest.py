"""One gateway process for the end-to-end suite, in front of moto (s3) and local dirs (file)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from multistore.core.config import Action
from multistore.testing.aws_cli import run_aws_cli
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.moto_backend import MotoS3
from multistore.testing.runtimes import GATEWAY_RUNTIMES, runtime_options
from multistore.testing.tls import TlsFiles

ALL_ACTIONS = [action.value for action in Action]

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


@dataclass(frozen=True, slots=True)
class BackendUnderTest:
    """The buckets of one backend kind and a way to see what the backend really stored."""

    kind: str
    moto: MotoS3
    file_roots: dict[str, Path]

    @property
    def data(self) -> str:
        return f"{self.kind}-data"

    @property
    def prefixed(self) -> str:
        return f"{self.kind}-prefixed"

    @property
    def public(self) -> str:
        return f"{self.kind}-public"

    def stored_keys(self, bucket: str) -> set[str]:
        """Keys as the backend holds them (with any backend prefix)."""
        if self.kind == "s3":
            client = self.moto.client()
            keys: set[str] = set()
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=MOTO_BUCKETS[bucket]
            ):
                keys.update(obj["Key"] for obj in page.get("Contents", []))
            return keys
        root = self.file_roots[bucket]
        found = set()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".multistore"]
            for name in filenames:
                found.add(str(Path(dirpath, name).relative_to(root)))
        return found

    def put_raw(self, bucket: str, key: str, data: bytes) -> None:
        """Write directly to the backend, bypassing the gateway."""
        if self.kind == "s3":
            self.moto.client().put_object(Bucket=MOTO_BUCKETS[bucket], Key=key, Body=data)
        else:
            path = self.file_roots[bucket] / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


MOTO_BUCKETS = {
    "s3-data": "backend-data",
    "s3-prefixed": "backend-shared",
    "s3-public": "backend-public",
}


def gateway_config(moto: MotoS3, roots: dict[str, Path]) -> dict[str, Any]:
    buckets: list[dict[str, Any]] = [
        {"name": "s3-data", "backend_type": "s3", "anonymous_access": False,
         "backend_options": moto.backend_options("backend-data")},
        {"name": "s3-prefixed", "backend_type": "s3", "anonymous_access": False,
         "backend_prefix": "team/a/", "backend_options": moto.backend_options("backend-shared")},
        {"name": "s3-public", "backend_type": "s3", "anonymous_access": True,
         "backend_options": moto.backend_options("backend-public")},
        {"name": "file-data", "backend_type": "file", "anonymous_access": False,
         "backend_options": {"root": str(roots["file-data"])}},
        {"name": "file-prefixed", "backend_type": "file", "anonymous_access": False,
         "backend_prefix": "team/a/", "backend_options": {"root": str(roots["file-prefixed"])}},
        {"name": "file-public", "backend_type": "file", "anonymous_access": True,
         "backend_options": {"root": str(roots["file-public"])}},
    ]  # fmt: skip
    prefixed_scopes = [
        {"bucket": b, "prefixes": ["allowed/"], "actions": ALL_ACTIONS}
        for b in ("s3-data", "file-data")
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


def create_moto_buckets(moto: MotoS3) -> None:
    client = moto.client()
    existing = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
    for bucket in set(MOTO_BUCKETS.values()) - existing:
        client.create_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def file_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("file-backends")
    roots = {}
    for name in ("file-data", "file-prefixed", "file-public"):
        roots[name] = base / name
        roots[name].mkdir()
    return roots


@pytest.fixture(scope="session", params=GATEWAY_RUNTIMES)
def gateway(
    request: pytest.FixtureRequest,
    moto_s3: MotoS3,
    file_roots: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """The gateway every end-to-end test talks to: once ``multistore-server``, once the Lambda
    handler behind ``multistore-lambda-local`` (same config, same buckets). Tests marked
    ``server_only`` run against the server alone (multistore.testing.runtimes)."""
    create_moto_buckets(moto_s3)
    config = gateway_config(moto_s3, file_roots)
    with running_gateway(
        config,
        tmp_path_factory.mktemp(f"gateway-{request.param}"),
        **runtime_options(request.param, max_object_size="100MiB"),
    ) as process:
        yield process


@pytest.fixture(params=["s3", "file"])
def backend(
    request: pytest.FixtureRequest, moto_s3: MotoS3, file_roots: dict[str, Path]
) -> BackendUnderTest:
    return BackendUnderTest(request.param, moto_s3, file_roots)


@pytest.fixture
def file_backend(moto_s3: MotoS3, file_roots: dict[str, Path]) -> BackendUnderTest:
    """The file backend alone, for behaviour only it has to provide itself."""
    return BackendUnderTest("file", moto_s3, file_roots)


@pytest.fixture
def full_client(gateway: GatewayProcess) -> Any:
    return gateway.client(*FULL)


@pytest.fixture(scope="session")
def tls_gateway(
    moto_s3: MotoS3,
    file_roots: dict[str, Path],
    tls_files: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    # Same buckets as the plain-HTTP gateway, over TLS; the server alone (a Function URL's
    # TLS ends in front of the function), so it takes no runtime parameter.
    create_moto_buckets(moto_s3)
    config = gateway_config(moto_s3, file_roots)
    with running_gateway(config, tmp_path_factory.mktemp("tls-gateway"), tls=tls_files) as process:
        yield process


def aws_cli(gateway: GatewayProcess, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_aws_cli(gateway, *args, credentials=FULL, cwd=cwd)
