"""Path mapping is a plugin: installed alone next to core and a runtime, switched on by config
or by ``--path-mapping``, off otherwise, and a startup error when asked for but missing.

The install tests build throwaway virtualenvs from ``uv.lock`` (multistore.testing.venvs):
one with only core + static-config + the server, one with path mapping added.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.venvs import importable, python_with

from .conftest import FULL, PATH_MAPPING, Stores, mapped_config

_PROBED = ("multistore.path_mapping", "multistore.sts", "multistore.testing")


def _installed(python: str) -> list[str]:
    found = importable(python, *_PROBED)
    return [module for module in _PROBED if found[module]]


@pytest.fixture(scope="module")
def python_without_path_mapping(tmp_path_factory: pytest.TempPathFactory) -> str:
    python = python_with(["multistore-server"], tmp_path_factory.mktemp("without-path-mapping"))
    assert _installed(python) == []
    return python


@pytest.fixture(scope="module")
def python_with_path_mapping(tmp_path_factory: pytest.TempPathFactory) -> str:
    python = python_with(
        ["multistore-server", "multistore-path-mapping"],
        tmp_path_factory.mktemp("with-path-mapping"),
    )
    assert _installed(python) == ["multistore.path_mapping"]
    return python


def _put_and_get(gateway: GatewayProcess, key: str) -> bytes:
    client = gateway.client(*FULL)
    client.put_object(Bucket="acme", Key=key, Body=b"through the mapping")
    return bytes(client.get_object(Bucket="acme", Key=key)["Body"].read())


def test_installed_alone_the_flag_turns_it_on(
    python_with_path_mapping: str, stores: Stores, tmp_path: Path
) -> None:
    config = mapped_config(stores.moto, stores.roots)
    with running_gateway(
        config, tmp_path, args=["--path-mapping"], python=python_with_path_mapping
    ) as gateway:
        assert _put_and_get(gateway, "weather/alone/k.txt") == b"through the mapping"
        assert "path mapping on" in gateway.log()
    assert stores.read("acme--weather", "alone/k.txt") == b"through the mapping"


@pytest.mark.parametrize(
    "how",
    [
        lambda config: ({**config, "path_mapping": PATH_MAPPING}, []),
        lambda config: (config, ["--path-mapping"]),
    ],
    ids=["config-table", "flag"],
)
def test_asked_for_but_not_installed_is_a_startup_error(
    python_without_path_mapping: str,
    stores: Stores,
    tmp_path: Path,
    how: Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]],
) -> None:
    config, args = how(mapped_config(stores.moto, stores.roots))
    with (
        pytest.raises(RuntimeError, match="exited early"),
        running_gateway(config, tmp_path, args=args, python=python_without_path_mapping),
    ):
        pass
    logs = "".join(path.read_text() for path in tmp_path.glob("gateway-*.log"))
    assert "install multistore-path-mapping" in logs


@pytest.mark.parametrize(
    "sections",
    [{}, {"path_mapping": {**PATH_MAPPING, "enabled": False}}],
    ids=["no-table", "enabled-false"],
)
def test_off_unless_asked_for(stores: Stores, tmp_path: Path, sections: dict[str, Any]) -> None:
    config = mapped_config(stores.moto, stores.roots, **sections)
    with running_gateway(config, tmp_path) as gateway:
        client = gateway.client(*FULL)
        # Without mapping, "acme" is just an unknown bucket...
        with pytest.raises(client.exceptions.NoSuchBucket):
            client.put_object(Bucket="acme", Key="climate/k", Body=b"x")
        # ... and the internal names are ordinary buckets.
        client.put_object(Bucket="acme--climate", Key="off/k", Body=b"flat")
        assert "path mapping on" not in gateway.log()
    assert stores.read("acme--climate", "off/k") == b"flat"


def test_a_bad_table_stops_startup(stores: Stores, tmp_path: Path) -> None:
    config = mapped_config(stores.moto, stores.roots, path_mapping={"bucket_segments": 1})
    with pytest.raises(RuntimeError, match="exited early"), running_gateway(config, tmp_path):
        pass
    logs = "".join(path.read_text() for path in tmp_path.glob("gateway-*.log"))
    assert "[path_mapping] bucket_segments must be at least 2" in logs
