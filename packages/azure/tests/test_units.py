"""The azure backend's pure mappings: metadata names, ETags, block ids, continuation tokens,
and the Shared Key string-to-sign (whose signatures Azurite verifies in the e2e suite)."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from multistore.azure.auth import SasToken, string_to_sign
from multistore.azure.backend import AzureBackend
from multistore.azure.listing import decode_token, encode_token
from multistore.azure.properties import (
    azure_etag_list,
    azure_meta_name,
    object_read_headers,
    object_write_headers,
    s3_etag,
)
from multistore.azure.uploads import block_id, part_of_block
from multistore.core.backends.base import BackendServices
from multistore.core.config import BucketConfig
from multistore.core.errors import InvalidArgument


@pytest.mark.parametrize("name", ["plain", "my-key", "with.dot", "Ünï", "multistore_parts", "1x"])
def test_every_s3_metadata_name_round_trips(name: str) -> None:
    written = object_write_headers(CIMultiDict({f"x-amz-meta-{name}": "v"}))
    (azure_header,) = written
    assert azure_header[len("x-ms-meta-") :].replace("_", "a").isalnum()
    read = object_read_headers(CIMultiDict(written), {})
    assert dict(read) == {f"x-amz-meta-{name.lower()}": "v"}


def test_plain_names_stay_readable_in_azure() -> None:
    assert azure_meta_name("Team") == "team"
    assert azure_meta_name("multistore_parts").startswith("multistore_n_")


def test_multipart_etags_carry_their_part_count_and_lose_it_on_the_way_in() -> None:
    assert s3_etag('"0x8DC"', "3") == '"0x8DC-3"'
    assert s3_etag("0x8DC", None) == '"0x8DC"'
    assert azure_etag_list('"0x8DC-3", W/"0xAB", *') == '"0x8DC", "0xAB", *'


def test_block_ids_have_one_length_and_name_their_upload() -> None:
    upload = "0123456789abcdef" * 2
    ids = {block_id(upload, n) for n in (1, 42, 10_000)}
    assert len({len(i) for i in ids}) == 1
    assert part_of_block(upload, block_id(upload, 42)) == 42
    assert part_of_block("f" * 32, block_id(upload, 42)) is None


def test_continuation_tokens_round_trip_and_refuse_garbage() -> None:
    token = encode_token("2!72!opaque", "photos/a.jpg")
    assert decode_token(token) == ("2!72!opaque", "photos/a.jpg")
    with pytest.raises(InvalidArgument):
        decode_token("not a token")


def test_string_to_sign_follows_the_shared_key_layout() -> None:
    text = string_to_sign(
        "acct",
        "PUT",
        "/acct/c/k%20x",
        [("comp", "block"), ("blockid", "QQ==")],
        {"content-length": "0", "x-ms-version": "2021-12-02", "x-ms-date": "D", "range": "r"},
    )
    lines = text.split("\n")
    assert lines[0] == "PUT"
    assert lines[3] == ""  # a zero Content-Length is signed empty
    assert lines[11] == "r"
    assert lines[12:14] == ["x-ms-date:D", "x-ms-version:2021-12-02"]
    assert lines[14:] == ["/acct/acct/c/k%20x", "blockid:QQ==", "comp:block"]


def test_a_sas_token_needs_a_signature() -> None:
    assert SasToken("?sv=1&sig=abc").parameters == [("sv", "1"), ("sig", "abc")]
    with pytest.raises(ValueError, match="sig="):
        SasToken("sv=1")


def test_an_auth_type_is_refused_rather_than_ignored() -> None:
    config = BucketConfig(
        name="b",
        backend_type="azure",
        backend_options={"account_name": "a", "container_name": "c", "auth_type": "oidc"},
    )
    with pytest.raises(ValueError, match="auth_type"):
        AzureBackend(config, BackendServices(transport=object()))  # type: ignore[arg-type]
