"""The access line both runtimes write: its text and JSON forms, field by field.

docs/deployment.md documents these lines as a stable interface, so the expected strings are
spelt out whole rather than rebuilt from the code under test.
"""

from __future__ import annotations

import io
import json
import re

from multidict import CIMultiDict, CIMultiDictProxy

from multistore.core.access import (
    AccessLineWriter,
    AccessRecord,
    bucket_name,
    iso_time,
    operation_name,
)
from multistore.core.auth.identity import Identity
from multistore.core.errors import AccessDenied
from multistore.core.gateway import Handled
from multistore.core.http import RequestInfo, Response
from multistore.core.s3.operations import parse_s3_request

NOW = 1795000000.25  # 2026-11-18T11:06:40.250Z


def request(method: str, path: str, query: str = "") -> RequestInfo:
    return RequestInfo(
        method=method,
        raw_path=path,
        raw_query=query,
        headers=CIMultiDictProxy(CIMultiDict()),
        source_ip="192.0.2.7",
    )


def put_record() -> AccessRecord:
    info = request("PUT", "/climate/2026/t.csv")
    handled = Handled(
        request_id="34800F184B14582F",
        operation=parse_s3_request(info),
        identity=Identity(principal="ingest-job"),
    )
    return AccessRecord.of(info, handled, 200, None, 2, 0, 0.00843)


def refused_record() -> AccessRecord:
    """Refused before the request was understood: no operation, no identity, an error."""
    info = request("GET", "/")
    info.request_id = "00000000000000AA"
    handled = Handled(error=AccessDenied())
    return AccessRecord.of(info, handled, 403, "AccessDenied", 0, 243, 0.0004)


def test_a_record_takes_what_the_request_did() -> None:
    assert put_record() == AccessRecord(
        request_id="34800F184B14582F", ip="192.0.2.7", identity="ingest-job", op="PutObject",
        bucket="climate", method="PUT", status=200, error=None, bytes_in=2, bytes_out=0,
        duration=0.00843,
    )  # fmt: skip
    # The gateway never got as far as an id of its own: the runtime's id is the line's.
    assert refused_record().request_id == "00000000000000AA"
    assert (refused_record().op, refused_record().bucket) == (None, None)


def test_op_names_the_operation_or_a_routed_answer() -> None:
    listing = request("GET", "/climate", "list-type=2")
    assert operation_name(Handled(operation=parse_s3_request(listing))) == "ListObjectsV2"
    assert bucket_name(Handled(operation=parse_s3_request(listing))) == "climate"
    routed = Handled(response=Response(200))
    assert (operation_name(routed), bucket_name(routed)) == ("route", None)
    # ListBuckets names no bucket: the line says "-", not an empty field.
    everything = Handled(operation=parse_s3_request(request("GET", "/")))
    assert (operation_name(everything), bucket_name(everything)) == ("ListBuckets", None)


def test_text_form() -> None:
    assert put_record().text() == (
        "id=34800F184B14582F ip=192.0.2.7 identity=ingest-job op=PutObject bucket=climate "
        "method=PUT status=200 error=- in=2 out=0 ms=8.4"
    )
    assert refused_record().text() == (
        "id=00000000000000AA ip=192.0.2.7 identity=- op=- bucket=- "
        "method=GET status=403 error=AccessDenied in=0 out=243 ms=0.4"
    )


def test_json_form_has_null_where_text_has_a_dash() -> None:
    writer = AccessLineWriter(json_lines=True, pid=19507)
    assert writer.json_line(refused_record(), NOW) == (
        '{"time": "2026-11-18T11:06:40.250Z", "level": "INFO", "logger": "multistore.access", '
        '"pid": 19507, "id": "00000000000000AA", "ip": "192.0.2.7", "identity": null, '
        '"op": null, "bucket": null, "method": "GET", "status": 403, "error": "AccessDenied", '
        '"in": 0, "out": 243, "ms": 0.4}'
    )


def test_json_form_without_a_pid_and_with_unicode_kept() -> None:
    record = put_record()
    record.identity = "jürgen"
    line = AccessLineWriter(json_lines=True).json_line(record, NOW)
    assert '"identity": "jürgen"' in line
    assert list(json.loads(line)) == [
        "time", "level", "logger", "id", "ip", "identity", "op", "bucket", "method",
        "status", "error", "in", "out", "ms",
    ]  # fmt: skip


def test_written_lines_carry_time_level_logger_and_pid() -> None:
    with_pid, without_pid = io.StringIO(), io.StringIO()
    AccessLineWriter(with_pid, pid=19507).write(put_record())
    AccessLineWriter(without_pid).write(put_record())
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d "
    assert re.fullmatch(
        stamp + r"INFO multistore\.access \[19507\] " + re.escape(put_record().text()) + "\n",
        with_pid.getvalue(),
    )
    assert re.fullmatch(
        stamp + r"INFO multistore\.access " + re.escape(put_record().text()) + "\n",
        without_pid.getvalue(),
    )


def test_a_json_writer_writes_one_object_per_line() -> None:
    stream = io.StringIO()
    writer = AccessLineWriter(stream, json_lines=True, pid=7)
    writer.write(put_record())
    writer.write(refused_record())
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["pid"], e["id"], e["status"]) for e in entries] == [
        (7, "34800F184B14582F", 200), (7, "00000000000000AA", 403),
    ]  # fmt: skip
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]) for e in entries)


def test_iso_time_is_utc_with_milliseconds() -> None:
    assert iso_time(NOW) == "2026-11-18T11:06:40.250Z"
    assert iso_time(1795000000.0) == "2026-11-18T11:06:40.000Z"
    assert iso_time(1795000000.999) == "2026-11-18T11:06:40.999Z"


def test_middlewares_hear_of_the_same_request() -> None:
    info = request("PUT", "/climate/2026/t.csv")
    handled = Handled(
        request_id="34800F184B14582F",
        operation=parse_s3_request(info),
        identity=Identity(principal="ingest-job"),
    )
    completed = AccessRecord.of(info, handled, 200, None, 2, 0, 0.00843).completed(handled)
    assert completed.operation is handled.operation
    assert completed.identity is handled.identity
    assert (completed.request_id, completed.bucket, completed.source_ip) == (
        "34800F184B14582F", "climate", "192.0.2.7",
    )  # fmt: skip
    assert (completed.status, completed.bytes_in, completed.bytes_out) == (200, 2, 0)
    assert (completed.duration, completed.error_code) == (0.00843, None)
