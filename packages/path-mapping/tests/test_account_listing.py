"""Account listings over many products, in process: each page asks a bounded number of them.

Anonymous products (``anonymous_access``) so requests need no signature; the gateway, the
mapper and the file backends are the real ones.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from multidict import CIMultiDict

from multistore.core.backends.base import BackendServices
from multistore.core.backends.file import FileBackend
from multistore.core.backends.pool import BackendPool
from multistore.core.config import BucketConfig, RoleConfig, StoredCredential
from multistore.core.gateway import ProxyGateway
from multistore.core.http import EmptyBody, RequestInfo, Response
from multistore.core.registry import BucketEntry, BucketOwner, ResolvedBucket
from multistore.path_mapping import PathMapper, PathMapping, account_listing

PRODUCTS = [f"p{n:02d}" for n in range(7)]
# Only every third product has a key: the others must not stop the walk.
KEYS = {name: [f"{name}/k.txt"] for name in PRODUCTS[::3]}


class Registry:
    def __init__(self, configs: list[BucketConfig]) -> None:
        self._configs = {config.name: config for config in configs}

    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        config = self._configs.get(name)
        return ResolvedBucket(config) if config is not None else None

    async def list_buckets(self) -> list[BucketEntry]:
        return [BucketEntry(name, datetime(2024, 1, 1, tzinfo=UTC)) for name in self._configs]

    def bucket_owner(self) -> BucketOwner:
        return BucketOwner()


class NoCredentials:
    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        return None

    async def get_role(self, role_id: str) -> RoleConfig | None:
        return None


@pytest.fixture
def gateway(tmp_path: Path) -> ProxyGateway:
    configs = []
    for name in PRODUCTS:
        root = tmp_path / name
        root.mkdir()
        for key in KEYS.get(name, []):
            (root / key.split("/", 1)[1]).write_bytes(b"x")
        configs.append(
            BucketConfig(
                f"acme--{name}", "file", anonymous_access=True, backend_options={"root": str(root)}
            )
        )
    mapper = PathMapper(PathMapping(), Registry(configs))
    return ProxyGateway(
        buckets=mapper.buckets,
        credentials=NoCredentials(),
        backends=BackendPool({"file": FileBackend}, BackendServices()),
        mapper=mapper,
    )


async def list_page(gateway: ProxyGateway, query: str) -> str:
    request = RequestInfo("GET", "/acme", query, CIMultiDict({"Host": "gateway.test"}))
    response = await gateway.handle_request(request, EmptyBody())
    assert isinstance(response, Response)
    assert response.status == 200, response.body
    return response.body.decode()


@pytest.mark.parametrize("bound", [1, 2, 50])
async def test_pages_ask_a_bounded_number_of_products_and_lose_nothing(
    gateway: ProxyGateway, monkeypatch: pytest.MonkeyPatch, bound: int
) -> None:
    monkeypatch.setattr(account_listing, "MAX_PRODUCTS_PER_PAGE", bound)
    keys: list[str] = []
    pages = 0
    query = "list-type=2"
    while pages < 20:  # a token that does not advance would loop forever
        body = await list_page(gateway, query)
        pages += 1
        keys += re.findall(r"<Key>([^<]*)</Key>", body)
        token = re.search(r"<NextContinuationToken>([^<]*)<", body)
        if token is None:
            assert "<IsTruncated>false</IsTruncated>" in body
            break
        query = f"list-type=2&continuation-token={token.group(1)}"
    assert pages < 20
    assert keys == [key for name in PRODUCTS for key in KEYS.get(name, [])]
    assert pages >= len(PRODUCTS) // bound


async def test_folders_need_no_backend_at_all(gateway: ProxyGateway) -> None:
    body = await list_page(gateway, "list-type=2&delimiter=%2F&max-keys=3")
    assert re.findall(r"<Prefix>([^<]*)</Prefix>", body) == ["", "p00/", "p01/", "p02/"]
    assert "<IsTruncated>true</IsTruncated>" in body
