"""DuckDB's httpfs extension over HTTP: COPY TO parquet, read_parquet over a glob, read_blob.

`INSTALL httpfs` downloads from DuckDB's servers; the extension comes instead from a wheel
built for exactly the pinned DuckDB release, loaded by path.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import duckdb
import pytest

from ..conftest import FULL
from .conftest import Target, sha256


def httpfs_extension() -> str:
    folder = resources.files("duckdb_extension_httpfs") / "extensions" / f"v{duckdb.__version__}"
    return str(folder / "httpfs.duckdb_extension")


@pytest.fixture
def db(target: Target) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(config={"autoinstall_known_extensions": False})
    connection.execute(f"LOAD '{httpfs_extension()}'")
    connection.execute(
        f"""
        CREATE SECRET gateway (
            TYPE s3, KEY_ID '{FULL[0]}', SECRET '{FULL[1]}', REGION 'us-east-1',
            ENDPOINT '{target.http.url.removeprefix("http://")}',
            URL_STYLE 'path', USE_SSL false
        )
        """
    )
    yield connection
    connection.close()


def test_duckdb_copy_to_and_read_parquet(target: Target, db: duckdb.DuckDBPyConnection) -> None:
    folder = f"s3://{target.bucket}/{target.key('duck/')}"
    for name, start in (("a", 0), ("b", 30_000)):
        db.execute(
            f"COPY (SELECT range AS id, 'row-' || range AS label FROM range({start}, {start} + "
            f"30000)) TO '{folder}{name}.parquet' (FORMAT parquet)"
        )
    stored = target.stored(target.key("duck/a.parquet")) or b""
    assert stored.startswith(b"PAR1")

    # The glob is a listing; the reads are ranged GETs of footers and column chunks.
    listed = db.execute(f"SELECT file FROM glob('{folder}*.parquet') ORDER BY file").fetchall()
    assert [row[0] for row in listed] == [f"{folder}a.parquet", f"{folder}b.parquet"]
    count, total = db.execute(
        f"SELECT count(*), sum(id) FROM read_parquet('{folder}*.parquet')"
    ).fetchone() or (0, 0)
    assert (count, total) == (60_000, sum(range(60_000)))

    blob = db.execute(f"SELECT content FROM read_blob('{folder}a.parquet')").fetchone()
    assert blob is not None
    assert sha256(bytes(blob[0])) == sha256(stored)

    db.execute(f"COPY (SELECT 42 AS id, 'x' AS label) TO '{folder}a.parquet' (FORMAT parquet)")
    assert db.execute(f"SELECT id FROM read_parquet('{folder}a.parquet')").fetchall() == [(42,)]

    # DuckDB cannot delete objects; another client does, and DuckDB sees them gone.
    client = target.tls.client(*FULL)
    for name in ("a", "b"):
        client.delete_object(Bucket=target.bucket, Key=target.key(f"duck/{name}.parquet"))
    assert target.stored_under(target.key("duck/")) == set()
    assert db.execute(f"SELECT count(*) FROM glob('{folder}*')").fetchone() == (0,)
