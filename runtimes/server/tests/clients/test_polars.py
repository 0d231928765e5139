"""polars (its object_store fork) over HTTP: UNSIGNED-PAYLOAD writes with a CRC64NVME header,
suffix-range footer reads, globbed scans."""

from __future__ import annotations

import io

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ..conftest import FULL
from .conftest import Target


def options_for(target: Target) -> dict[str, str]:
    return {
        "aws_endpoint_url": target.http.url,
        "aws_access_key_id": FULL[0],
        "aws_secret_access_key": FULL[1],
        "aws_region": "us-east-1",
        "aws_allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
    }


def frame(rows: int, offset: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": range(offset, offset + rows), "label": [f"row-{n}" for n in range(rows)]}
    )


def test_polars_write_scan_read_overwrite(target: Target) -> None:
    options = options_for(target)
    folder = f"s3://{target.bucket}/{target.key('polars/')}"
    first, second = frame(20_000, 0), frame(5_000, 20_000)
    first.write_parquet(f"{folder}a.parquet", storage_options=options)
    second.write_parquet(f"{folder}b.parquet", storage_options=options)
    stored = target.stored(target.key("polars/a.parquet")) or b""
    assert pl.from_arrow(pq.read_table(pa.BufferReader(stored))).equals(first)

    assert pl.read_parquet(f"{folder}a.parquet", storage_options=options).equals(first)
    # A glob lists the prefix; the footer is read with a suffix range.
    scanned = pl.scan_parquet(f"{folder}*.parquet", storage_options=options)
    assert scanned.select(pl.len()).collect().item() == 25_000
    assert scanned.filter(pl.col("id") >= 24_990).collect().sort("id").equals(second.tail(10))

    replacement = frame(7, 100)
    replacement.write_parquet(f"{folder}a.parquet", storage_options=options)
    assert pl.read_parquet(f"{folder}a.parquet", storage_options=options).equals(replacement)

    # polars cannot delete; a parquet file placed by another writer reads the same.
    buffer = io.BytesIO()
    first.write_parquet(buffer)
    target.backend.put_raw(target.bucket, target.key("polars/c.parquet"), buffer.getvalue())
    assert pl.read_parquet(f"{folder}c.parquet", storage_options=options).equals(first)
    for name in ("a", "b", "c"):
        target.tls.client(*FULL).delete_object(
            Bucket=target.bucket, Key=target.key(f"polars/{name}.parquet")
        )
    assert target.stored_under(target.key("polars/")) == set()
