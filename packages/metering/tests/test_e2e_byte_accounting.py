"""The usage stream records the bytes that crossed the wire, in both directions."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

from multistore.testing.aws_chunked import encode_unsigned
from multistore.testing.gateway import running_gateway
from multistore.testing.raw_http import connect, read_response_head, request_head
from multistore.testing.signing import send, sign

from .conftest import READER, metered_config

MiB = 1 << 20
SIZE = 8 * MiB


def _abandon_download(url: str, keep: int) -> int:
    with connect(url) as sock:
        sock.sendall(request_head("GET", url))
        head, received = read_response_head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        while len(received) < keep:
            received += sock.recv(65536)
    return len(received)


def _aws_chunked_put(url: str, payload: bytes) -> tuple[Any, int]:
    checksum = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    wire = encode_unsigned(payload, trailers={"x-amz-checksum-crc32": checksum})
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(len(payload)),
        "x-amz-trailer": "x-amz-checksum-crc32",
        "Content-Length": str(len(wire)),
    }
    signed = sign(
        "PUT", url, access_key=READER[0], secret_key=READER[1], headers=headers,
        payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
    )  # fmt: skip
    return send("PUT", url, headers=signed, body=wire), len(wire)


def test_recorded_bytes_equal_what_crossed_the_wire(root: Path, tmp_path: Path) -> None:
    (root / "big.bin").write_bytes(b"B" * SIZE)
    usage = tmp_path / "usage.jsonl"
    metering = {"sink": "jsonl", "sink_path": str(usage), "batch_size": 2}
    ids: dict[str, str] = {}
    with running_gateway(metered_config(root, metering), tmp_path / "gw") as gateway:
        big = f"{gateway.url}/public/big.bin"
        whole = send("GET", big)
        assert len(whole.body) == SIZE
        ids["get"] = whole.headers["x-amz-request-id"]
        ranged = send("GET", big, headers={"Range": "bytes=100-1099"})
        assert ranged.status == 206
        ids["range"] = ranged.headers["x-amz-request-id"]
        received = _abandon_download(big, MiB)

        client = gateway.client(*READER)
        put = client.put_object(Bucket="public", Key="put.bin", Body=b"p" * (3 * MiB))
        ids["put"] = put["ResponseMetadata"]["RequestId"]
        upload = client.create_multipart_upload(Bucket="public", Key="multi.bin")
        parts = []
        for number, size in ((1, 5 * MiB), (2, MiB + 7)):
            part = client.upload_part(
                Bucket="public", Key="multi.bin", UploadId=upload["UploadId"],
                PartNumber=number, Body=b"m" * size,
            )  # fmt: skip
            ids[f"part{number}"] = part["ResponseMetadata"]["RequestId"]
            parts.append({"PartNumber": number, "ETag": part["ETag"]})
        client.complete_multipart_upload(
            Bucket="public", Key="multi.bin", UploadId=upload["UploadId"],
            MultipartUpload={"Parts": parts},
        )  # fmt: skip
        chunked, wire_length = _aws_chunked_put(f"{gateway.url}/public/chunked.bin", b"c" * MiB)
        assert chunked.status == 200, chunked.body
        ids["chunked"] = chunked.headers["x-amz-request-id"]
    # The gateway has stopped: everything queued was written on the way out.
    events = [json.loads(line) for line in usage.read_text().splitlines()]
    by_id = {event["request_id"]: event for event in events}
    assert by_id[ids["get"]]["bytes_out"] == SIZE
    assert by_id[ids["get"]]["bytes_in"] == 0
    assert by_id[ids["range"]]["bytes_out"] == 1000
    (aborted,) = [e for e in events if e["error"] == "ClientDisconnected"]
    assert received <= aborted["bytes_out"] < SIZE
    assert by_id[ids["put"]]["bytes_in"] == 3 * MiB
    assert by_id[ids["put"]]["principal"] == "reader"
    assert by_id[ids["part1"]]["bytes_in"] == 5 * MiB
    assert by_id[ids["part2"]]["bytes_in"] == MiB + 7
    assert by_id[ids["part2"]]["operation"] == "UploadPart"
    # aws-chunked: the framing crossed the wire too, so it is counted, not just the payload.
    assert by_id[ids["chunked"]]["bytes_in"] == wire_length > MiB
    assert (root / "chunked.bin").stat().st_size == MiB
