"""What Shared Key signing costs per request: the gateway's signer, and the vendor SDK's.

    uv run python bench/azure_signing.py
    # with the SDK installed somewhere aside (it is no dependency of the workspace):
    uv pip install --target /tmp/azsdk azure-storage-blob
    AZURE_SDK_PATH=/tmp/azsdk uv run python bench/azure_signing.py

Signs a typical ranged GET with conditional headers, N times, and prints µs per request.
"""

from __future__ import annotations

import os
import sys
import timeit

from multistore.azure.auth import SharedKey
from multistore.testing.azurite import ACCOUNT_KEY, ACCOUNT_NAME

N = 20_000
PATH = f"/{ACCOUNT_NAME}/container/some/deeper/key%20with%20space.parquet"
HEADERS = {
    "x-ms-version": "2021-12-02",
    "x-ms-date": "Fri, 04 Dec 2026 08:00:00 GMT",
    "range": "bytes=0-1048575",
    "if-match": '"0x8DC1234567890AB"',
    "user-agent": "multistore",
}


def ours() -> float:
    signer = SharedKey(ACCOUNT_NAME, ACCOUNT_KEY)

    def sign() -> None:
        signer.authenticate("GET", PATH, [], dict(HEADERS))

    return min(timeit.repeat(sign, number=N, repeat=3)) / N * 1e6


def sdk() -> float | None:
    path = os.environ.get("AZURE_SDK_PATH")
    if not path:
        return None
    sys.path.insert(0, path)
    from azure.core.pipeline import PipelineContext, PipelineRequest
    from azure.core.rest import HttpRequest
    from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy

    policy = SharedKeyCredentialPolicy(ACCOUNT_NAME, ACCOUNT_KEY)
    url = f"http://127.0.0.1:10000{PATH}"

    def sign() -> None:
        request = HttpRequest("GET", url, headers=dict(HEADERS))
        policy.on_request(PipelineRequest(request, PipelineContext(None)))

    return min(timeit.repeat(sign, number=N, repeat=3)) / N * 1e6


def main() -> None:
    print(f"multistore.azure SharedKey: {ours():6.1f} µs/request")
    measured = sdk()
    if measured is not None:
        print(f"azure-storage-blob policy:  {measured:6.1f} µs/request")


if __name__ == "__main__":
    main()
