"""Parity: the same really signed requests against ``multistore-server`` and against the
Lambda handler behind ``multistore-lambda-local``; every answer must match, byte for byte.

The server's whole end-to-end suite also runs against the runner (its ``gateway`` fixture
is parametrised over both runtimes, runtimes/lambda/README.md "Parity with the server");
this file adds the exact comparison of complete answers.

Each runtime has its own backend buckets (moto for ``data``, a directory for ``files``), so
both start from the same empty state and run the same sequence. What is compared: the
status, the S3-relevant headers and the body, with what is different on every request
(request ids, times, upload ids) masked.

Not run here, because they cannot apply to the buffered handler: bodies over the Lambda
payload limit (test_payload_limits.py covers what happens instead), ``Expect:
100-continue`` (Lambda receives whole bodies), multipart uploads of several parts (S3 wants
every part but the last to be at least 5 MiB, more than one Lambda request carries),
connection-level behaviour (keep-alive, timeouts, drains) and the server's own endpoints
(metrics, readyz).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.moto_backend import MotoS3
from multistore.testing.signing import RawResponse, send, sign

from .conftest import KEY, lambda_config

COMPARED_HEADERS = (
    "content-type", "content-length", "etag", "content-range", "accept-ranges",
    "cache-control", "content-disposition", "x-amz-meta-colour", "x-amz-copy-source-version-id",
    "x-amz-delete-marker", "allow", "content-encoding", "content-language", "expires",
    "x-amz-version-id", "x-amz-checksum-crc32",
)  # fmt: skip
MASKS = [
    (re.compile(rb"<RequestId>[^<]*</RequestId>"), b"<RequestId/>"),
    (re.compile(rb"<LastModified>[^<]*</LastModified>"), b"<LastModified/>"),
    (re.compile(rb"<UploadId>[^<]*</UploadId>"), b"<UploadId/>"),
    (re.compile(rb"<Initiated>[^<]*</Initiated>"), b"<Initiated/>"),
]
# STS (a Router extension found by entry point) is on in both runtimes.
STS_ENV = {"SESSION_TOKEN_KEY": base64.b64encode(b"k" * 32).decode()}
STS_FORM = (
    b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3A"
    b"role%2Fnone&RoleSessionName=s&WebIdentityToken=not-a-jwt"
)
ODD_KEYS = ["plain.txt", "with space.txt", "100%.txt", "a+b=c&d.txt", "ünïcødé/ключ.bin"]


@dataclass
class Target:
    gateway: GatewayProcess
    upload_id: str = ""

    def call(
        self,
        method: str,
        path: str,
        query: str = "",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        secret: str = KEY[1],
        signed: bool = True,
    ) -> RawResponse:
        url = f"{self.gateway.url}{path}" + (f"?{query}" if query else "")
        sent = dict(headers or {})
        if signed:
            sent = sign(method, url, access_key=KEY[0], secret_key=secret, body=body, headers=sent)
        return send(method, url, headers=sent, body=body)

    def presigned_get(self, bucket: str, key: str) -> RawResponse:
        client = self.gateway.client(KEY[0], KEY[1])
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
        )
        return send("GET", url)


def normalized(response: RawResponse) -> tuple[int, dict[str, str], bytes]:
    headers = {k.lower(): v for k, v in response.headers.items()}
    kept = {name: headers[name] for name in COMPARED_HEADERS if name in headers}
    # Present on both, value differs by run: compare that it is there.
    for name in ("x-amz-request-id", "last-modified"):
        if name in headers:
            kept[name] = "present"
    body = response.body
    for pattern, mask in MASKS:
        body = pattern.sub(mask, body)
    if b"<UploadId/>" in body and "content-length" in kept:
        kept["content-length"] = "masked"  # moto's upload ids vary in length
    return response.status, kept, body


def key_path(bucket: str, key: str) -> str:
    return f"/{bucket}/{quote(key, safe='/~')}"


def scenario(bucket: str) -> list[tuple[str, Callable[[Target], RawResponse]]]:
    """Named steps; each runs against one target and returns its raw answer."""
    steps: list[tuple[str, Callable[[Target], RawResponse]]] = []

    def step(name: str) -> Callable[[Callable[[Target], RawResponse]], None]:
        def add(function: Callable[[Target], RawResponse]) -> None:
            steps.append((name, function))

        return add

    for index, key in enumerate(ODD_KEYS):
        body = f"object {index}: {key}".encode() * (index + 1)
        headers = {"Content-Type": "text/plain", "x-amz-meta-colour": "blue"}
        step(f"put {key}")(
            lambda t, k=key, b=body, h=headers: t.call(
                "PUT", key_path(bucket, k), body=b, headers=h
            )
        )
        step(f"get {key}")(lambda t, k=key: t.call("GET", key_path(bucket, k)))
        step(f"head {key}")(lambda t, k=key: t.call("HEAD", key_path(bucket, k)))
        step(f"presigned get {key}")(lambda t, k=key: t.presigned_get(bucket, k))
    step("range")(
        lambda t: t.call("GET", key_path(bucket, "plain.txt"), headers={"Range": "bytes=2-9"})
    )
    step("bad range")(
        lambda t: t.call("GET", key_path(bucket, "plain.txt"), headers={"Range": "bytes=900-"})
    )
    step("list")(lambda t: t.call("GET", f"/{bucket}", "list-type=2"))
    step("list delimiter")(lambda t: t.call("GET", f"/{bucket}", "delimiter=%2F&list-type=2"))
    step("list prefix")(lambda t: t.call("GET", f"/{bucket}", "list-type=2&prefix=%C3%BC"))
    step("list v1 paged")(lambda t: t.call("GET", f"/{bucket}", "max-keys=2"))
    step("if-none-match put")(
        lambda t: t.call(
            "PUT", key_path(bucket, "plain.txt"), body=b"again", headers={"If-None-Match": "*"}
        )
    )
    step("if-match wrong")(
        lambda t: t.call("GET", key_path(bucket, "plain.txt"), headers={"If-Match": '"0000"'})
    )
    step("if-none-match etag")(
        lambda t: t.call(
            "GET",
            key_path(bucket, "plain.txt"),
            headers={
                "If-None-Match": t.call("HEAD", key_path(bucket, "plain.txt")).headers["ETag"]
            },
        )
    )
    step("copy")(
        lambda t: t.call(
            "PUT",
            key_path(bucket, "copied.txt"),
            headers={"x-amz-copy-source": f"/{bucket}/with%20space.txt"},
        )
    )
    step("get copy")(lambda t: t.call("GET", key_path(bucket, "copied.txt")))

    def start_upload(t: Target) -> RawResponse:
        answer = t.call("POST", key_path(bucket, "multi part.bin"), "uploads")
        t.upload_id = re.search(rb"<UploadId>([^<]+)</UploadId>", answer.body)[1].decode()  # type: ignore[index]
        return answer

    part = bytes(range(256)) * 1024
    step("create multipart")(start_upload)
    step("upload part")(
        lambda t: t.call(
            "PUT",
            key_path(bucket, "multi part.bin"),
            f"partNumber=1&uploadId={quote(t.upload_id, safe='')}",
            body=part,
        )
    )
    step("list parts")(
        lambda t: t.call(
            "GET", key_path(bucket, "multi part.bin"), f"uploadId={quote(t.upload_id, safe='')}"
        )
    )
    etag = '"' + hashlib.md5(part).hexdigest() + '"'
    complete = (
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
        f"<ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    ).encode()
    step("complete multipart")(
        lambda t: t.call(
            "POST",
            key_path(bucket, "multi part.bin"),
            f"uploadId={quote(t.upload_id, safe='')}",
            body=complete,
        )
    )
    step("get multipart")(lambda t: t.call("GET", key_path(bucket, "multi part.bin")))
    delete = (
        b"<Delete><Object><Key>plain.txt</Key></Object><Object><Key>100%.txt</Key></Object>"
        b"<Object><Key>never-there</Key></Object></Delete>"
    )
    md5 = base64.b64encode(hashlib.md5(delete).digest()).decode()
    step("batch delete")(
        lambda t: t.call(
            "POST",
            f"/{bucket}",
            "delete",
            body=delete,
            headers={"Content-MD5": md5, "Content-Type": "application/xml"},
        )
    )
    step("deleted is gone")(lambda t: t.call("GET", key_path(bucket, "plain.txt")))
    step("delete one")(lambda t: t.call("DELETE", key_path(bucket, "copied.txt")))
    stored_headers = {
        "Content-Type": "application/json", "Content-Encoding": "gzip",
        "Content-Language": "de", "Cache-Control": "max-age=60",
        "Content-Disposition": 'attachment; filename="x.json"',
        "Expires": "Wed, 21 Oct 2037 07:28:00 GMT", "x-amz-meta-colour": "green",
    }  # fmt: skip
    step("put with stored headers")(
        lambda t: t.call(
            "PUT", key_path(bucket, "headers.json"), body=b"{}", headers=stored_headers
        )
    )
    # Signed as UTF-8, sent as Latin-1 (http.client's encoding): a byte that is no UTF-8.
    step("non-ascii header value")(
        lambda t: t.call(
            "PUT", key_path(bucket, "latin.txt"), body=b"x", headers={"x-amz-meta-colour": "grün"}
        )
    )
    step("head with stored headers")(lambda t: t.call("HEAD", key_path(bucket, "headers.json")))
    overrides = "response-cache-control=no-store&response-content-type=text%2Fplain"
    step("response-* overrides")(
        lambda t: t.call("GET", key_path(bucket, "headers.json"), overrides)
    )
    step("head missing")(lambda t: t.call("HEAD", key_path(bucket, "never-there")))
    step("delete missing")(lambda t: t.call("DELETE", key_path(bucket, "never-there")))
    step("invalid utf-8 key")(lambda t: t.call("GET", f"/{bucket}/%FF.txt"))
    step("list v2 start-after")(
        lambda t: t.call("GET", f"/{bucket}", "list-type=2&start-after=m&encoding-type=url")
    )
    step("missing bucket")(lambda t: t.call("GET", "/no-such-bucket", "list-type=2"))
    step("bad signature")(
        lambda t: t.call("GET", key_path(bucket, "with space.txt"), secret="wrong")
    )
    step("anonymous")(lambda t: t.call("GET", key_path(bucket, "with space.txt"), signed=False))
    step("unsupported")(lambda t: t.call("GET", f"/{bucket}", "torrent"))
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    step("sts at /.sts")(
        lambda t: t.call("POST", "/.sts", body=STS_FORM, headers=form, signed=False)
    )
    step("sts at /")(lambda t: t.call("POST", "/", body=STS_FORM, headers=form, signed=False))
    step("final list")(lambda t: t.call("GET", f"/{bucket}", "list-type=2"))
    return steps


@pytest.fixture(scope="module")
def targets(
    moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Target, Target]]:
    base = tmp_path_factory.mktemp("parity")
    server_config = lambda_config(moto_s3, "parity-server", base / "server-files")
    lambda_cfg = lambda_config(moto_s3, "parity-lambda", base / "lambda-files")
    with (
        running_gateway(server_config, base / "server", env=STS_ENV) as server,
        running_gateway(lambda_cfg, base / "lambda", env=STS_ENV, runtime="lambda") as handler,
    ):
        yield Target(server), Target(handler)


@pytest.mark.parametrize("bucket", ["data", "files"])
def test_server_and_lambda_answer_alike(targets: tuple[Target, Target], bucket: str) -> None:
    server, handler = targets
    mismatches: list[str] = []
    for name, run in scenario(bucket):
        expected, got = normalized(run(server)), normalized(run(handler))
        if expected != got:
            mismatches.append(f"{name}:\n  server: {expected}\n  lambda: {got}")
    assert not mismatches, "\n".join(mismatches)


def test_parity_covers_every_kind_of_answer(targets: tuple[Target, Target]) -> None:
    """The scenario is worth comparing only if it reaches successes and errors alike."""
    server, _ = targets
    statuses = {normalized(run(server))[0] for _, run in scenario("files")}
    assert {200, 204, 206, 304, 403, 404, 412, 416, 501} <= statuses, statuses


def test_sts_answers_in_both_runtimes(targets: tuple[Target, Target]) -> None:
    """The STS extension was found by entry point in the Lambda runtime too."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for target in targets:
        answer = target.call("POST", "/.sts", body=STS_FORM, headers=form, signed=False)
        assert b"<ErrorResponse" in answer.body, answer
