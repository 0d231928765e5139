"""obstore (Rust object_store) over HTTP: signed payload hashes, list, ranges, multipart puts."""

from __future__ import annotations

import io

import obstore
import pytest
from obstore.exceptions import AlreadyExistsError
from obstore.store import S3Store

from ..conftest import FULL
from .conftest import MiB, Target, payload, round_trip, sha256


def store_for(target: Target) -> S3Store:
    return S3Store(
        target.bucket,
        endpoint=target.http.url,
        access_key_id=FULL[0],
        secret_access_key=FULL[1],
        region="us-east-1",
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )


class ObstoreObjects:
    def __init__(self, store: S3Store) -> None:
        self.store = store

    def put(self, key: str, data: bytes) -> None:
        obstore.put(self.store, key, data)

    def list(self, prefix: str) -> set[str]:
        return {meta["path"] for batch in obstore.list(self.store, prefix) for meta in batch}

    def get(self, key: str) -> bytes:
        return bytes(obstore.get(self.store, key).bytes())

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return bytes(obstore.get_range(self.store, key, start=start, end=end + 1))

    def delete(self, key: str) -> None:
        obstore.delete(self.store, key)


def test_obstore_round_trip(target: Target) -> None:
    round_trip(ObstoreObjects(store_for(target)), target)


def test_obstore_multipart_put_and_conditional_create(target: Target) -> None:
    store = store_for(target)
    key = target.key("obstore/big.bin")
    data = payload(12 * MiB + 1, 21)
    # A file-like source goes multipart: 5 MiB parts uploaded concurrently, out of order.
    obstore.put(store, key, io.BytesIO(data), chunk_size=5 * MiB, max_concurrency=4)
    assert sha256(target.stored(key) or b"") == sha256(data)
    head = obstore.head(store, key)
    assert head["size"] == len(data)
    assert str(head["e_tag"]).strip('"').endswith("-3")

    ranges = obstore.get_ranges(store, key, starts=[0, 5 * MiB], ends=[100, 5 * MiB + 100])
    assert [bytes(r) for r in ranges] == [data[:100], data[5 * MiB : 5 * MiB + 100]]

    # mode="create" is If-None-Match: * — refused for an existing key, object untouched.
    with pytest.raises(AlreadyExistsError):
        obstore.put(store, key, b"clobber", mode="create")
    assert sha256(target.stored(key) or b"") == sha256(data)

    obstore.delete(store, key)
    assert target.stored(key) is None
