"""The ``gcs`` backend under test: gcp-storage-emulator, with a real service-account flow.

The data buckets authenticate with a service-account key whose token endpoint runs on
127.0.0.1 (the emulator itself accepts any token); the public bucket is anonymous.
"""

from __future__ import annotations

from typing import Any

import pytest

from multistore.testing.gcs_emulator import GcsEmulator
from multistore.testing.gcs_token_endpoint import TokenEndpoint

from .backends_under_test import BackendUnderTest

GCS_BUCKETS = {
    "gcs-data": "gcs-backend-data",
    "gcs-prefixed": "gcs-backend-shared",
    "gcs-public": "gcs-backend-public",
}


class GcsUnderTest(BackendUnderTest):
    """The ``gcs`` backend in front of the GCS emulator."""

    kind = "gcs"
    # gcp-storage-emulator refuses object names with a ".." segment (it drops the
    # connection: a file-path check inside it), and keeps bytes under a normalised path, so
    # "a/./b" and "a//b" would share one body there. GCS itself keeps all of them apart.
    takes_dot_dot_segments = False

    def can_store(self, key: str) -> bool:
        return "." not in key.split("/") and super().can_store(key)

    def __init__(self, emulator: GcsEmulator, tokens: TokenEndpoint) -> None:
        self.emulator = emulator
        self.tokens = tokens

    def backend_options(self, bucket: str) -> dict[str, Any]:
        options = {"bucket_name": GCS_BUCKETS[bucket], "endpoint": self.emulator.endpoint}
        if bucket == self.public:
            options["skip_signature"] = "true"
        else:
            options["service_account_key"] = str(self.tokens.key_file)
        return options

    def prepare(self) -> None:
        for name in GCS_BUCKETS.values():
            self.emulator.create_bucket(name)

    def stored_keys(self, bucket: str) -> set[str]:
        return self.emulator.keys(GCS_BUCKETS[bucket])

    def put_raw(self, bucket: str, key: str, data: bytes) -> None:
        self.emulator.put(GCS_BUCKETS[bucket], key, data)

    def get_raw(self, bucket: str, key: str) -> bytes:
        return self.emulator.get(GCS_BUCKETS[bucket], key)


@pytest.fixture(scope="session")
def gcs_backend_under_test(
    gcs_emulator: GcsEmulator, gcs_token_endpoint: TokenEndpoint
) -> GcsUnderTest:
    return GcsUnderTest(gcs_emulator, gcs_token_endpoint)
