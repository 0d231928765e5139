"""The backend kinds the end-to-end suite runs against, one class per kind.

Each kind contributes three gateway buckets (``<kind>-data``, ``<kind>-prefixed`` with a
``backend_prefix``, ``<kind>-public`` for anonymous callers) and a way to see what the store
really holds, bypassing the gateway. A new backend joins the suite by subclassing
:class:`BackendUnderTest`, providing a session fixture named ``<kind>_backend_under_test``
and adding its kind to ``BACKEND_KINDS`` in conftest.py.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from multistore.testing.moto_backend import MotoS3

PREFIX = "team/a/"


class BackendUnderTest(ABC):
    """The buckets of one backend kind and a way to see what the backend really stored."""

    kind: ClassVar[str]
    # S3 takes keys with a ".." segment; an emulator that stores objects as file paths may
    # refuse them (each such gap is listed in docs/backends.md).
    takes_dot_dot_segments: ClassVar[bool] = True

    def can_store(self, key: str) -> bool:
        """Whether this kind's store takes ``key`` (False only for a documented store gap)."""
        return self.takes_dot_dot_segments or ".." not in key.split("/")

    @property
    def data(self) -> str:
        return f"{self.kind}-data"

    @property
    def prefixed(self) -> str:
        return f"{self.kind}-prefixed"

    @property
    def public(self) -> str:
        return f"{self.kind}-public"

    def bucket_configs(self) -> list[dict[str, Any]]:
        """The gateway's ``[[buckets]]`` entries for this kind."""
        return [
            self.bucket_config(self.data, anonymous=False, prefix=""),
            self.bucket_config(self.prefixed, anonymous=False, prefix=PREFIX),
            self.bucket_config(self.public, anonymous=True, prefix=""),
        ]

    def bucket_config(self, name: str, *, anonymous: bool, prefix: str) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": name,
            "backend_type": self.kind,
            "anonymous_access": anonymous,
            "backend_options": self.backend_options(name),
        }
        if prefix:
            config["backend_prefix"] = prefix
        return config

    @abstractmethod
    def backend_options(self, bucket: str) -> dict[str, Any]:
        """``backend_options`` of the gateway bucket ``bucket``."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Create whatever the store needs before the gateway starts (containers, buckets)."""

    @abstractmethod
    def stored_keys(self, bucket: str) -> set[str]:
        """Keys as the backend holds them (with any backend prefix)."""

    @abstractmethod
    def put_raw(self, bucket: str, key: str, data: bytes) -> None:
        """Write directly to the backend, bypassing the gateway."""

    @abstractmethod
    def get_raw(self, bucket: str, key: str) -> bytes:
        """What the backend itself holds for ``key`` (a backend key: prefix included)."""


MOTO_BUCKETS = {
    "s3-data": "backend-data",
    "s3-prefixed": "backend-shared",
    "s3-public": "backend-public",
}


class S3UnderTest(BackendUnderTest):
    """The ``s3`` backend in front of moto's server mode."""

    kind = "s3"

    def __init__(self, moto: MotoS3) -> None:
        self.moto = moto

    def backend_options(self, bucket: str) -> dict[str, Any]:
        return self.moto.backend_options(MOTO_BUCKETS[bucket])

    def prepare(self) -> None:
        client = self.moto.client()
        for bucket in set(MOTO_BUCKETS.values()):
            client.create_bucket(Bucket=bucket)

    def stored_keys(self, bucket: str) -> set[str]:
        client = self.moto.client()
        keys: set[str] = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=MOTO_BUCKETS[bucket]):
            keys.update(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def put_raw(self, bucket: str, key: str, data: bytes) -> None:
        self.moto.client().put_object(Bucket=MOTO_BUCKETS[bucket], Key=key, Body=data)

    def get_raw(self, bucket: str, key: str) -> bytes:
        got = self.moto.client().get_object(Bucket=MOTO_BUCKETS[bucket], Key=key)
        return bytes(got["Body"].read())


class FileUnderTest(BackendUnderTest):
    """The ``file`` backend over one directory per bucket."""

    kind = "file"

    def __init__(self, file_roots: dict[str, Path]) -> None:
        self.file_roots = file_roots

    def backend_options(self, bucket: str) -> dict[str, Any]:
        return {"root": str(self.file_roots[bucket])}

    def stored_keys(self, bucket: str) -> set[str]:
        root = self.file_roots[bucket]
        found = set()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d != ".multistore"]
            for name in filenames:
                found.add(str(Path(dirpath, name).relative_to(root)))
        return found

    def put_raw(self, bucket: str, key: str, data: bytes) -> None:
        path = self.file_roots[bucket] / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def get_raw(self, bucket: str, key: str) -> bytes:
        return (self.file_roots[bucket] / key).read_bytes()
