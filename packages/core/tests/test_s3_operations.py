"""Classification of requests into S3 operations (SPEC §2)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from multidict import CIMultiDict

from multistore.core.config import Action
from multistore.core.errors import (
    InvalidArgument,
    InvalidRequest,
    InvalidURI,
    KeyTooLongError,
    NotImplementedOperation,
)
from multistore.core.http import RequestInfo, decode_query
from multistore.core.s3.operations import Op, parse_copy_source, parse_s3_request


def req(method: str, target: str, **headers: str) -> RequestInfo:
    path, _, query = target.partition("?")
    return RequestInfo(method=method, raw_path=path, raw_query=query, headers=CIMultiDict(headers))


@pytest.mark.parametrize(
    ("method", "target", "op"),
    [
        ("GET", "/", Op.LIST_BUCKETS),
        ("HEAD", "/b", Op.HEAD_BUCKET),
        ("GET", "/b?location", Op.GET_BUCKET_LOCATION),
        ("PUT", "/b", Op.CREATE_BUCKET),
        ("GET", "/b", Op.LIST_OBJECTS),
        ("GET", "/b/", Op.LIST_OBJECTS),
        ("GET", "/b?list-type=2&prefix=a", Op.LIST_OBJECTS_V2),
        ("GET", "/b?uploads", Op.LIST_MULTIPART_UPLOADS),
        ("GET", "/b/k", Op.GET_OBJECT),
        ("GET", "/b/k?x-id=GetObject", Op.GET_OBJECT),
        ("HEAD", "/b/k", Op.HEAD_OBJECT),
        ("PUT", "/b/k", Op.PUT_OBJECT),
        ("DELETE", "/b/k", Op.DELETE_OBJECT),
        ("POST", "/b?delete", Op.DELETE_OBJECTS),
        ("POST", "/b/k?uploads", Op.CREATE_MULTIPART_UPLOAD),
        ("PUT", "/b/k?partNumber=3&uploadId=u", Op.UPLOAD_PART),
        ("POST", "/b/k?uploadId=u", Op.COMPLETE_MULTIPART_UPLOAD),
        ("DELETE", "/b/k?uploadId=u", Op.ABORT_MULTIPART_UPLOAD),
        ("GET", "/b/k?uploadId=u", Op.LIST_PARTS),
    ],
)
def test_operation_table(method: str, target: str, op: Op) -> None:
    assert parse_s3_request(req(method, target)).op is op


def test_copy_operations_need_the_header() -> None:
    copy = parse_s3_request(
        req("PUT", "/b/k", **{"x-amz-copy-source": "/src/a%20b.txt?versionId=v1"})
    )
    assert copy.op is Op.COPY_OBJECT
    assert copy.copy_source is not None
    assert (copy.copy_source.bucket, copy.copy_source.key, copy.copy_source.version_id) == (
        "src",
        "a b.txt",
        "v1",
    )
    part = parse_s3_request(
        req("PUT", "/b/k?partNumber=1&uploadId=u", **{"x-amz-copy-source": "src/k"})
    )
    assert part.op is Op.UPLOAD_PART_COPY


@pytest.mark.parametrize("value", ["", "/", "no-slash", "src-bucket/", "/src-bucket/"])
def test_bad_copy_sources(value: str) -> None:
    with pytest.raises((InvalidArgument, InvalidRequest)):
        parse_copy_source(value)


def test_copy_sources_take_every_key() -> None:
    assert parse_copy_source("src/a//b").key == "a//b"
    assert parse_copy_source("/src/dir/").key == "dir/"
    assert parse_copy_source("src/%2E%2E/x%0A").key == "../x\n"
    with pytest.raises(KeyTooLongError):
        parse_copy_source("src/" + "k" * 1025)


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("PUT", "/b/k?tagging"),
        ("GET", "/b/k?acl"),
        ("DELETE", "/b/k?tagging"),
        ("GET", "/b?versioning"),
        ("GET", "/b?policy"),
        ("PUT", "/b?lifecycle"),
        ("POST", "/b/k"),
        ("PATCH", "/b/k"),
        ("DELETE", "/b"),
        ("POST", "/"),
    ],
)
def test_unsupported_requests_are_not_implemented(method: str, target: str) -> None:
    with pytest.raises(NotImplementedOperation):
        parse_s3_request(req(method, target))


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("/b/a//b", "a//b"),
        ("/b/a/./b", "a/./b"),
        ("/b/a/../b", "a/../b"),
        ("/b/dir/", "dir/"),
        ("/b//a", "/a"),
        ("/b/a%0Ab", "a\nb"),
        ("/b/a%7Fb", "a\x7fb"),
        ("/b/%2e%2e/x", "../x"),
        ("/b/" + "é" * 512, "é" * 512),
    ],
)
def test_every_key_s3_accepts_is_taken_as_it_is(raw: str, key: str) -> None:
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        assert parse_s3_request(req(method, raw)).key == key


def test_virtual_hosted_keys_keep_their_leading_slash() -> None:
    request = req("GET", "//lead", host="b.s3.example.com")
    parsed = parse_s3_request(request, virtual_host_domain="s3.example.com")
    assert (parsed.bucket, parsed.key) == ("b", "/lead")


@pytest.mark.parametrize("key", ["k" * 1025, "é" * 513, "😀" * 257])
def test_keys_over_1024_bytes_are_too_long(key: str) -> None:
    with pytest.raises(KeyTooLongError):
        parse_s3_request(req("PUT", "/b/" + quote(key)))


def test_keys_are_decoded_once() -> None:
    assert parse_s3_request(req("GET", "/b/100%25.txt")).key == "100%.txt"
    assert parse_s3_request(req("GET", "/b/100%2525.txt")).key == "100%25.txt"
    assert parse_s3_request(req("GET", "/b/a%20b/caf%C3%A9")).key == "a b/café"
    with pytest.raises(InvalidURI):
        parse_s3_request(req("GET", "/b/%C3%28"))


@pytest.mark.parametrize("part", ["0", "10001", "x", ""])
def test_part_numbers_are_bounded(part: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_s3_request(req("PUT", f"/b/k?partNumber={part}&uploadId=u"))


def test_virtual_hosted_style() -> None:
    request = req("GET", "/path/to/key", Host="my.bucket.s3.local:8787")
    parsed = parse_s3_request(request, virtual_host_domain="s3.local")
    assert (parsed.bucket, parsed.key, parsed.virtual_hosted) == ("my.bucket", "path/to/key", True)
    listing = parse_s3_request(
        req("GET", "/", Host="my.bucket.s3.local"), virtual_host_domain="s3.local"
    )
    assert (listing.op, listing.bucket) == (Op.LIST_OBJECTS, "my.bucket")
    path_style = parse_s3_request(
        req("GET", "/b/k", Host="s3.local"), virtual_host_domain="s3.local"
    )
    assert (path_style.bucket, path_style.key, path_style.virtual_hosted) == ("b", "k", False)


def test_versioned_get_needs_the_version_action() -> None:
    assert parse_s3_request(req("GET", "/b/k?versionId=v")).action is Action.GET_OBJECT_VERSION
    assert parse_s3_request(req("GET", "/b/k")).action is Action.GET_OBJECT


@pytest.mark.parametrize("raw", ["prefix=%FF", "a=%C0%AF", "%ED%A0%80=1"])
def test_query_with_invalid_utf8_is_invalid_uri(raw: str) -> None:
    with pytest.raises(InvalidURI):
        decode_query(raw)
    assert decode_query("prefix=%C3%A9&x")["prefix"] == "é"
