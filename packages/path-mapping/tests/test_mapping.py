"""The pure parts: parsing addresses, rewriting requests, folding copy sources, options."""

from __future__ import annotations

import pytest

from multistore.path_mapping import MappedPath, PathMapping, mapping_from_options
from multistore.path_mapping.account_listing import decode_token, encode_token
from multistore.path_mapping.mapping import query_param, replace_param

DEFAULT = PathMapping()
NESTED = PathMapping(bucket_segments=3, bucket_separator="--", display_bucket_segments=1)


# --- parse -------------------------------------------------------------------------------


def test_parse_two_segments_with_a_key() -> None:
    assert DEFAULT.parse("/acme/climate/2024/data.parquet") == MappedPath(
        bucket="acme--climate",
        key="2024/data.parquet",
        display_bucket="acme",
        key_prefix="climate/",
    )


def test_parse_nested_segments() -> None:
    mapped = NESTED.parse("/org/team/product/k/v")
    assert mapped == MappedPath("org--team--product", "k/v", "org", "team/product/")
    shown_twice = PathMapping(bucket_segments=3, display_bucket_segments=2)
    assert shown_twice.parse("/org/team/product/k") == MappedPath(
        "org--team--product", "k", "org/team", "product/"
    )


@pytest.mark.parametrize("path", ["/acme/climate", "/acme/climate/", "acme/climate"])
def test_parse_without_a_key(path: str) -> None:
    assert DEFAULT.parse(path) == MappedPath("acme--climate", None, "acme", "climate/")


@pytest.mark.parametrize("path", ["/", "", "/acme", "/acme/", "//climate/k", "/acme//k"])
def test_parse_of_less_than_a_bucket_is_none(path: str) -> None:
    assert DEFAULT.parse(path) is None


def test_parse_keeps_the_key_byte_for_byte() -> None:
    mapped = DEFAULT.parse("/acme/climate/a//b/../100%.txt ")
    assert mapped is not None
    assert mapped.key == "a//b/../100%.txt "


def test_custom_separator() -> None:
    dotted = PathMapping(bucket_separator=".")
    assert dotted.parse("/acme/climate/k") == MappedPath("acme.climate", "k", "acme", "climate/")
    assert dotted.parse_bucket_name("acme.climate") == MappedPath(
        "acme.climate", None, "acme", "climate/"
    )


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        ("acme--climate", True),
        ("acme", False),
        ("acme--climate--x", False),
        ("--climate", False),
        ("acme--", False),
        ("", False),
    ],
)
def test_parse_bucket_name_needs_exactly_the_configured_segments(name: str, mapped: bool) -> None:
    assert (DEFAULT.parse_bucket_name(name) is not None) is mapped


@pytest.mark.parametrize(
    "options",
    [
        {"bucket_segments": 1},
        {"display_bucket_segments": 2},
        {"display_bucket_segments": 0},
        {"bucket_separator": ""},
        {"bucket_separator": "/"},
    ],
)
def test_impossible_mappings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"\[path_mapping\]"):
        mapping_from_options(options)


# --- rewrite_request ---------------------------------------------------------------------


def test_rewrite_folds_the_bucket_and_keeps_the_signing_pair() -> None:
    rewritten = DEFAULT.rewrite_request("/acme/climate/2024/a b.txt", "versionId=1")
    assert (rewritten.path, rewritten.query) == ("/acme--climate/2024/a b.txt", "versionId=1")
    assert (rewritten.signing_path, rewritten.signing_query) == (
        "/acme/climate/2024/a b.txt",
        "versionId=1",
    )


def test_rewrite_nested() -> None:
    assert NESTED.rewrite_request("/org/team/product/k", "").path == "/org--team--product/k"


def test_rewrite_bucket_only_keeps_a_list_query() -> None:
    rewritten = DEFAULT.rewrite_request("/acme/climate", "list-type=2&prefix=2024%2F")
    assert (rewritten.path, rewritten.query) == ("/acme--climate", "list-type=2&prefix=2024%2F")
    for query in ("uploads", "delete", "location", "max-keys=5", "prefix="):
        assert DEFAULT.rewrite_request("/acme/climate/", query).path == "/acme--climate"


@pytest.mark.parametrize("query", ["", "versionId=1", "partNumber=1", "x-id=GetObject"])
def test_a_bare_product_path_is_an_object_of_the_account(query: str) -> None:
    # HEAD /acme/climate is how rclone and s3fs ask "is this a file?": not a HeadBucket.
    for path in ("/acme/climate", "/acme/climate/"):
        assert DEFAULT.rewrite_request(path, query).path == path


@pytest.mark.parametrize(
    ("query", "bucket", "routed_query"),
    [
        ("list-type=2&prefix=climate/", "acme--climate", "list-type=2&prefix="),
        ("list-type=2&prefix=climate%2F2024%2F&delimiter=%2F", "acme--climate",
         "list-type=2&prefix=2024/&delimiter=%2F"),
        # V1 listings and ListMultipartUploads are routed as well (upstream: V2 only).
        ("prefix=climate/2024/&marker=climate/2024/a", "acme--climate",
         "prefix=2024/&marker=climate/2024/a"),
        ("uploads&prefix=climate/", "acme--climate", "uploads&prefix="),
        # Encoded prefixes: decoded to route, re-encoded for core to decode once.
        ("list-type=2&prefix=my%20product/a%2Bb%25/", "acme--my product",
         "list-type=2&prefix=a%2Bb%25/"),
        ("list-type=2&prefix=my+product/x+y", "acme--my product", "list-type=2&prefix=x%20y"),
    ],
)  # fmt: skip
def test_rewrite_routes_a_listing_by_its_prefix(query: str, bucket: str, routed_query: str) -> None:
    rewritten = DEFAULT.rewrite_request("/acme", query)
    assert (rewritten.path, rewritten.query) == (f"/{bucket}", routed_query)
    assert rewritten.signing_query == query
    assert DEFAULT.rewrite_request("/acme/", query).path == f"/{bucket}"


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/acme", "list-type=2"),  # no prefix: an account-level listing
        ("/acme", "list-type=2&prefix=clim"),  # the product is not complete
        ("/acme", "list-type=2&prefix=/climate/"),  # empty first component
        ("/acme", "list-type=2&xprefix=climate/"),  # not the prefix parameter
        ("/", "list-type=2&prefix=climate/"),
        ("", ""),
        ("/acme/", ""),
    ],
)
def test_rewrite_leaves_other_requests_alone(path: str, query: str) -> None:
    rewritten = DEFAULT.rewrite_request(path, query)
    assert (rewritten.path, rewritten.query) == (path, query)


def test_nested_prefix_routing_needs_every_missing_segment() -> None:
    assert NESTED.rewrite_request("/org", "prefix=team/product/k").path == "/org--team--product"
    assert NESTED.rewrite_request("/org", "prefix=team/product/k").query == "prefix=k"
    assert NESTED.rewrite_request("/org", "prefix=team/prod").path == "/org"


# --- rewrite_copy_source -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "folded"),
    [
        ("/acme/climate/k.txt", "/acme--climate/k.txt"),
        ("acme/climate/k.txt", "/acme--climate/k.txt"),
        ("acme/climate/2024/01/k.txt", "/acme--climate/2024/01/k.txt"),
        ("acme/climate/a%20b%25.txt?versionId=v1", "/acme--climate/a%20b%25.txt?versionId=v1"),
        ("acme/my%20product/k", "/acme--my product/k"),
        ("acme/climate/k%3FversionId%3Dno", "/acme--climate/k%3FversionId%3Dno"),
    ],
)
def test_copy_source_folding(value: str, folded: str) -> None:
    assert DEFAULT.rewrite_copy_source(value) == folded


@pytest.mark.parametrize("value", ["acme/climate", "acme/climate/", "/acme", "", "acme//k"])
def test_copy_source_without_an_object_is_left_alone(value: str) -> None:
    assert DEFAULT.rewrite_copy_source(value) is None


# --- helpers -----------------------------------------------------------------------------


def test_query_param_matches_whole_names_and_decodes() -> None:
    assert query_param("xlist-type=2&list-type=1", "list-type") == "1"
    assert query_param("prefix=a%2Fb+c", "prefix") == "a/b c"
    assert query_param("uploads", "uploads") == ""
    assert query_param("", "prefix") is None


def test_replace_param_replaces_every_occurrence_and_encodes() -> None:
    assert replace_param("prefix=a&x=1&prefix=b", "prefix", "c d&e=f#+") == (
        "prefix=c%20d%26e%3Df%23%2B&x=1&prefix=c%20d%26e%3Df%23%2B"
    )


def test_account_continuation_tokens_round_trip() -> None:
    for key in ("x/dir/1.txt", "ünï/%20 +/", ""):
        token = encode_token(key)
        assert "=" not in token
        assert decode_token(token) == key
    for forged in ("abc", "pm1.!!", "pm1.//8"):
        with pytest.raises(Exception, match="continuation token"):
            decode_token(forged)


def test_options_from_a_config_table() -> None:
    assert mapping_from_options({}) == PathMapping()
    assert mapping_from_options(
        {"bucket_segments": 3, "bucket_separator": "__", "display_bucket_segments": 2}
    ) == PathMapping(3, "__", 2)
    with pytest.raises(ValueError, match=r"unknown key 'segments'.*must be an integer"):
        mapping_from_options({"segments": 2, "bucket_segments": "2"})
