"""minio-py over HTTP: objects, ranged reads, multipart, listings, bulk delete, presigned GET."""

from __future__ import annotations

import io
import urllib.request

from minio import Minio
from minio.deleteobjects import DeleteObject

from ..conftest import FULL
from .conftest import MiB, Target, payload, round_trip, sha256


def client_for(target: Target) -> Minio:
    return Minio(
        target.http.url.removeprefix("http://"),
        access_key=FULL[0],
        secret_key=FULL[1],
        secure=False,
        region="us-east-1",
    )


class MinioObjects:
    def __init__(self, client: Minio, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))

    def list(self, prefix: str) -> set[str]:
        found = self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
        return {item.object_name for item in found if item.object_name is not None}

    def _read(self, key: str, offset: int = 0, length: int = 0) -> bytes:
        response = self.client.get_object(self.bucket, key, offset=offset, length=length)
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def get(self, key: str) -> bytes:
        return self._read(key)

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self._read(key, start, end - start + 1)

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, key)


def test_minio_round_trip(target: Target) -> None:
    round_trip(MinioObjects(client_for(target), target.bucket), target)


def test_minio_multipart_bulk_delete_and_presign(target: Target) -> None:
    client = client_for(target)
    key = target.key("minio/big.bin")
    data = payload(11 * MiB, 22)
    client.put_object(target.bucket, key, io.BytesIO(data), len(data), part_size=5 * MiB)
    assert sha256(target.stored(key) or b"") == sha256(data)
    stat = client.stat_object(target.bucket, key)
    assert stat.size == len(data)
    assert (stat.etag or "").endswith("-3")

    url = client.presigned_get_object(target.bucket, key)
    with urllib.request.urlopen(url, timeout=30) as response:
        assert sha256(response.read()) == sha256(data)

    client.put_object(target.bucket, target.key("minio/small"), io.BytesIO(b"x"), 1)
    errors = list(
        client.remove_objects(
            target.bucket,
            [DeleteObject(key), DeleteObject(target.key("minio/small"))],
        )
    )
    assert errors == []
    assert target.stored_under(target.key("minio/")) == set()
