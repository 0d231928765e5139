"""A real S3 server (moto in server mode) on 127.0.0.1 for backend tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from multistore.testing.ports import free_port

MOTO_ACCESS_KEY = "motoaccesskey"
MOTO_SECRET_KEY = "motosecretkey"


@dataclass(frozen=True, slots=True)
class MotoS3:
    endpoint: str
    _client: Any = None

    def client(self) -> Any:
        """A boto3 client talking to moto directly (to inspect what the gateway stored)."""
        if self._client is not None:
            return self._client
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=MOTO_ACCESS_KEY,
            aws_secret_access_key=MOTO_SECRET_KEY,
        )
        object.__setattr__(self, "_client", client)
        return client

    def backend_options(self, bucket_name: str) -> dict[str, str]:
        return {
            "endpoint": self.endpoint,
            "bucket_name": bucket_name,
            "region": "us-east-1",
            "access_key_id": MOTO_ACCESS_KEY,
            "secret_access_key": MOTO_SECRET_KEY,
        }


@contextmanager
def running_moto() -> Iterator[MotoS3]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        moto = MotoS3(endpoint=f"http://{host}:{port}")
        yield moto
        if moto._client is not None:
            moto._client.close()
    finally:
        server.stop()
