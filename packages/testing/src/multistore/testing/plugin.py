"""pytest plugin: the shared fixtures every member's tests can use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from multistore.testing.azurite import Azurite, running_azurite
from multistore.testing.debian import ensure_debian_tool
from multistore.testing.gcs_emulator import GcsEmulator, running_gcs_emulator
from multistore.testing.gcs_token_endpoint import TokenEndpoint, running_token_endpoint
from multistore.testing.moto_backend import MotoS3, running_moto
from multistore.testing.runtimes import GATEWAY_RUNTIMES, deselect_server_only
from multistore.testing.tls import TlsFiles, make_tls_files
from multistore.testing.venvs import Wheelhouse, build_wheels


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "server_only(reason): runs against multistore-server only, not the Lambda handler "
        "(multistore.testing.runtimes)",
    )


@pytest.hookimpl(trylast=True)  # after conftests have added their marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_server_only(config, items)


@pytest.fixture(scope="session", params=GATEWAY_RUNTIMES)
def gateway_runtime(request: pytest.FixtureRequest) -> str:
    """``server`` or ``lambda-local``: a gateway fixture taking it runs its tests against both
    (multistore.testing.runtimes)."""
    runtime: str = request.param
    return runtime


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """One moto S3 server for the whole session; tests use their own bucket names."""
    with running_moto() as server:
        yield server


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One in-memory Azurite blob service for the whole session (installed when missing)."""
    with running_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """One in-memory GCS emulator for the session (tests use their own buckets in it)."""
    with running_gcs_emulator(tmp_path_factory.mktemp("gcs-emulator")) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcs_token_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenEndpoint]:
    """A service account (its JSON key file) and the OAuth2 token endpoint that trusts it."""
    with running_token_endpoint(tmp_path_factory.mktemp("gcs-account")) as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def workspace_wheels(tmp_path_factory: pytest.TempPathFactory) -> Wheelhouse:
    """Every member built once with ``uv build``, for throwaway environments."""
    return build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def unique(request: pytest.FixtureRequest) -> str:
    """A key prefix (folder) unique to the test, so tests sharing buckets never collide."""
    name: str = request.node.name
    return name.replace("[", "-").replace("]", "").replace("/", "-") + "/"


@pytest.fixture(scope="session")
def rclone_binary() -> str:
    """rclone (Debian ``rclone``), installed with apt-get when missing."""
    return ensure_debian_tool("rclone", "rclone")


@pytest.fixture(scope="session")
def gdal_tools() -> str:
    """The directory holding GDAL's command-line tools (Debian ``gdal-bin``)."""
    ensure_debian_tool("gdalinfo", "gdal-bin")
    return os.path.dirname(ensure_debian_tool("gdalmanage", "gdal-bin"))
