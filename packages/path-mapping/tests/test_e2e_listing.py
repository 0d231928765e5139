"""ListObjects V1/V2 at account, product and sub-prefix level, paginated across pages.

Account ``pages`` holds product ``x`` on moto and product ``y`` on a file root; clients see
one bucket ``pages`` with keys ``x/...`` and ``y/...`` in S3's order.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess
from multistore.testing.signing import RawResponse, send, sign

from .conftest import FULL, Stores

X_KEYS = ["a.txt", "dir/1.txt", "dir/2.txt", "dir/sub/3.txt", "z.txt"]
Y_KEYS = ["b.txt", "dir/4.txt", "e.txt", "sp ace+%.txt"]
ALL_KEYS = [f"x/{k}" for k in X_KEYS] + [f"y/{k}" for k in Y_KEYS]
# A recursive listing shows a folder marker like any key, as S3 does.
RECURSIVE = sorted([*ALL_KEYS, "x/dir/"])


@pytest.fixture(scope="module")
def pages(gateway: GatewayProcess, stores: Stores) -> Any:
    client = gateway.client(*FULL)
    for key in ALL_KEYS:
        client.put_object(Bucket="pages", Key=key, Body=key.encode())
    # A folder marker, as the console and rclone write them (written around the gateway):
    # hidden next to its own folder and inside it when browsing, listed by a recursive
    # listing.
    stores.moto.client().put_object(Bucket="pm-pages-x", Key="dir/", Body=b"")
    assert set(X_KEYS) | {"dir/"} == stores.keys("pages--x")
    return client


def walk(client: Any, operation: str, **params: Any) -> list[dict[str, Any]]:
    return list(client.get_paginator(operation).paginate(Bucket="pages", **params))


def keys_of(responses: list[dict[str, Any]]) -> list[str]:
    return [obj["Key"] for page in responses for obj in page.get("Contents", [])]


def prefixes_of(responses: list[dict[str, Any]]) -> list[str]:
    return [p["Prefix"] for page in responses for p in page.get("CommonPrefixes", [])]


@pytest.mark.parametrize("operation", ["list_objects_v2", "list_objects"])
@pytest.mark.parametrize("page_size", [1, 2, 3, 1000])
def test_account_listing_walks_every_product_in_order(
    pages: Any, operation: str, page_size: int
) -> None:
    responses = walk(pages, operation, PaginationConfig={"PageSize": page_size})
    assert keys_of(responses) == RECURSIVE
    assert len(responses) >= len(RECURSIVE) // page_size
    assert all(page["Name"] == "pages" for page in responses)


@pytest.mark.parametrize("operation", ["list_objects_v2", "list_objects"])
def test_account_listing_with_a_delimiter_shows_products_as_folders(
    pages: Any, operation: str
) -> None:
    whole = walk(pages, operation, Delimiter="/")
    assert prefixes_of(whole) == ["x/", "y/"]
    assert keys_of(whole) == []
    one_by_one = walk(pages, operation, Delimiter="/", PaginationConfig={"PageSize": 1})
    assert prefixes_of(one_by_one) == ["x/", "y/"]
    assert len(one_by_one) == 2
    partial = walk(pages, operation, Delimiter="/", Prefix="y")
    assert prefixes_of(partial) == ["y/"]
    assert walk(pages, operation, Delimiter="/", Prefix="q")[0].get("CommonPrefixes") is None


@pytest.mark.parametrize("operation", ["list_objects_v2", "list_objects"])
@pytest.mark.parametrize("page_size", [1, 2, 1000])
def test_product_listing_with_a_delimiter_pages_through_keys_and_folders(
    pages: Any, operation: str, page_size: int
) -> None:
    responses = walk(
        pages, operation, Prefix="x/", Delimiter="/", PaginationConfig={"PageSize": page_size}
    )
    assert keys_of(responses) == ["x/a.txt", "x/z.txt"]
    assert prefixes_of(responses) == ["x/dir/"]
    assert all(page["Prefix"] == "x/" for page in responses)


@pytest.mark.parametrize("operation", ["list_objects_v2", "list_objects"])
def test_sub_prefix_listing_is_rewritten_and_paginated(pages: Any, operation: str) -> None:
    flat = walk(pages, operation, Prefix="x/dir/", PaginationConfig={"PageSize": 1})
    # Recursive: the folder's own marker is listed too, as S3 does (rm --recursive needs it).
    assert keys_of(flat) == ["x/dir/", "x/dir/1.txt", "x/dir/2.txt", "x/dir/sub/3.txt"]
    nested = walk(
        pages, operation, Prefix="x/dir/", Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    assert keys_of(nested) == ["x/dir/", "x/dir/1.txt", "x/dir/2.txt"]
    assert prefixes_of(nested) == ["x/dir/sub/"]
    if operation == "list_objects":
        # V1 pages with a delimiter resume from NextMarker, in the client's form.
        markers = [page.get("NextMarker") for page in nested if page["IsTruncated"]]
        assert markers
        assert all(m.startswith("x/dir/") for m in markers)


def test_start_after_and_marker_are_client_keys(pages: Any) -> None:
    after = pages.list_objects_v2(Bucket="pages", StartAfter="x/dir/2.txt")
    assert [o["Key"] for o in after["Contents"]] == RECURSIVE[4:]
    assert after["StartAfter"] == "x/dir/2.txt"
    within = pages.list_objects_v2(Bucket="pages", Prefix="x/", StartAfter="x/dir/")
    assert [o["Key"] for o in within["Contents"]] == [f"x/{k}" for k in X_KEYS[1:]]
    marker = pages.list_objects(Bucket="pages", Prefix="y/", Marker="y/dir/4.txt")
    assert [o["Key"] for o in marker["Contents"]] == ["y/e.txt", "y/sp ace+%.txt"]
    assert marker["Marker"] == "y/dir/4.txt"
    across = pages.list_objects(Bucket="pages", Marker="x/z.txt", MaxKeys=2)
    assert [o["Key"] for o in across["Contents"]] == ["y/b.txt", "y/dir/4.txt"]


def signed_get(url: str) -> RawResponse:
    return send("GET", url, headers=sign("GET", url, access_key=FULL[0], secret_key=FULL[1]))


def test_account_listing_xml_is_what_s3_would_send(gateway: GatewayProcess, pages: Any) -> None:
    url = f"{gateway.url}/pages?list-type=2&max-keys=3&encoding-type=url"
    first = signed_get(url)
    assert first.status == 200
    body = first.body.decode()
    assert "<Name>pages</Name>" in body
    assert "<KeyCount>3</KeyCount>" in body
    assert "<IsTruncated>true</IsTruncated>" in body
    token = body.split("<NextContinuationToken>", 1)[1].split("<", 1)[0]
    rest = signed_get(f"{url}&continuation-token={token}")
    assert "<Key>x/dir/sub/3.txt</Key>" in rest.body.decode()
    assert f"<ContinuationToken>{token}</ContinuationToken>" in rest.body.decode()
    last = signed_get(f"{gateway.url}/pages?list-type=2&prefix=y%2F&encoding-type=url")
    assert "<Key>y/sp%20ace%2B%25.txt</Key>" in last.body.decode()
    assert "<Prefix>y/</Prefix>" in last.body.decode()


def test_a_forged_continuation_token_is_refused(pages: Any) -> None:
    with pytest.raises(ClientError) as refused:
        pages.list_objects_v2(Bucket="pages", ContinuationToken="not-ours")
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
