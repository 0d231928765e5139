"""A gateway with path mapping on: accounts whose products live on moto (s3) and a file root.

| account | product | bucket        | backend |
|---------|---------|---------------|---------|
| acme    | climate | acme--climate | s3      |
| acme    | weather | acme--weather | file    |
| tree    | a / b   | tree--a / -b  | s3 / file (account-level aws-cli commands) |
| pages   | x / y   | pages--x / -y | s3 / file (pagination across products)     |
| other   | stuff   | other--stuff  | file    |

plus ``public``, a flat (unmapped) anonymous bucket that keeps its ordinary address.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from multistore.core.config import Action
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.moto_backend import MotoS3

ALL_ACTIONS = [action.value for action in Action]

FULL = ("AKIAPMFULL0000000000", "path-mapping-full-secret")
CLIMATE = ("AKIAPMCLIMATE0000000", "path-mapping-climate-secret")
WEATHER_2024 = ("AKIAPMWEATHER2024000", "path-mapping-weather-secret")

S3_PRODUCTS = {"acme--climate": "pm-climate", "tree--a": "pm-tree-a", "pages--x": "pm-pages-x"}
FILE_PRODUCTS = ("acme--weather", "tree--b", "pages--y", "other--stuff", "public")

WEATHER_2024_SCOPE = {
    "bucket": "acme--weather",
    "prefixes": ["2024/"],
    "actions": ["get_object", "list_bucket"],
}
PATH_MAPPING = {"bucket_segments": 2, "bucket_separator": "--", "display_bucket_segments": 1}


def _credential(pair: tuple[str, str], name: str, scopes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "access_key_id": pair[0],
        "secret_access_key": pair[1],
        "principal_name": name,
        "created_at": "2024-01-01T00:00:00Z",
        "enabled": True,
        "allowed_scopes": scopes,
    }


def mapped_config(moto: MotoS3, roots: dict[str, Path], **sections: Any) -> dict[str, Any]:
    buckets: list[dict[str, Any]] = [
        {"name": name, "backend_type": "s3", "anonymous_access": False,
         "backend_options": moto.backend_options(backend)}
        for name, backend in S3_PRODUCTS.items()
    ]  # fmt: skip
    buckets += [
        {"name": name, "backend_type": "file", "anonymous_access": name == "public",
         "backend_options": {"root": str(roots[name])}}
        for name in FILE_PRODUCTS
    ]  # fmt: skip
    return {
        "buckets": buckets,
        "credentials": [
            _credential(FULL, "full", [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}]),
            _credential(
                CLIMATE,
                "climate-team",
                [{"bucket": "acme--climate", "prefixes": [], "actions": ALL_ACTIONS}],
            ),
            _credential(WEATHER_2024, "weather-2024-reader", [WEATHER_2024_SCOPE]),
        ],
        **sections,
    }


@dataclass(frozen=True, slots=True)
class Stores:
    """What the backends really hold, read around the gateway."""

    moto: MotoS3
    roots: dict[str, Path]

    def keys(self, bucket: str) -> set[str]:
        if bucket in S3_PRODUCTS:
            client = self.moto.client()
            found: set[str] = set()
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=S3_PRODUCTS[bucket]):
                found.update(obj["Key"] for obj in page.get("Contents", []))
            return found
        root = self.roots[bucket]
        files = set()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".multistore"]
            files.update(str(Path(dirpath, name).relative_to(root)) for name in filenames)
        return files

    def read(self, bucket: str, key: str) -> bytes:
        if bucket in S3_PRODUCTS:
            body = self.moto.client().get_object(Bucket=S3_PRODUCTS[bucket], Key=key)["Body"]
            return bytes(body.read())
        return (self.roots[bucket] / key).read_bytes()


@pytest.fixture(scope="session")
def file_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("path-mapping-roots")
    roots = {name: base / name for name in FILE_PRODUCTS}
    for root in roots.values():
        root.mkdir()
    return roots


@pytest.fixture(scope="session")
def stores(moto_s3: MotoS3, file_roots: dict[str, Path]) -> Stores:
    client = moto_s3.client()
    for backend in S3_PRODUCTS.values():
        client.create_bucket(Bucket=backend)
    return Stores(moto_s3, file_roots)


@pytest.fixture(scope="session")
def gateway(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = mapped_config(stores.moto, stores.roots, path_mapping=PATH_MAPPING)
    with running_gateway(config, tmp_path_factory.mktemp("mapped-gateway")) as process:
        yield process


@pytest.fixture
def full(gateway: GatewayProcess) -> Any:
    return gateway.client(*FULL)
