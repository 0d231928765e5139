"""S3 XML documents: the writer, timestamps, ListBuckets, GetBucketLocation, body parsing.

botocore's own parsers (with the real S3 service model) are the oracle: if boto3 reads the
document correctly, every S3 SDK built from the same model does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import botocore.session
import pytest
import xmltodict
from botocore.handlers import parse_get_bucket_location
from botocore.model import ServiceModel
from botocore.parsers import RestXMLParser

from multistore.core.errors import MalformedXML
from multistore.core.registry import BucketEntry, BucketOwner
from multistore.core.s3.xml import (
    S3_XMLNS,
    XmlWriter,
    element,
    escape_text,
    format_timestamp,
    http_date,
    parse_xml_body,
    render_list_buckets,
    render_location,
)


@pytest.fixture(scope="module")
def s3_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("s3")


def boto_parse(model: ServiceModel, operation: str, body: bytes) -> dict[str, Any]:
    shape = model.operation_model(operation).output_shape
    response = {"body": body, "headers": {}, "status_code": 200}
    parsed: dict[str, Any] = RestXMLParser().parse(response, shape)
    return parsed


# --- writer -------------------------------------------------------------------------------


def test_writer_keeps_order_and_closes_open_elements() -> None:
    xml = XmlWriter("Root")
    xml.element("B", "2")
    xml.start("Group")
    xml.element("A", 1)
    xml.optional("Skipped", None)
    xml.optional("Flag", False)
    body = xml.finish()
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<Root xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<B>2</B><Group><A>1</A><Flag>false</Flag></Group></Root>"
    )


def test_writer_without_namespace() -> None:
    assert XmlWriter("Root", xmlns=None).finish().endswith(b"<Root></Root>")


def test_text_escaping_matches_s3() -> None:
    assert escape_text('"abc"') == "&quot;abc&quot;"
    assert element("Key", "a<b>&c") == "<Key>a&lt;b&gt;&amp;c</Key>"
    assert element("IsTruncated", True) == "<IsTruncated>true</IsTruncated>"
    # A raw CR would come back as LF from any XML parser.
    key_with_cr = "a\rb"
    parsed = xmltodict.parse(f"<K>{escape_text(key_with_cr)}</K>")
    assert parsed["K"] == "a\rb"


# --- timestamps ---------------------------------------------------------------------------


def test_format_timestamp_has_milliseconds_and_z() -> None:
    assert format_timestamp(datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000Z"
    dt = datetime(2023, 7, 9, 5, 6, 7, 891_999, tzinfo=UTC)
    assert format_timestamp(dt) == "2023-07-09T05:06:07.891Z"


def test_format_timestamp_converts_to_utc_and_takes_naive_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2024, 1, 1, 1, 0, tzinfo=plus_two)) == (
        "2023-12-31T23:00:00.000Z"
    )
    assert format_timestamp(datetime(2024, 5, 6, 7, 8, 9)) == "2024-05-06T07:08:09.000Z"


def test_http_date_is_imf_fixdate() -> None:
    assert http_date(datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)) == (
        "Sun, 06 Nov 1994 08:49:37 GMT"
    )
    plus_one = timezone(timedelta(hours=1))
    assert http_date(datetime(2024, 3, 1, 0, 30, tzinfo=plus_one)) == (
        "Thu, 29 Feb 2024 23:30:00 GMT"
    )


# --- ListBuckets --------------------------------------------------------------------------


def test_list_buckets_document(s3_model: ServiceModel) -> None:
    owner = BucketOwner(id="owner-id", display_name="Owner & Co")
    buckets = [
        BucketEntry("alpha", datetime(2024, 1, 1, tzinfo=UTC)),
        BucketEntry("beta", datetime(2025, 2, 3, 4, 5, 6, 7000, tzinfo=UTC)),
    ]
    body = render_list_buckets(owner, buckets)
    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner>'
    )
    assert b"<CreationDate>2024-01-01T00:00:00.000Z</CreationDate>" in body

    parsed = boto_parse(s3_model, "ListBuckets", body)
    assert parsed["Owner"] == {"ID": "owner-id", "DisplayName": "Owner & Co"}
    assert [b["Name"] for b in parsed["Buckets"]] == ["alpha", "beta"]
    assert parsed["Buckets"][1]["CreationDate"] == datetime(2025, 2, 3, 4, 5, 6, 7000, tzinfo=UTC)

    doc = xmltodict.parse(body, process_namespaces=True)
    assert f"{S3_XMLNS}:ListAllMyBucketsResult" in doc


def test_list_buckets_empty(s3_model: ServiceModel) -> None:
    parsed = boto_parse(s3_model, "ListBuckets", render_list_buckets(BucketOwner(), []))
    assert parsed["Buckets"] == []
    assert parsed["Owner"]["ID"] == "multistore-proxy"


# --- GetBucketLocation --------------------------------------------------------------------


def boto_location(body: bytes) -> str | None:
    # botocore cannot model GetBucketLocation and reads the root element's text by hand.
    parsed: dict[str, Any] = {}
    parse_get_bucket_location(parsed, SimpleNamespace(raw=object(), content=body))
    location: str | None = parsed["LocationConstraint"]
    return location


def test_location_us_east_1_is_an_empty_element() -> None:
    body = render_location("us-east-1")
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
    )
    assert boto_location(body) is None


def test_location_other_region_names_it() -> None:
    body = render_location("eu-west-1")
    assert body.endswith(b">eu-west-1</LocationConstraint>")
    assert boto_location(body) == "eu-west-1"


# --- request bodies -----------------------------------------------------------------------


def test_parse_xml_body_forces_lists() -> None:
    body = (
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Object><Key>a &amp; b</Key></Object><Quiet>true</Quiet></Delete>"
    )
    doc = parse_xml_body(body, force_list=("Object",))
    assert doc["Delete"]["Object"] == [{"Key": "a & b"}]
    assert doc["Delete"]["Quiet"] == "true"


def test_parse_xml_body_without_force_list_keeps_single_elements() -> None:
    doc = parse_xml_body(b"<A><B>1</B></A>")
    assert doc == {"A": {"B": "1"}}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<A><B></A>",
        b"<A/><B/>",
        b"<A>\xff\xfe</A>",
        b'<?xml version="1.0" encoding="no-such-charset"?><A/>',
        # Entity declarations are refused outright: no expansion, internal or external.
        b'<!DOCTYPE A [<!ENTITY x "boom">]><A>&x;</A>',
        b'<!DOCTYPE A [<!ENTITY x SYSTEM "file:///etc/passwd">]><A>&x;</A>',
        b'<!DOCTYPE A [<!ENTITY % p "x">]><A/>',
    ],
)
def test_parse_xml_body_rejects_bad_documents(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        parse_xml_body(body)
