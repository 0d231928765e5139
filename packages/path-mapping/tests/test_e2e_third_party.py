"""The docs' rclone and DuckDB recipes (docs/path-mapping.md) run against a mapped gateway.

Both clients address products as folders of the account (``gw:acme/climate/…``,
``s3://acme/climate/…``); the gateway must answer the account-level calls they make first
(rclone: ListBuckets, CreateBucket, listings with and without a delimiter; DuckDB: globs
as listings, ranged GETs of parquet footers).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from multistore.testing.gateway import GatewayProcess

from .conftest import FULL, Stores


def _rclone(binary: str, gateway: GatewayProcess, workdir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        RCLONE_CONFIG_GW_TYPE="s3",
        RCLONE_CONFIG_GW_PROVIDER="Other",
        RCLONE_CONFIG_GW_ENDPOINT=gateway.url,
        RCLONE_CONFIG_GW_REGION="us-east-1",
        RCLONE_CONFIG_GW_ACCESS_KEY_ID=FULL[0],
        RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=FULL[1],
    )
    command = [
        binary, "--config", str(workdir / "rclone.conf"), "--retries", "1",
        "--low-level-retries", "1", "--stats", "0", *args,
    ]  # fmt: skip
    done = subprocess.run(
        command, env=env, cwd=workdir, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_rclone_recipe(
    gateway: GatewayProcess, stores: Stores, rclone_binary: str, tmp_path: Path, unique: str
) -> None:
    local = tmp_path / "local"
    (local / "nested").mkdir(parents=True)
    files = {"a.txt": b"alpha\n", "nested/b.bin": os.urandom(70_000)}
    for name, data in files.items():
        (local / name).write_bytes(data)

    listed = _rclone(rclone_binary, gateway, tmp_path, "lsd", "gw:acme")
    assert {line.split()[-1] for line in listed.splitlines()} >= {"climate", "weather"}

    remote = f"gw:acme/climate/{unique}"
    _rclone(rclone_binary, gateway, tmp_path, "copy", str(local), remote)
    for name, data in files.items():
        assert stores.read("acme--climate", f"{unique}{name}") == data
    _rclone(rclone_binary, gateway, tmp_path, "check", str(local), remote)

    back = tmp_path / "back"
    _rclone(rclone_binary, gateway, tmp_path, "sync", remote, str(back))
    assert {p.relative_to(back).as_posix(): p.read_bytes() for p in back.rglob("*.*")} == files

    _rclone(rclone_binary, gateway, tmp_path, "purge", remote)
    assert not {k for k in stores.keys("acme--climate") if k.startswith(unique)}


@pytest.fixture
def duck(gateway: GatewayProcess) -> Iterator[duckdb.DuckDBPyConnection]:
    # The httpfs extension comes from a wheel pinned to the DuckDB release, loaded by path:
    # INSTALL httpfs would download it.
    folder = resources.files("duckdb_extension_httpfs") / "extensions" / f"v{duckdb.__version__}"
    connection = duckdb.connect(config={"autoinstall_known_extensions": False})
    connection.execute(f"LOAD '{folder / 'httpfs.duckdb_extension'}'")
    connection.execute(
        f"""
        CREATE SECRET acme (
            TYPE s3, KEY_ID '{FULL[0]}', SECRET '{FULL[1]}', REGION 'us-east-1',
            ENDPOINT '{gateway.url.removeprefix("http://")}', URL_STYLE 'path', USE_SSL false
        )
        """
    )
    yield connection
    connection.close()


def test_duckdb_recipe(duck: duckdb.DuckDBPyConnection, stores: Stores, unique: str) -> None:
    # One product on moto, one on a file root: the same account path for both.
    for product, bucket in (("climate", "acme--climate"), ("weather", "acme--weather")):
        folder = f"s3://acme/{product}/{unique}"
        duck.execute(
            f"COPY (SELECT range AS id FROM range(1000)) TO '{folder}part.parquet' (FORMAT parquet)"
        )
        assert stores.read(bucket, f"{unique}part.parquet").startswith(b"PAR1")
        listed = duck.execute(f"SELECT file FROM glob('{folder}*.parquet')").fetchall()
        assert listed == [(f"{folder}part.parquet",)]
        row = duck.execute(f"SELECT count(*), sum(id) FROM read_parquet('{folder}*')").fetchone()
        assert row == (1000, sum(range(1000)))
