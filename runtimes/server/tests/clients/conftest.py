"""The client matrix: real third-party S3 clients against the suite's gateways, both backends.

Every client talks to the session gateways of ``../conftest.py`` (plain HTTP, and TLS where the
client would otherwise not send what it sends in production: the botocore family only sends
aws-chunked bodies with trailing checksums over HTTPS). What a client wrote is checked in the
backend itself (moto, or the file backend's directory), never only through the gateway.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from multistore.testing.gateway import GatewayProcess

from ..backends_under_test import MOTO_BUCKETS, BackendUnderTest
from ..conftest import FULL

KiB = 1 << 10
MiB = 1 << 20


def payload(size: int, seed: int) -> bytes:
    """Reproducible incompressible bytes (a seed per version makes overwrites detectable)."""
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Target:
    """One backend's bucket as a client sees it, plus a direct view of what it stored."""

    backend: BackendUnderTest
    http: GatewayProcess
    tls: GatewayProcess
    prefix: str  # unique to the test, ends with "/"

    @property
    def kind(self) -> str:
        return self.backend.kind

    @property
    def bucket(self) -> str:
        return self.backend.data

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def stored(self, key: str) -> bytes | None:
        """The object's bytes as the backend holds them, read around the gateway."""
        if self.kind == "s3":
            client = self.backend.moto.client()
            try:
                body: bytes = client.get_object(Bucket=MOTO_BUCKETS[self.bucket], Key=key)[
                    "Body"
                ].read()
            except client.exceptions.NoSuchKey:
                return None
            return body
        if self.kind in ("azure", "gcs"):
            try:
                return self.backend.get_raw(self.bucket, key)
            except KeyError:
                return None
        path = self.backend.file_roots[self.bucket] / key
        return path.read_bytes() if path.is_file() else None

    def stored_under(self, prefix: str) -> set[str]:
        """Keys the backend holds under ``prefix``."""
        return {k for k in self.backend.stored_keys(self.bucket) if k.startswith(prefix)}


SERVER_ONLY = (
    "the matrix drives every client over TLS as well, and round-trips objects of several "
    "MiB (5 MiB multipart parts, files over the part size): the Lambda runner has no TLS (a "
    "Function URL ends it in front of the function) and one invocation carries at most "
    "4,694,016 bytes; the S3 surface the clients use is driven through the handler by the "
    "end-to-end suite one level up"
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # `pytest -m clients` runs just the matrix; `-m "not clients"` everything else.
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.clients)
            item.add_marker(pytest.mark.server_only(reason=SERVER_ONLY))


@pytest.fixture
def target(
    backend: BackendUnderTest,
    gateway: GatewayProcess,
    tls_gateway: GatewayProcess,
    unique: str,
) -> Target:
    return Target(backend, gateway, tls_gateway, f"matrix/{unique}")


@pytest.fixture(scope="session", autouse=True)
def _no_instance_metadata() -> Iterator[None]:
    # The AWS SDKs inside pyarrow, polars and obstore look for EC2 instance metadata when a
    # setting is missing; on a machine without it that is a slow timeout, never an answer.
    previous = os.environ.get("AWS_EC2_METADATA_DISABLED")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    yield
    if previous is None:
        os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
    else:
        os.environ["AWS_EC2_METADATA_DISABLED"] = previous


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without AWS settings, for a CLI client subprocess.

    ``AWS_CA_BUNDLE`` in particular must go: rclone refuses plain-http endpoints when it is set.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        AWS_ACCESS_KEY_ID=FULL[0],
        AWS_SECRET_ACCESS_KEY=FULL[1],
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


class ObjectClient(Protocol):
    """The five things every client in the matrix can do to an object."""

    def put(self, key: str, data: bytes) -> None: ...
    def list(self, prefix: str) -> set[str]: ...
    def get(self, key: str) -> bytes: ...
    def get_range(self, key: str, start: int, end: int) -> bytes: ...  # end inclusive
    def delete(self, key: str) -> None: ...


def round_trip(client: ObjectClient, target: Target, *, size: int = 300 * KiB) -> None:
    """Write, list, read whole and by range, overwrite, delete — checked in the backend.

    ``size`` lets a client cross its own multipart threshold.
    """
    folder = target.key("round-trip/")
    key, sibling = f"{folder}object.bin", f"{folder}sub/sibling.txt"
    first, small = payload(size, 1), b"a small sibling object\n"

    client.put(key, first)
    client.put(sibling, small)
    assert sha256(target.stored(key) or b"") == sha256(first)
    assert target.stored(sibling) == small

    assert client.list(folder) == {key, sibling}

    assert sha256(client.get(key)) == sha256(first)
    assert client.get_range(key, 1000, 5095) == first[1000:5096]
    assert client.get_range(key, size - 10, size - 1) == first[-10:]

    second = payload(size + 17, 2)
    client.put(key, second)
    assert sha256(target.stored(key) or b"") == sha256(second)
    assert sha256(client.get(key)) == sha256(second)

    client.delete(key)
    client.delete(sibling)
    assert target.stored(key) is None
    assert target.stored(sibling) is None
    assert client.list(folder) == set()


def assert_ok(result: Any) -> None:
    """A finished subprocess exited 0; otherwise show what it said."""
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
