"""Bodies Lambda cannot carry: uploads get 413 EntityTooLarge before any backend write,
downloads an S3-style error that says how to get the object instead."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from multistore.aws_lambda.events import Shape
from multistore.aws_lambda.limits import JSON_LIMIT, body_limit
from multistore.aws_lambda.runtime import Container
from multistore.testing.lambda_events import answer_body, event
from multistore.testing.signing import sign

from .conftest import KEY

HOST = "https://gateway.example"
URL_LIMIT = body_limit(Shape.FUNCTION_URL)
ALB_LIMIT = body_limit(Shape.ALB)


def call(
    container: Container,
    shape: str,
    method: str,
    key: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    url = f"{HOST}/files/{quote(key)}"
    signed = sign(method, url, access_key=KEY[0], secret_key=KEY[1], body=body, headers=headers)
    return container.invoke(event(shape, method, url, signed, body))


def test_the_limits_are_what_the_docs_say() -> None:
    assert (JSON_LIMIT[Shape.FUNCTION_URL], URL_LIMIT) == (6_291_456, 4_694_016)
    assert (JSON_LIMIT[Shape.REST_API], body_limit(Shape.REST_API)) == (6_291_456, 4_694_016)
    assert (JSON_LIMIT[Shape.ALB], ALB_LIMIT) == (1_048_576, 761_856)


def test_upload_over_the_limit_is_refused_before_any_write(
    container: Container, file_root: Path
) -> None:
    for shape, limit in (("function_url", URL_LIMIT), ("alb", ALB_LIMIT)):
        answer = call(container, shape, "PUT", f"limits/too-big-{shape}", b"x" * (limit + 1))
        assert answer["statusCode"] == 413
        body = answer_body(answer)  # type: ignore[arg-type]
        assert b"<Code>EntityTooLarge</Code>" in body
        assert f"{limit} bytes".encode() in body
        assert not (file_root / "limits" / f"too-big-{shape}").exists()


def test_largest_body_fits_both_ways(container: Container) -> None:
    data = bytes(range(256)) * (URL_LIMIT // 256) + b"t" * (URL_LIMIT % 256)
    assert len(data) == URL_LIMIT
    assert call(container, "function_url", "PUT", "limits/largest", data)["statusCode"] == 200
    answer = call(container, "function_url", "GET", "limits/largest")
    assert answer["statusCode"] == 200
    assert answer_body(answer) == data  # type: ignore[arg-type]
    assert len(json.dumps(answer, separators=(",", ":"))) <= JSON_LIMIT[Shape.FUNCTION_URL]


def test_download_over_the_limit_says_to_use_ranges(container: Container, file_root: Path) -> None:
    (file_root / "limits").mkdir(exist_ok=True)
    big = b"b" * (URL_LIMIT + 1)
    (file_root / "limits" / "big").write_bytes(big)
    answer = call(container, "function_url", "GET", "limits/big")
    assert answer["statusCode"] == 413
    body = answer_body(answer)  # type: ignore[arg-type]
    assert b"<Code>ResponseTooLarge</Code>" in body
    assert b"Range: bytes=0-" in body
    assert b"Lambda Web Adapter" in body
    ranged = call(
        container, "function_url", "GET", "limits/big", headers={"Range": "bytes=0-4194303"}
    )
    assert ranged["statusCode"] == 206
    assert answer_body(ranged) == big[:4194304]  # type: ignore[arg-type]
    head = call(container, "function_url", "HEAD", "limits/big")
    assert head["statusCode"] == 200  # HEAD carries no body: any size is fine


def test_alb_has_the_smaller_limit(container: Container) -> None:
    data = b"a" * (ALB_LIMIT + 10)
    assert call(container, "function_url", "PUT", "limits/alb-sized", data)["statusCode"] == 200
    assert call(container, "function_url", "GET", "limits/alb-sized")["statusCode"] == 200
    answer = call(container, "alb", "GET", "limits/alb-sized")
    assert answer["statusCode"] == 413
    assert answer["statusDescription"] == "413 Request Entity Too Large"
    ranged = call(container, "alb", "GET", "limits/alb-sized", headers={"Range": "bytes=0-99"})
    assert (ranged["statusCode"], answer_body(ranged)) == (206, b"a" * 100)  # type: ignore[arg-type]
