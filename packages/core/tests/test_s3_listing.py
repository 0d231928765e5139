"""ListObjects V1/V2: query parsing, the backend request, and the rendered ListBucketResult.

Rendered documents are read back with botocore's RestXMLParser and the real S3 service model,
so "boto3 reads every field" is checked, not assumed. Pagination walks run against a small
in-memory model of S3's ListObjectsV2 (the backend side, not the code under test).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import botocore.session
import pytest
import xmltodict
from botocore.model import ServiceModel
from botocore.parsers import RestXMLParser
from multidict import CIMultiDict, MultiDict

from multistore.core.backends.base import ListEntry, ListPage, ListRequest
from multistore.core.errors import InvalidArgument
from multistore.core.http import RequestInfo
from multistore.core.registry import BucketOwner, ListRewrite
from multistore.core.s3.listing import (
    ListQuery,
    backend_list_request,
    parse_list_query,
    render_list_result,
    rewrite_key,
)

WHEN = datetime(2024, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)
OWNER = BucketOwner(id="owner-id", display_name="owner-name")
PAST = "\U0010ffff"


@pytest.fixture(scope="module")
def s3_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("s3")


def boto_parse(model: ServiceModel, version: int, body: bytes) -> dict[str, Any]:
    operation = "ListObjectsV2" if version == 2 else "ListObjects"
    shape = model.operation_model(operation).output_shape
    response = {"body": body, "headers": {}, "status_code": 200}
    parsed: dict[str, Any] = RestXMLParser().parse(response, shape)
    return parsed


def entry(key: str, size: int = 10, etag: str = '"0123abcd"') -> ListEntry:
    return ListEntry(key=key, size=size, last_modified=WHEN, etag=etag)


def q(**params: str) -> MultiDict[str]:
    return MultiDict(params)


def render(
    query: ListQuery,
    page: ListPage,
    *,
    backend_prefix: str = "",
    rewrite: ListRewrite | None = None,
    bucket: str = "bucket",
) -> bytes:
    return render_list_result(
        query,
        page,
        bucket_name=bucket,
        backend_prefix=backend_prefix,
        rewrite=rewrite,
        owner=OWNER,
    )


def element_names(body: bytes) -> list[str]:
    root = xmltodict.parse(body)["ListBucketResult"]
    return [name for name in root if not name.startswith("@")]


def keys_of(parsed: dict[str, Any]) -> list[str]:
    return [c["Key"] for c in parsed.get("Contents", [])]


def prefixes_of(parsed: dict[str, Any]) -> list[str]:
    return [p["Prefix"] for p in parsed.get("CommonPrefixes", [])]


# --- parsing ------------------------------------------------------------------------------


def test_v2_defaults() -> None:
    assert parse_list_query(q(**{"list-type": "2"}), version=2) == ListQuery(version=2)


def test_v1_defaults() -> None:
    assert parse_list_query(q(), version=1) == ListQuery(version=1)


def test_v2_reads_its_parameters() -> None:
    query = parse_list_query(
        q(
            prefix="photos/",
            delimiter="/",
            **{
                "max-keys": "17",
                "continuation-token": "tok/+=",
                "start-after": "photos/a",
                "encoding-type": "url",
                "fetch-owner": "true",
                "marker": "ignored-in-v2",
            },
        ),
        version=2,
    )
    assert query == ListQuery(
        version=2,
        prefix="photos/",
        delimiter="/",
        max_keys=17,
        continuation_token="tok/+=",
        start_after="photos/a",
        encoding_type="url",
        fetch_owner=True,
    )


def test_v1_reads_marker_and_ignores_v2_parameters() -> None:
    query = parse_list_query(
        q(
            marker="m",
            **{"continuation-token": "t", "start-after": "s", "fetch-owner": "true"},
        ),
        version=1,
    )
    assert query == ListQuery(version=1, marker="m")


def test_parameters_come_decoded_from_the_raw_query() -> None:
    request = RequestInfo(
        method="GET",
        raw_path="/bucket",
        raw_query="list-type=2&prefix=a%20b%2Bc%2F&delimiter=%2F&encoding-type=url",
        headers=CIMultiDict(),
    )
    query = parse_list_query(request.query, version=2)
    assert (query.prefix, query.delimiter, query.encoding_type) == ("a b+c/", "/", "url")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("1", 1),
        ("999", 999),
        ("1000", 1000),
        ("1001", 1000),
        ("5000", 1000),
        ("2147483647", 1000),
        ("", 1000),
    ],
)
def test_max_keys_is_capped_at_1000(raw: str, expected: int) -> None:
    assert parse_list_query(q(**{"max-keys": raw}), version=2).max_keys == expected


@pytest.mark.parametrize(
    "raw", ["abc", "-1", "+5", " 5", "5 ", "1_000", "1.5", "0x10", "\u0663", "2147483648"]
)
@pytest.mark.parametrize("version", [1, 2])
def test_bad_max_keys_is_invalid_argument(raw: str, version: Literal[1, 2]) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_list_query(q(**{"max-keys": raw}), version=version)
    assert info.value.status == 400
    assert "maxKeys" in info.value.message


@pytest.mark.parametrize("value", ["URL", "base64", "", "url "])
def test_only_url_encoding_is_accepted(value: str) -> None:
    with pytest.raises(InvalidArgument, match="Encoding Method"):
        parse_list_query(q(**{"encoding-type": value}), version=2)


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("TRUE", True), ("false", False), ("yes", False)]
)
def test_fetch_owner(value: str, expected: bool) -> None:
    assert parse_list_query(q(**{"fetch-owner": value}), version=2).fetch_owner is expected


def test_empty_continuation_token_is_rejected() -> None:
    with pytest.raises(InvalidArgument, match="continuation token"):
        parse_list_query(q(**{"continuation-token": ""}), version=2)


def test_first_value_wins_when_a_parameter_repeats() -> None:
    query = parse_list_query(MultiDict([("prefix", "a/"), ("prefix", "b/")]), version=2)
    assert query.prefix == "a/"


# --- backend request ----------------------------------------------------------------------


def test_backend_request_without_backend_prefix() -> None:
    query = ListQuery(
        version=2,
        prefix="p/",
        delimiter="/",
        max_keys=5,
        continuation_token="opaque",
        start_after="p/a",
    )
    assert backend_list_request(query, backend_prefix="") == ListRequest(
        prefix="p/", delimiter="/", max_keys=5, continuation_token="opaque", start_after="p/a"
    )
    assert backend_list_request(ListQuery(version=2), backend_prefix="") == ListRequest()


@pytest.mark.parametrize("backend_prefix", ["harvard-lil/", "harvard-lil", "harvard-lil//"])
def test_backend_prefix_is_added(backend_prefix: str) -> None:
    request = backend_list_request(
        ListQuery(version=2, prefix="staging/", start_after="staging/b"),
        backend_prefix=backend_prefix,
    )
    assert request.prefix == "harvard-lil/staging/"
    assert request.start_after == "harvard-lil/staging/b"


def test_root_listing_under_a_backend_prefix_starts_after_its_own_marker() -> None:
    request = backend_list_request(ListQuery(version=2), backend_prefix="harvard-lil/")
    assert request.prefix == "harvard-lil/"
    # The backend prefix's own folder marker is never a client object.
    assert request.start_after == "harvard-lil/"
    # A continuation token already resumes past it; a start-after is given explicitly.
    with_token = backend_list_request(
        ListQuery(version=2, continuation_token="t"), backend_prefix="harvard-lil/"
    )
    assert (with_token.start_after, with_token.continuation_token) == (None, "t")


def test_v1_marker_becomes_start_after_and_tokens_stay_v2_only() -> None:
    query = ListQuery(
        version=1, prefix="a/", marker="a/k", continuation_token="not-v1", start_after="not-v1"
    )
    request = backend_list_request(query, backend_prefix="bp")
    assert request == ListRequest(prefix="bp/a/", start_after="bp/a/k")


def test_v2_ignores_marker() -> None:
    request = backend_list_request(ListQuery(version=2, marker="m"), backend_prefix="")
    assert request.start_after is None


@pytest.mark.parametrize(
    ("prefix", "delimiter", "position", "start_after"),
    [
        # A common prefix of this listing: skip its whole group.
        ("", "/", "photos/", "photos/" + PAST),
        ("a/", "/", "a/b/", "a/b/" + PAST),
        ("", "--", "x--", "x--" + PAST),
        ("", "/", "/", "/" + PAST),
        # Plain keys, the listing's own prefix, deeper paths and other delimiters: as is.
        ("", "/", "photos/a.jpg", "photos/a.jpg"),
        ("staging/", "/", "staging/", "staging/"),
        ("", "/", "a/b/", "a/b/"),
        ("", "", "photos/", "photos/"),
        ("", "-", "photos/", "photos/"),
        ("", "--", "x---", "x---"),
        ("b/", "/", "a/x/", "a/x/"),
    ],
)
@pytest.mark.parametrize("version", [1, 2])
def test_resuming_at_a_common_prefix_skips_the_group(
    prefix: str, delimiter: str, position: str, start_after: str, version: Literal[1, 2]
) -> None:
    if version == 1:
        query = ListQuery(version=1, prefix=prefix, delimiter=delimiter, marker=position)
    else:
        query = ListQuery(version=2, prefix=prefix, delimiter=delimiter, start_after=position)
    assert backend_list_request(query, backend_prefix="").start_after == start_after
    prefixed = backend_list_request(query, backend_prefix="bp/")
    assert prefixed.start_after == "bp/" + start_after


@pytest.mark.parametrize(
    ("marker", "start_after"),
    [
        ("product/sub/x", "sub/x"),
        ("product/", None),  # the empty key: from the start
        ("a", None),  # sorts before every listed key
        ("product", None),
        ("zzz", "sub/" + PAST),  # sorts after every listed key: nothing left
    ],
)
def test_markers_are_mapped_back_through_the_rewrite(marker: str, start_after: str | None) -> None:
    rewrite = ListRewrite(add_prefix="product/")
    query = ListQuery(version=1, prefix="sub/", marker=marker)
    assert backend_list_request(query, backend_prefix="", rewrite=rewrite).start_after == (
        start_after
    )


def test_marker_rewrite_with_strip_prefix_and_add_prefix_without_slash() -> None:
    rewrite = ListRewrite(strip_prefix="internal/", add_prefix="shown")
    query = ListQuery(version=2, start_after="shown/k")
    request = backend_list_request(query, backend_prefix="", rewrite=rewrite)
    assert request.start_after == "internal/k"
    assert rewrite_key("internal/k", rewrite) == "shown/k"


# --- rewrite ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rewrite", "key", "shown"),
    [
        (None, "a/b", "a/b"),
        (ListRewrite(add_prefix="product/"), "a/b", "product/a/b"),
        (ListRewrite(add_prefix="product"), "a/b", "product/a/b"),
        (ListRewrite(add_prefix="product"), "", "product"),
        (ListRewrite(add_prefix="product/"), "", "product/"),
        (ListRewrite(add_prefix="product/"), "/a", "product/a"),
        (ListRewrite(add_prefix="product"), "/a", "product/a"),
        (ListRewrite(strip_prefix="x/"), "x/a", "a"),
        (ListRewrite(strip_prefix="x/"), "y/a", "y/a"),
        (ListRewrite(strip_prefix="x/", add_prefix="z"), "x/a", "z/a"),
    ],
)
def test_rewrite_key(rewrite: ListRewrite | None, key: str, shown: str) -> None:
    assert rewrite_key(key, rewrite) == shown


# --- rendering: V2 ------------------------------------------------------------------------


def test_v2_document(s3_model: ServiceModel) -> None:
    query = ListQuery(
        version=2,
        prefix="p/",
        delimiter="/",
        max_keys=3,
        continuation_token="prev-token",
        start_after="p/0",
    )
    page = ListPage(
        entries=[entry("p/a.txt", 5), entry("p/b & c.txt", 7, etag='"ff"')],
        common_prefixes=["p/sub/"],
        next_continuation_token="next/token+=",
    )
    body = render(query, page)
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name>'
    )
    # Real S3's order (AWS examples and measured responses).
    assert element_names(body) == [
        "Name",
        "Prefix",
        "StartAfter",
        "ContinuationToken",
        "NextContinuationToken",
        "KeyCount",
        "MaxKeys",
        "Delimiter",
        "IsTruncated",
        "Contents",
        "CommonPrefixes",
    ]
    assert b"<ETag>&quot;0123abcd&quot;</ETag>" in body
    assert (
        b"<Contents><Key>p/a.txt</Key><LastModified>2024-03-04T05:06:07.890Z</LastModified>"
        b"<ETag>&quot;0123abcd&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass>"
        b"</Contents>"
    ) in body

    parsed = boto_parse(s3_model, 2, body)
    assert parsed["Name"] == "bucket"
    assert parsed["Prefix"] == "p/"
    assert parsed["Delimiter"] == "/"
    assert parsed["MaxKeys"] == 3
    assert parsed["KeyCount"] == 3
    assert parsed["IsTruncated"] is True
    assert parsed["StartAfter"] == "p/0"
    assert parsed["ContinuationToken"] == "prev-token"
    assert parsed["NextContinuationToken"] == "next/token+="
    assert keys_of(parsed) == ["p/a.txt", "p/b & c.txt"]
    assert prefixes_of(parsed) == ["p/sub/"]
    first, second = parsed["Contents"]
    assert first["LastModified"] == WHEN
    assert (first["ETag"], first["Size"], first["StorageClass"]) == ('"0123abcd"', 5, "STANDARD")
    assert second["ETag"] == '"ff"'
    assert "Owner" not in first


def test_v2_minimal_document_omits_optional_elements(s3_model: ServiceModel) -> None:
    body = render(ListQuery(version=2), ListPage(entries=[entry("k")]))
    assert element_names(body) == [
        "Name",
        "Prefix",
        "KeyCount",
        "MaxKeys",
        "IsTruncated",
        "Contents",
    ]
    assert b"<Prefix></Prefix>" in body
    parsed = boto_parse(s3_model, 2, body)
    assert parsed["IsTruncated"] is False
    assert parsed["MaxKeys"] == 1000
    assert "NextContinuationToken" not in parsed
    assert "Delimiter" not in parsed


def test_v2_without_delimiter_is_a_flat_list(s3_model: ServiceModel) -> None:
    page = ListPage(entries=[entry("a/b/c"), entry("a/d"), entry("e")])
    parsed = boto_parse(s3_model, 2, render(ListQuery(version=2), page))
    assert keys_of(parsed) == ["a/b/c", "a/d", "e"]
    assert "CommonPrefixes" not in parsed
    assert "Delimiter" not in parsed


def test_empty_result(s3_model: ServiceModel) -> None:
    for version in (1, 2):
        query = ListQuery(version=version, prefix="nothing/", delimiter="/")
        body = render(query, ListPage())
        assert b"<Contents>" not in body
        assert b"<CommonPrefixes>" not in body
        parsed = boto_parse(s3_model, version, body)
        assert "Contents" not in parsed
        assert parsed["IsTruncated"] is False
        if version == 2:
            assert parsed["KeyCount"] == 0
        else:
            assert "KeyCount" not in parsed


def test_v2_fetch_owner_adds_owner_between_size_and_storage_class(s3_model: ServiceModel) -> None:
    body = render(ListQuery(version=2, fetch_owner=True), ListPage(entries=[entry("k", 3)]))
    assert (
        b"<Size>3</Size><Owner><ID>owner-id</ID><DisplayName>owner-name</DisplayName></Owner>"
        b"<StorageClass>STANDARD</StorageClass>"
    ) in body
    parsed = boto_parse(s3_model, 2, body)
    assert parsed["Contents"][0]["Owner"] == {"ID": "owner-id", "DisplayName": "owner-name"}


def test_storage_class_comes_from_the_backend(s3_model: ServiceModel) -> None:
    page = ListPage(entries=[ListEntry("k", 1, WHEN, '"e"', storage_class="GLACIER")])
    parsed = boto_parse(s3_model, 2, render(ListQuery(version=2), page))
    assert parsed["Contents"][0]["StorageClass"] == "GLACIER"


def test_max_keys_zero_renders(s3_model: ServiceModel) -> None:
    parsed = boto_parse(s3_model, 2, render(ListQuery(version=2, max_keys=0), ListPage()))
    assert (parsed["MaxKeys"], parsed["KeyCount"], parsed["IsTruncated"]) == (0, 0, False)


# --- rendering: V1 ------------------------------------------------------------------------


def test_v1_document(s3_model: ServiceModel) -> None:
    query = ListQuery(version=1, prefix="p/", delimiter="/", max_keys=2, marker="p/0")
    page = ListPage(entries=[entry("p/a")], common_prefixes=["p/z/"], next_continuation_token="t")
    body = render(query, page)
    assert element_names(body) == [
        "Name",
        "Prefix",
        "Marker",
        "NextMarker",
        "MaxKeys",
        "Delimiter",
        "IsTruncated",
        "Contents",
        "CommonPrefixes",
    ]
    # S3 includes the owner in V1 listings without being asked.
    assert b"<Owner><ID>owner-id</ID><DisplayName>owner-name</DisplayName></Owner>" in body
    assert b"KeyCount" not in body
    assert b"ContinuationToken" not in body

    parsed = boto_parse(s3_model, 1, body)
    assert parsed["Marker"] == "p/0"
    # The last item of the page, whether a key or a common prefix.
    assert parsed["NextMarker"] == "p/z/"
    assert parsed["IsTruncated"] is True
    assert parsed["MaxKeys"] == 2
    assert keys_of(parsed) == ["p/a"]
    assert prefixes_of(parsed) == ["p/z/"]
    assert parsed["Contents"][0]["Owner"]["ID"] == "owner-id"


def test_v1_marker_is_always_present_and_next_marker_only_when_truncated() -> None:
    body = render(ListQuery(version=1, delimiter="/"), ListPage(entries=[entry("a")]))
    assert b"<Marker></Marker>" in body
    assert b"NextMarker" not in body


def test_v1_truncated_without_delimiter_omits_next_marker(s3_model: ServiceModel) -> None:
    # S3's rule: without a delimiter, clients resume from the last Key.
    page = ListPage(entries=[entry("a"), entry("b")], next_continuation_token="t")
    parsed = boto_parse(s3_model, 1, render(ListQuery(version=1, max_keys=2), page))
    assert parsed["IsTruncated"] is True
    assert "NextMarker" not in parsed
    assert keys_of(parsed)[-1] == "b"


def test_v1_next_marker_is_client_visible(s3_model: ServiceModel) -> None:
    query = ListQuery(version=1, prefix="staging/", delimiter="/", max_keys=2)
    page = ListPage(
        entries=[entry("harvard-lil/staging/a"), entry("harvard-lil/staging/b")],
        next_continuation_token="t",
    )
    parsed = boto_parse(s3_model, 1, render(query, page, backend_prefix="harvard-lil/"))
    assert parsed["NextMarker"] == "staging/b"
    rewritten = render(
        query, page, backend_prefix="harvard-lil/", rewrite=ListRewrite(add_prefix="product/")
    )
    assert boto_parse(s3_model, 1, rewritten)["NextMarker"] == "product/staging/b"


# --- backend prefix and rewrite -----------------------------------------------------------


def test_backend_prefix_is_stripped(s3_model: ServiceModel) -> None:
    query = ListQuery(version=2, prefix="staging/", delimiter="/")
    page = ListPage(
        entries=[entry("harvard-lil/staging/", 0), entry("harvard-lil/staging/file.txt")],
        common_prefixes=["harvard-lil/staging/sub/"],
    )
    parsed = boto_parse(s3_model, 2, render(query, page, backend_prefix="harvard-lil/"))
    assert parsed["Prefix"] == "staging/"
    assert keys_of(parsed) == ["staging/", "staging/file.txt"]
    assert prefixes_of(parsed) == ["staging/sub/"]
    assert parsed["KeyCount"] == 3


def test_rewrite_applies_to_prefix_keys_and_common_prefixes(s3_model: ServiceModel) -> None:
    query = ListQuery(version=2, prefix="sub/", delimiter="/")
    page = ListPage(entries=[entry("sub/a")], common_prefixes=["sub/deeper/"])
    body = render(query, page, rewrite=ListRewrite(add_prefix="product/"), bucket="account")
    parsed = boto_parse(s3_model, 2, body)
    assert parsed["Name"] == "account"
    assert parsed["Prefix"] == "product/sub/"
    assert keys_of(parsed) == ["product/sub/a"]
    assert prefixes_of(parsed) == ["product/sub/deeper/"]


# --- directory markers --------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
def test_marker_of_the_requested_prefix_is_listed_under_a_backend_prefix(
    s3_model: ServiceModel, version: Literal[1, 2]
) -> None:
    query = ListQuery(version=version, prefix="staging/", delimiter="/")
    page = ListPage(
        entries=[entry("harvard-lil/staging/", 0), entry("harvard-lil/staging/data.csv", 9)],
    )
    parsed = boto_parse(s3_model, version, render(query, page, backend_prefix="harvard-lil/"))
    assert keys_of(parsed) == ["staging/", "staging/data.csv"]
    if version == 2:
        assert parsed["KeyCount"] == 2


@pytest.mark.parametrize("version", [1, 2])
def test_marker_of_the_requested_prefix_is_listed_as_s3_lists_it(
    s3_model: ServiceModel, version: Literal[1, 2]
) -> None:
    page = ListPage(entries=[entry("staging/", 0), entry("staging/x", 1)])
    # pyarrow and s3fs learn that a folder exists from exactly this listing
    # (prefix=dir/&delimiter=/&max-keys=1): hiding the marker makes an empty folder vanish.
    browsing = ListQuery(version=version, prefix="staging/", delimiter="/")
    assert keys_of(boto_parse(s3_model, version, render(browsing, page))) == [
        "staging/",
        "staging/x",
    ]
    # A recursive listing is what `aws s3 rm --recursive s3://b/staging/` deletes from: the
    # marker must be in it, as on S3, or the folder survives the delete (issue 8).
    recursive = ListQuery(version=version, prefix="staging/")
    assert keys_of(boto_parse(s3_model, version, render(recursive, page))) == [
        "staging/",
        "staging/x",
    ]


@pytest.mark.parametrize("version", [1, 2])
def test_marker_matching_a_common_prefix_is_hidden(
    s3_model: ServiceModel, version: Literal[1, 2]
) -> None:
    # Non-S3 backends can report a folder's marker next to the folder itself.
    query = ListQuery(version=version, delimiter="/")
    page = ListPage(
        entries=[entry("photos", 0), entry("photos/", 0), entry("readme", 3)],
        common_prefixes=["photos/"],
    )
    parsed = boto_parse(s3_model, version, render(query, page))
    # Only the marker itself is hidden; "photos" is a genuine 0-byte object (issue 8).
    assert keys_of(parsed) == ["photos", "readme"]
    assert prefixes_of(parsed) == ["photos/"]
    if version == 2:
        assert parsed["KeyCount"] == 3


@pytest.mark.parametrize("version", [1, 2])
def test_non_empty_objects_and_unrelated_empty_files_are_kept(
    s3_model: ServiceModel, version: Literal[1, 2]
) -> None:
    query = ListQuery(version=version, prefix="staging/", delimiter="/")
    page = ListPage(
        entries=[
            entry("staging/", 4),  # not empty: a real object, shown
            entry("staging/empty.txt", 0),
            entry("staging/other/", 0),  # an empty "folder" key that is not a listed prefix
        ],
        common_prefixes=["staging/sub/"],
    )
    parsed = boto_parse(s3_model, version, render(query, page))
    assert keys_of(parsed) == ["staging/", "staging/empty.txt", "staging/other/"]
    if version == 2:
        assert parsed["KeyCount"] == 4


def test_empty_file_equal_to_a_prefix_without_slash_is_kept(s3_model: ServiceModel) -> None:
    query = ListQuery(version=2, prefix="report")
    page = ListPage(entries=[entry("report", 0), entry("report.csv", 0)])
    assert keys_of(boto_parse(s3_model, 2, render(query, page))) == ["report", "report.csv"]


def test_flat_listing_keeps_folder_markers_below_the_prefix(s3_model: ServiceModel) -> None:
    page = ListPage(entries=[entry("photos/", 0), entry("photos/a.jpg")])
    assert keys_of(boto_parse(s3_model, 2, render(ListQuery(version=2), page))) == [
        "photos/",
        "photos/a.jpg",
    ]


def test_backend_prefix_own_marker_is_hidden(s3_model: ServiceModel) -> None:
    page = ListPage(entries=[entry("harvard-lil/", 0), entry("harvard-lil/a")])
    parsed = boto_parse(
        s3_model, 2, render(ListQuery(version=2), page, backend_prefix="harvard-lil")
    )
    assert keys_of(parsed) == ["a"]
    assert parsed["KeyCount"] == 1


def test_v1_next_marker_covers_a_hidden_last_item(s3_model: ServiceModel) -> None:
    # max-keys=1 and the page holds only a folder's marker beside the folder itself (as
    # non-S3 backends report it): the marker is hidden, and NextMarker still says where to
    # resume.
    query = ListQuery(version=1, delimiter="/", max_keys=1)
    page = ListPage(
        entries=[entry("photos/", 0)], common_prefixes=["photos/"], next_continuation_token="t"
    )
    parsed = boto_parse(s3_model, 1, render(query, page))
    assert "Contents" not in parsed
    assert parsed["NextMarker"] == "photos/"


# --- encoding-type=url --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("test_file(3).png", "test_file%283%29.png"),
        ("dir/with space/a b.txt", "dir/with%20space/a%20b.txt"),
        ("a+b=c&d", "a%2Bb%3Dc%26d"),
        ("100%.txt", "100%25.txt"),
        ("caf\u00e9/\u65e5\u672c.txt", "caf%C3%A9/%E6%97%A5%E6%9C%AC.txt"),
        ("keep-._~/slash", "keep-._~/slash"),
        ("ctrl\x01\x7f", "ctrl%01%7F"),
    ],
)
def test_url_encoded_keys(s3_model: ServiceModel, key: str, encoded: str) -> None:
    query = ListQuery(version=2, encoding_type="url")
    body = render(query, ListPage(entries=[entry(key)]))
    assert f"<Key>{encoded}</Key>".encode() in body
    parsed = boto_parse(s3_model, 2, body)
    assert parsed["EncodingType"] == "url"
    assert keys_of(parsed) == [encoded]


def test_url_encoding_covers_every_v2_field(s3_model: ServiceModel) -> None:
    query = ListQuery(
        version=2,
        prefix="a b/",
        delimiter="|",
        start_after="a b/(1)",
        continuation_token="tok+/=",
        encoding_type="url",
    )
    page = ListPage(
        entries=[entry("a b/x y")], common_prefixes=["a b/c d|"], next_continuation_token="n+/="
    )
    body = render(query, page)
    names = element_names(body)
    assert names.index("Delimiter") < names.index("EncodingType") < names.index("IsTruncated")
    parsed = boto_parse(s3_model, 2, body)
    assert parsed["Prefix"] == "a%20b/"
    assert parsed["Delimiter"] == "%7C"
    assert parsed["StartAfter"] == "a%20b/%281%29"
    assert keys_of(parsed) == ["a%20b/x%20y"]
    assert prefixes_of(parsed) == ["a%20b/c%20d%7C"]
    # Tokens are opaque and never encoded.
    assert parsed["ContinuationToken"] == "tok+/="
    assert parsed["NextContinuationToken"] == "n+/="


def test_url_encoding_covers_every_v1_field_but_prefix(s3_model: ServiceModel) -> None:
    query = ListQuery(
        version=1, prefix="a b/", delimiter="/", marker="a b/(0)", encoding_type="url"
    )
    page = ListPage(
        entries=[entry("a b/(1)")], common_prefixes=["a b/z z/"], next_continuation_token="t"
    )
    parsed = boto_parse(s3_model, 1, render(query, page))
    # S3 never encodes V1's Prefix, and botocore (which adds encoding-type=url to every V1
    # call) leaves it as it comes: encoding it would hand boto3 users "a%20b/".
    assert parsed["Prefix"] == "a b/"
    assert parsed["Delimiter"] == "/"
    assert parsed["Marker"] == "a%20b/%280%29"
    assert parsed["NextMarker"] == "a%20b/z%20z/"
    assert keys_of(parsed) == ["a%20b/%281%29"]
    assert prefixes_of(parsed) == ["a%20b/z%20z/"]


def test_xml_special_characters_are_escaped_without_encoding(s3_model: ServiceModel) -> None:
    key = "a<b>&\"c'.txt"
    query = ListQuery(version=2, prefix="a<", delimiter="&")
    parsed = boto_parse(s3_model, 2, render(query, ListPage(entries=[entry(key)])))
    assert keys_of(parsed) == [key]
    assert (parsed["Prefix"], parsed["Delimiter"]) == ("a<", "&")


# --- pagination walks against a model of S3 -----------------------------------------------


class FakeS3Listing:
    """S3 ListObjectsV2 semantics over a set of keys: UTF-8 (code point) order, prefix,
    delimiter roll-up, start-after, max-keys over keys and common prefixes, and a
    continuation token that resumes after the last key the page consumed."""

    def __init__(self, objects: dict[str, int]) -> None:
        self.objects = objects
        self.requests: list[ListRequest] = []

    def list(self, request: ListRequest) -> ListPage:
        self.requests.append(request)
        after = request.continuation_token or request.start_after or ""
        page = ListPage()
        consumed: str | None = None
        taken = 0
        for key in sorted(k for k in self.objects if k > after and k.startswith(request.prefix)):
            rest = key[len(request.prefix) :]
            group = None
            if request.delimiter and request.delimiter in rest:
                cut = rest.index(request.delimiter) + len(request.delimiter)
                group = request.prefix + rest[:cut]
            if group is not None and page.common_prefixes and page.common_prefixes[-1] == group:
                consumed = key
                continue
            if taken == request.max_keys:
                page.next_continuation_token = consumed
                break
            taken += 1
            if group is not None:
                page.common_prefixes.append(group)
            else:
                page.entries.append(entry(key, self.objects[key]))
            consumed = key
        return page


BACKEND_OBJECTS = {
    "harvard-lil/": 0,
    "harvard-lil/a.txt": 1,
    "harvard-lil/photos/": 0,
    "harvard-lil/photos/1.jpg": 1,
    "harvard-lil/photos/2 (copy).jpg": 1,
    "harvard-lil/photos/sub/3.jpg": 1,
    "harvard-lil/readme": 1,
    "harvard-lil/staging/": 0,
    "harvard-lil/staging/x": 1,
    "harvard-lil/staging/y/z": 1,
    "harvard-lil/zz": 0,
    "other-tenant/secret": 1,
}


def walk(
    s3_model: ServiceModel,
    backend: FakeS3Listing,
    *,
    version: Literal[1, 2],
    params: dict[str, str],
    rewrite: ListRewrite | None = None,
) -> tuple[list[str], list[str]]:
    """Page through like botocore's paginators: V2 by token; V1 by NextMarker or last Key."""
    keys: list[str] = []
    prefixes: list[str] = []
    params = dict(params)
    for _ in range(50):
        query = parse_list_query(MultiDict(params), version=version)
        request = backend_list_request(query, backend_prefix="harvard-lil/", rewrite=rewrite)
        body = render(query, backend.list(request), backend_prefix="harvard-lil/", rewrite=rewrite)
        parsed = boto_parse(s3_model, version, body)
        keys += keys_of(parsed)
        prefixes += prefixes_of(parsed)
        if not parsed["IsTruncated"]:
            return keys, prefixes
        if version == 2:
            params["continuation-token"] = parsed["NextContinuationToken"]
        else:
            params["marker"] = parsed.get("NextMarker") or keys_of(parsed)[-1]
    raise AssertionError("pagination did not finish")


def expected(*, prefix: str, delimiter: str) -> tuple[list[str], list[str]]:
    whole = FakeS3Listing(BACKEND_OBJECTS).list(
        ListRequest(prefix="harvard-lil/" + prefix, delimiter=delimiter, max_keys=10_000)
    )
    assert not whole.is_truncated
    cut = len("harvard-lil/")
    # Folder markers: the backend prefix's own and those equal to a returned common prefix.
    # The requested prefix's own marker is listed, as S3 lists it.
    hidden = {""} | {p[cut:] for p in whole.common_prefixes}
    keys = [e.key[cut:] for e in whole.entries if e.size or e.key[cut:] not in hidden]
    return keys, [p[cut:] for p in whole.common_prefixes]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("max_keys", [1, 2, 3, 1000])
@pytest.mark.parametrize(
    ("prefix", "delimiter"), [("", "/"), ("", ""), ("photos/", "/"), ("staging/", "")]
)
def test_walk_lists_everything_exactly_once(
    s3_model: ServiceModel, version: Literal[1, 2], max_keys: int, prefix: str, delimiter: str
) -> None:
    params = {"prefix": prefix, "delimiter": delimiter, "max-keys": str(max_keys)}
    backend = FakeS3Listing(BACKEND_OBJECTS)
    keys, prefixes = walk(s3_model, backend, version=version, params=params)
    assert (keys, prefixes) == expected(prefix=prefix, delimiter=delimiter)
    assert all(r.prefix.startswith("harvard-lil/") for r in backend.requests)


def test_expected_root_listing_is_what_a_user_sees() -> None:
    # Pins the oracle above, so a mistake in it cannot hide one in the code.
    assert expected(prefix="", delimiter="/") == (
        ["a.txt", "readme", "zz"],
        ["photos/", "staging/"],
    )
    assert expected(prefix="staging/", delimiter="/") == (
        ["staging/", "staging/x"],
        ["staging/y/"],
    )
    assert expected(prefix="staging/", delimiter="") == (
        ["staging/", "staging/x", "staging/y/z"],
        [],
    )


def test_v1_walk_with_marker_on_common_prefixes(s3_model: ServiceModel) -> None:
    # A two-page walk whose first page ends on a common prefix: the second page must not
    # list the photos/ group again.
    backend = FakeS3Listing(BACKEND_OBJECTS)
    params = {"delimiter": "/", "max-keys": "2"}
    query = parse_list_query(MultiDict(params), version=1)
    first = boto_parse(
        s3_model,
        1,
        render(
            query,
            backend.list(backend_list_request(query, backend_prefix="harvard-lil/")),
            backend_prefix="harvard-lil/",
        ),
    )
    assert (keys_of(first), prefixes_of(first), first["NextMarker"]) == (
        ["a.txt"],
        ["photos/"],
        "photos/",
    )
    query = parse_list_query(MultiDict({**params, "marker": "photos/"}), version=1)
    request = backend_list_request(query, backend_prefix="harvard-lil/")
    assert request.start_after == "harvard-lil/photos/" + PAST
    second = boto_parse(
        s3_model, 1, render(query, backend.list(request), backend_prefix="harvard-lil/")
    )
    assert (keys_of(second), prefixes_of(second)) == (["readme"], ["staging/"])


@pytest.mark.parametrize("version", [1, 2])
def test_walk_through_a_rewrite(s3_model: ServiceModel, version: Literal[1, 2]) -> None:
    rewrite = ListRewrite(add_prefix="product/")
    backend = FakeS3Listing(BACKEND_OBJECTS)
    params = {"delimiter": "/", "max-keys": "1"}
    keys, prefixes = walk(s3_model, backend, version=version, params=params, rewrite=rewrite)
    assert keys == ["product/a.txt", "product/readme", "product/zz"]
    assert prefixes == ["product/photos/", "product/staging/"]


def test_v2_start_after_a_common_prefix(s3_model: ServiceModel) -> None:
    backend = FakeS3Listing(BACKEND_OBJECTS)
    params = {"delimiter": "/", "start-after": "photos/"}
    keys, prefixes = walk(s3_model, backend, version=2, params=params)
    assert (keys, prefixes) == (["readme", "zz"], ["staging/"])
    # Inside a group, the group is listed again, as on S3.
    keys, prefixes = walk(
        s3_model, backend, version=2, params={"delimiter": "/", "start-after": "photos/1.jpg"}
    )
    assert (keys, prefixes) == (["readme", "zz"], ["photos/", "staging/"])
