"""pyarrow's S3FileSystem (aws-sdk-cpp) over HTTP: always multipart, always aws-chunked with a
CRC64NVME trailer and chunked transfer encoding; parquet files, datasets, folder markers."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from pyarrow import fs

from ..conftest import FULL
from .conftest import MiB, Target, payload, round_trip, sha256


def filesystem_for(target: Target) -> fs.S3FileSystem:
    return fs.S3FileSystem(
        access_key=FULL[0],
        secret_key=FULL[1],
        endpoint_override=target.http.url.removeprefix("http://"),
        scheme="http",
        region="us-east-1",
        retry_strategy=fs.AwsStandardS3RetryStrategy(max_attempts=1),
    )


class PyarrowObjects:
    def __init__(self, filesystem: fs.S3FileSystem, bucket: str) -> None:
        self.fs, self.bucket = filesystem, bucket

    def put(self, key: str, data: bytes) -> None:
        with self.fs.open_output_stream(f"{self.bucket}/{key}") as stream:
            stream.write(data)

    def list(self, prefix: str) -> set[str]:
        selector = fs.FileSelector(f"{self.bucket}/{prefix}", recursive=True, allow_not_found=True)
        return {
            info.path.removeprefix(f"{self.bucket}/")
            for info in self.fs.get_file_info(selector)
            if info.type == fs.FileType.File
        }

    def get(self, key: str) -> bytes:
        with self.fs.open_input_stream(f"{self.bucket}/{key}") as stream:
            return bytes(stream.read())

    def get_range(self, key: str, start: int, end: int) -> bytes:
        with self.fs.open_input_file(f"{self.bucket}/{key}") as handle:
            return bytes(handle.read_at(end - start + 1, start))

    def delete(self, key: str) -> None:
        self.fs.delete_file(f"{self.bucket}/{key}")


def sample_table(rows: int, seed: int) -> pa.Table:
    noise = payload(rows * 8, seed)
    return pa.table(
        {
            "id": pa.array(range(rows), pa.int64()),
            "part": pa.array([f"p{n % 3}" for n in range(rows)]),
            "value": pa.array(
                [int.from_bytes(noise[n * 8 : n * 8 + 8], signed=True) for n in range(rows)]
            ),
        }
    )


def test_pyarrow_round_trip(target: Target) -> None:
    # 11 MiB: more than one of pyarrow's 10 MiB parts.
    round_trip(PyarrowObjects(filesystem_for(target), target.bucket), target, size=11 * MiB)


def test_pyarrow_parquet_write_and_read(target: Target) -> None:
    s3 = filesystem_for(target)
    path = f"{target.bucket}/{target.key('arrow/table.parquet')}"
    table = sample_table(50_000, 30)
    pq.write_table(table, path, filesystem=s3, row_group_size=10_000)
    stored = target.stored(target.key("arrow/table.parquet")) or b""
    assert pq.read_table(pa.BufferReader(stored)).equals(table)

    assert pq.read_table(path, filesystem=s3).equals(table)
    # One column of one row group: ranged reads of the footer and that column chunk.
    parquet = pq.ParquetFile(s3.open_input_file(path))
    assert parquet.metadata.num_row_groups == 5
    group = parquet.read_row_group(3, columns=["value"]).column(0).combine_chunks()
    assert group.equals(table.column("value").slice(30_000, 10_000).combine_chunks())
    moved = f"{target.bucket}/{target.key('arrow/moved/table.parquet')}"
    s3.move(path, moved)
    assert target.stored(target.key("arrow/table.parquet")) is None
    assert sha256(target.stored(target.key("arrow/moved/table.parquet")) or b"") == sha256(stored)
    s3.delete_file(moved)
    assert target.stored(target.key("arrow/moved/table.parquet")) is None


def test_pyarrow_dataset_create_dir_move_delete(target: Target) -> None:
    s3 = filesystem_for(target)
    base = f"{target.bucket}/{target.key('dataset')}"
    # create_dir writes a folder marker ("dataset/"), as write_dataset does for each directory.
    s3.create_dir(base)

    table = sample_table(3_000, 31)
    ds.write_dataset(
        table,
        base,
        filesystem=s3,
        format="parquet",
        partitioning=["part"],
        partitioning_flavor="hive",
    )
    written = ds.dataset(base, filesystem=s3, format="parquet", partitioning="hive")
    assert (
        written.to_table()
        .sort_by("id")
        .select(["id", "value"])
        .equals(table.select(["id", "value"]))
    )

    files = sorted(written.files)
    moved = f"{base}/moved.parquet"
    before = target.stored(files[0].removeprefix(f"{target.bucket}/"))
    s3.move(files[0], moved)
    assert s3.get_file_info(files[0]).type == fs.FileType.NotFound
    assert sha256(target.stored(moved.removeprefix(f"{target.bucket}/")) or b"") == sha256(
        before or b"-"
    )

    s3.delete_file(moved)
    assert s3.get_file_info(moved).type == fs.FileType.NotFound
    s3.delete_dir(base)
    assert target.stored_under(target.key("dataset")) == set()


def test_pyarrow_created_directory_exists(target: Target) -> None:
    # pyarrow decides "directory" by HEAD of the path, then a delimited listing of "path/"
    # with max-keys=1: on S3 the marker "path/" itself comes back as the one key.
    s3 = filesystem_for(target)
    base = f"{target.bucket}/{target.key('empty')}"
    s3.create_dir(base)
    assert s3.get_file_info(base).type == fs.FileType.Directory
    s3.delete_dir(base)
    assert s3.get_file_info(base).type == fs.FileType.NotFound
