"""The ``azure`` backend in front of Azurite, as one more kind of the end-to-end suite."""

from __future__ import annotations

from typing import Any

import pytest

from multistore.testing.azurite import Azurite, AzuriteClient, account_sas

from .backends_under_test import BackendUnderTest

# Gateway bucket → Azurite container. The prefixed bucket shares a container with nothing
# else; the public one is a container readable anonymously (skip_signature on the gateway).
AZURE_CONTAINERS = {
    "azure-data": "backend-data",
    "azure-prefixed": "backend-shared",
    "azure-public": "backend-public",
}


class AzureUnderTest(BackendUnderTest):
    """The ``azure`` backend over Azurite's blob service (Shared Key, or anonymous)."""

    kind = "azure"

    def __init__(self, azurite: Azurite) -> None:
        self.azurite = azurite
        self.client = AzuriteClient(azurite.endpoint)

    # Two more buckets over the same containers, for the other ways to authenticate.
    sas = "azure-sas"  # backend-data through an account SAS token
    unsigned = "azure-unsigned"  # backend-public, skip_signature (a public container)

    def bucket_configs(self) -> list[dict[str, Any]]:
        return [
            *super().bucket_configs(),
            self.bucket_config(self.sas, anonymous=False, prefix=""),
            self.bucket_config(self.unsigned, anonymous=False, prefix=""),
        ]

    def backend_options(self, bucket: str) -> dict[str, Any]:
        if bucket == self.sas:
            options = self.azurite.backend_options(AZURE_CONTAINERS[self.data])
            del options["access_key"]
            return {**options, "sas_token": account_sas()}
        if bucket == self.unsigned:
            return self.azurite.backend_options(
                AZURE_CONTAINERS[self.public], skip_signature="true"
            )
        return self.azurite.backend_options(AZURE_CONTAINERS[bucket])

    def prepare(self) -> None:
        for bucket, container in AZURE_CONTAINERS.items():
            self.client.create_container(container, public=bucket == self.public)

    def stored_keys(self, bucket: str) -> set[str]:
        return set(self.client.blob_names(AZURE_CONTAINERS[bucket]))

    def put_raw(self, bucket: str, key: str, data: bytes) -> None:
        self.client.put_blob(AZURE_CONTAINERS[bucket], key, data)

    def get_raw(self, bucket: str, key: str) -> bytes:
        return self.client.get_blob(AZURE_CONTAINERS[bucket], key)


@pytest.fixture(scope="session")
def azure_backend_under_test(azurite: Azurite) -> AzureUnderTest:
    return AzureUnderTest(azurite)
