"""aws-chunked decoding: botocore's real framing, AWS's published signed examples, and abuse."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

import pytest
from botocore import httpchecksum
from multidict import CIMultiDict

from multistore.core.auth.aws_chunked import (
    AwsChunkedDecoder,
    ChunkSigningContext,
    decoder_for_request,
    is_aws_chunked,
    is_signed_streaming,
)
from multistore.core.auth.checksums import ChecksumAlgorithm, new_checksum
from multistore.core.errors import (
    BadDigest,
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    MalformedTrailerError,
    NotImplementedOperation,
    S3Error,
    SignatureDoesNotMatch,
)
from multistore.core.http import BytesBody, RequestBody
from multistore.testing.aws_chunked import (
    ChunkSigner,
    TrickleBody,
    encode_signed,
    encode_unsigned,
    sigv4_signing_key,
)

BOTOCORE_NAMES = {
    ChecksumAlgorithm.CRC32: "crc32",
    ChecksumAlgorithm.CRC32C: "crc32c",
    ChecksumAlgorithm.CRC64NVME: "crc64nvme",
    ChecksumAlgorithm.SHA1: "sha1",
    ChecksumAlgorithm.SHA256: "sha256",
}

# The AWS SigV4 documentation examples ("Transferring Payload in Multiple Chunks" and
# "Including Trailing Headers"): 66560 bytes of "a" in chunks of 65536 and 1024 bytes.
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_DATE = "20130524T000000Z"
DOC_KEY = sigv4_signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", "us-east-1")
DOC_PAYLOAD = b"a" * 66560
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
DOC_TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
DOC_TRAILER_CHUNK_SIGNATURES = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
DOC_TRAILER_CHECKSUM = "sOO8/Q=="  # CRC32C of the payload
DOC_TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def doc_signed_body(signatures: tuple[str, str, str], trailer: bytes = b"") -> bytes:
    """The documented wire body, written out by hand rather than by the test encoder."""
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={signatures[1]}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={signatures[2]}\r\n".encode()
        + trailer
        + b"\r\n"
    )


def doc_signing(*, seed: str = DOC_SEED, trailer_signed: bool = False) -> ChunkSigningContext:
    return ChunkSigningContext(
        signing_key=DOC_KEY,
        seed_signature=seed,
        amz_date=DOC_DATE,
        scope=DOC_SCOPE,
        trailer_signed=trailer_signed,
    )


def doc_signer(seed: str = DOC_SEED) -> ChunkSigner:
    return ChunkSigner(signing_key=DOC_KEY, seed_signature=seed, amz_date=DOC_DATE, scope=DOC_SCOPE)


def botocore_upload(payload: bytes, algorithm: ChecksumAlgorithm) -> tuple[CIMultiDict[str], bytes]:
    """Headers and body exactly as botocore prepares a trailer-checksum upload (boto3 on HTTPS)."""
    request: dict[str, Any] = {
        "headers": {},
        "body": payload,
        "url": "https://s3.example.com/bucket/key",
        "context": {
            "checksum": {
                "request_algorithm": {
                    "in": "trailer",
                    "algorithm": BOTOCORE_NAMES[algorithm],
                    "name": algorithm.header_name,
                }
            }
        },
    }
    httpchecksum.apply_request_checksum(request)
    headers: CIMultiDict[str] = CIMultiDict(request["headers"])
    # Set by botocore's signer, which this test does not run.
    headers["x-amz-content-sha256"] = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    wrapper = request["body"]
    assert isinstance(wrapper, httpchecksum.AwsChunkedWrapper)
    return headers, wrapper.read()


def checksum_b64(algorithm: ChecksumAlgorithm, payload: bytes) -> str:
    oracle = httpchecksum._CHECKSUM_CLS[BOTOCORE_NAMES[algorithm]]()
    oracle.update(payload)
    value = oracle.b64digest()
    assert isinstance(value, str)
    return value


def unsigned_decoder(
    wire: bytes,
    *,
    payload_length: int | None,
    trailers: tuple[str, ...] = ("x-amz-checksum-crc32",),
    piece: int | None = None,
    max_chunk_size: int = 16 << 20,
    max_trailer_bytes: int = 16 << 10,
) -> AwsChunkedDecoder:
    source: RequestBody = BytesBody(wire) if piece is None else TrickleBody(wire, piece=piece)
    return AwsChunkedDecoder(
        source,
        decoded_length=payload_length,
        trailer_names=trailers,
        max_chunk_size=max_chunk_size,
        max_trailer_bytes=max_trailer_bytes,
    )


async def drain(body: RequestBody, n: int) -> bytes:
    pieces = []
    while piece := await body.read(n):
        assert len(piece) <= n
        pieces.append(piece)
    return b"".join(pieces)


async def drain_until_error(body: RequestBody, n: int = 65536) -> tuple[bytes, S3Error]:
    """Read until the body fails; it must fail, and keep failing, never reporting an end."""
    pieces: list[bytes] = []

    async def consume() -> None:
        while piece := await body.read(n):
            pieces.append(piece)

    with pytest.raises(S3Error) as caught:
        await consume()
    with pytest.raises(type(caught.value)):
        await body.read(n)
    return b"".join(pieces), caught.value


# --- detection ---


def test_detection_of_streaming_sentinels() -> None:
    assert is_aws_chunked("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert not is_signed_streaming("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert is_signed_streaming("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    assert is_signed_streaming("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
    assert is_signed_streaming("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
    for value in ("UNSIGNED-PAYLOAD", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"):
        assert not is_aws_chunked(value)
        assert not is_signed_streaming(value)


# --- unsigned trailer form, exactly as botocore writes it ---


@pytest.mark.parametrize("algorithm", list(ChecksumAlgorithm))
@pytest.mark.parametrize("size", [0, 1, 5 << 20])
async def test_botocore_upload_decodes(algorithm: ChecksumAlgorithm, size: int) -> None:
    payload = os.urandom(size)
    headers, wire = botocore_upload(payload, algorithm)
    assert headers["Content-Encoding"] == "aws-chunked"
    assert headers["X-Amz-Decoded-Content-Length"] == str(size)
    decoder = decoder_for_request(headers, BytesBody(wire), None)
    assert await drain(decoder, 1 << 30) == payload
    assert decoder.trailers == {algorithm.header_name: checksum_b64(algorithm, payload)}
    assert await decoder.read(1) == b""


async def test_botocore_zero_byte_upload_is_framed_as_documented() -> None:
    headers, wire = botocore_upload(b"", ChecksumAlgorithm.CRC32)
    assert wire == b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    assert await decoder_for_request(headers, BytesBody(wire), None).read() == b""


@pytest.mark.parametrize("read_size", [1, 3, 1000, 65536, -1])
@pytest.mark.parametrize("piece", [1, 2, 5, 1001, 1 << 20])
async def test_any_read_size_and_any_network_split(read_size: int, piece: int) -> None:
    payload = os.urandom(3000)
    wire = encode_unsigned(
        payload,
        chunk_size=1000,
        trailers={"x-amz-checksum-crc64nvme": checksum_b64(ChecksumAlgorithm.CRC64NVME, payload)},
    )
    decoder = unsigned_decoder(
        wire, payload_length=3000, trailers=("x-amz-checksum-crc64nvme",), piece=piece
    )
    if read_size < 0:
        assert await decoder.read() == payload
        assert await decoder.read() == b""
    else:
        assert await drain(decoder, read_size) == payload


async def test_multi_chunk_payload_with_tiny_reads_from_botocore() -> None:
    payload = os.urandom(20_000)
    headers, _ = botocore_upload(payload, ChecksumAlgorithm.SHA256)
    wrapper = httpchecksum.AwsChunkedWrapper(
        io.BytesIO(payload),
        checksum_cls=httpchecksum.Sha256Checksum,
        checksum_name="x-amz-checksum-sha256",
        chunk_size=4096,
    )
    wire = wrapper.read()
    assert wire.count(b"1000\r\n") == 4  # really several chunks
    decoder = decoder_for_request(headers, TrickleBody(wire, piece=3), None)
    assert await drain(decoder, 1) == payload


async def test_large_reads_hand_out_large_pieces() -> None:
    payload = os.urandom(4 << 20)
    wire = encode_unsigned(
        payload,
        chunk_size=1 << 20,
        trailers={"x-amz-checksum-crc32": checksum_b64(ChecksumAlgorithm.CRC32, payload)},
    )
    source = TrickleBody(wire, piece=8 << 20)
    decoder = AwsChunkedDecoder(
        source, decoded_length=len(payload), trailer_names=("x-amz-checksum-crc32",)
    )
    pieces = []
    while piece := await decoder.read(1 << 30):
        pieces.append(piece)
    assert b"".join(pieces) == payload
    # Chunk data beyond the framing read goes straight through, not in 64 KiB slivers.
    assert len(pieces) <= 8
    assert source.reads <= 16


async def test_no_trailer_declared_and_none_sent() -> None:
    wire = encode_unsigned(b"hello", chunk_size=2)
    decoder = unsigned_decoder(wire, payload_length=5, trailers=())
    assert await decoder.read() == b"hello"
    assert decoder.trailers == {}


async def test_unknown_decoded_length_is_allowed() -> None:
    wire = encode_unsigned(
        b"hello", trailers={"x-amz-checksum-crc32": checksum_b64(ChecksumAlgorithm.CRC32, b"hello")}
    )
    assert await unsigned_decoder(wire, payload_length=None).read() == b"hello"


async def test_minio_go_trailer_lines_ending_in_lf_before_crlf() -> None:
    # minio-go writes "name:value\n" and then "\r\n\r\n" after the final chunk.
    value = checksum_b64(ChecksumAlgorithm.CRC32C, b"hello")
    wire = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32c:" + value.encode() + b"\n\r\n\r\n"
    decoder = unsigned_decoder(wire, payload_length=5, trailers=("x-amz-checksum-crc32c",))
    assert await decoder.read() == b"hello"
    assert decoder.trailers == {"x-amz-checksum-crc32c": value}


# --- unsigned: failures surface before the end ---


def crc32_wire(payload: bytes, *, chunk_size: int = 4) -> bytes:
    value = checksum_b64(ChecksumAlgorithm.CRC32, payload)
    return encode_unsigned(payload, chunk_size=chunk_size, trailers={"x-amz-checksum-crc32": value})


async def test_bad_trailer_checksum_is_bad_digest() -> None:
    wire = encode_unsigned(
        b"hello world",
        trailers={"x-amz-checksum-crc32": checksum_b64(ChecksumAlgorithm.CRC32, b"x")},
    )
    data, error = await drain_until_error(unsigned_decoder(wire, payload_length=11))
    assert isinstance(error, BadDigest)
    assert error.message == "The CRC32 you specified did not match the calculated checksum."
    assert data == b"hello world"  # unsigned data flows; only the end is withheld


async def test_malformed_trailer_checksum_value() -> None:
    wire = encode_unsigned(b"hi", trailers={"x-amz-checksum-crc32": "not base64"})
    _, error = await drain_until_error(unsigned_decoder(wire, payload_length=2))
    assert isinstance(error, InvalidRequest)
    assert "x-amz-checksum-crc32 trailing header is invalid" in error.message


@pytest.mark.parametrize("declared", [0, 10, 12, 100])
async def test_decoded_length_mismatch(declared: int) -> None:
    _, error = await drain_until_error(
        unsigned_decoder(crc32_wire(b"hello world"), payload_length=declared)
    )
    assert isinstance(error, IncompleteBody)


async def test_longer_than_declared_fails_before_the_excess_is_returned() -> None:
    data, error = await drain_until_error(
        unsigned_decoder(crc32_wire(b"0123456789", chunk_size=4), payload_length=6)
    )
    assert isinstance(error, IncompleteBody)
    assert data == b"0123"


async def test_every_truncation_fails() -> None:
    wire = crc32_wire(b"hello world")
    for cut in range(len(wire)):
        _, error = await drain_until_error(unsigned_decoder(wire[:cut], payload_length=11, piece=7))
        assert isinstance(error, IncompleteBody), cut


async def test_every_single_byte_corruption_fails() -> None:
    wire = crc32_wire(b"hello world")
    for index in range(len(wire)):
        corrupt = bytearray(wire)
        corrupt[index] ^= 0x01
        decoder = unsigned_decoder(bytes(corrupt), payload_length=11)
        _, error = await drain_until_error(decoder)
        assert isinstance(error, S3Error), index


async def test_data_after_the_end_fails() -> None:
    wire = crc32_wire(b"hello") + b"0\r\n\r\n"
    _, error = await drain_until_error(unsigned_decoder(wire, payload_length=5))
    assert isinstance(error, IncompleteBody)


@pytest.mark.parametrize(
    "wire",
    [
        b"hello world",
        b"zz\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5 \r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"5;foo=bar\r\nhello\r\n0\r\n\r\n",
        # A chunk signature in an unsigned stream.
        b"5;chunk-signature=" + b"a" * 64 + b"\r\nhello\r\n0\r\n\r\n",
        b"1" * 300 + b"\r\n",
        b"1" * 100_000,
        b"",
    ],
)
async def test_garbage_framing_is_incomplete_body(wire: bytes) -> None:
    decoder = unsigned_decoder(wire, payload_length=None, trailers=())
    data, error = await drain_until_error(decoder)
    assert isinstance(error, IncompleteBody)
    assert error.message == "The request body terminated unexpectedly"
    assert data in (b"", b"hello")


async def test_chunk_over_the_limit_is_refused_before_reading_it() -> None:
    wire = b"100001\r\n"  # 1 MiB + 1, followed by nothing at all
    decoder = unsigned_decoder(wire, payload_length=None, trailers=(), max_chunk_size=1 << 20)
    _, error = await drain_until_error(decoder)
    assert isinstance(error, InvalidRequest)
    assert "exceeds" in error.message


@pytest.mark.parametrize(
    ("trailer", "declared"),
    [
        (b"x-amz-checksum-crc32:AAAAAA==\r\n", ()),  # sent but not declared
        (b"", ("x-amz-checksum-crc32",)),  # declared but not sent
        (b"x-amz-checksum-crc32c:AAAAAA==\r\n", ("x-amz-checksum-crc32",)),  # another one
        (b"x-amz-checksum-crc32:AAAAAA==\r\n" * 2, ("x-amz-checksum-crc32",)),
        (b"x-amz-checksum-crc32 AAAAAA==\r\n", ("x-amz-checksum-crc32",)),
        (b":AAAAAA==\r\n", ("x-amz-checksum-crc32",)),
        (b"x-amz-checksum-crc32:\xff\r\n", ("x-amz-checksum-crc32",)),
        # A trailer signature in an unsigned stream.
        (
            b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-trailer-signature:" + b"0" * 64 + b"\r\n",
            ("x-amz-checksum-crc32",),
        ),
        (b"x-amz-checksum-crc32:" + b"A" * 20_000 + b"\r\n", ("x-amz-checksum-crc32",)),
    ],
)
async def test_malformed_trailers(trailer: bytes, declared: tuple[str, ...]) -> None:
    wire = b"0\r\n" + trailer + b"\r\n"
    decoder = unsigned_decoder(wire, payload_length=0, trailers=declared)
    _, error = await drain_until_error(decoder)
    assert isinstance(error, MalformedTrailerError)


async def test_trailer_section_larger_than_the_limit() -> None:
    trailer = b"x-amz-checksum-crc32:AAAAAA==\r\n"
    wire = b"0\r\n" + trailer + b"\r\n"
    small = unsigned_decoder(wire, payload_length=0, max_trailer_bytes=len(trailer) - 1)
    _, error = await drain_until_error(small)
    assert isinstance(error, MalformedTrailerError)
    exact = unsigned_decoder(wire, payload_length=0, max_trailer_bytes=len(trailer) + 2)
    assert await exact.read() == b""


# --- signed chunks: the AWS documentation examples ---


def test_encoder_reproduces_the_documented_signatures() -> None:
    assert encode_signed(DOC_PAYLOAD, signer=doc_signer()) == doc_signed_body(DOC_CHUNK_SIGNATURES)
    trailer = f"x-amz-checksum-crc32c:{DOC_TRAILER_CHECKSUM}\r\n"
    trailer += f"x-amz-trailer-signature:{DOC_TRAILER_SIGNATURE}\r\n"
    assert encode_signed(
        DOC_PAYLOAD,
        signer=doc_signer(DOC_TRAILER_SEED),
        trailers={"x-amz-checksum-crc32c": DOC_TRAILER_CHECKSUM},
    ) == doc_signed_body(DOC_TRAILER_CHUNK_SIGNATURES, trailer.encode())


@pytest.mark.parametrize("piece", [1, 4096, 1 << 20])
async def test_documented_signed_upload_decodes(piece: int) -> None:
    wire = doc_signed_body(DOC_CHUNK_SIGNATURES)
    decoder = AwsChunkedDecoder(
        TrickleBody(wire, piece=piece),
        decoded_length=66560,
        trailer_names=(),
        chunk_signing=doc_signing(),
    )
    assert await drain(decoder, 10_000) == DOC_PAYLOAD


async def test_documented_signed_trailer_upload_decodes() -> None:
    trailer = (
        f"x-amz-checksum-crc32c:{DOC_TRAILER_CHECKSUM}\r\n"
        f"x-amz-trailer-signature:{DOC_TRAILER_SIGNATURE}\r\n"
    ).encode()
    assert new_checksum_b64(ChecksumAlgorithm.CRC32C, DOC_PAYLOAD) == DOC_TRAILER_CHECKSUM
    decoder = AwsChunkedDecoder(
        TrickleBody(doc_signed_body(DOC_TRAILER_CHUNK_SIGNATURES, trailer), piece=777),
        decoded_length=66560,
        trailer_names=("x-amz-checksum-crc32c",),
        chunk_signing=doc_signing(seed=DOC_TRAILER_SEED, trailer_signed=True),
    )
    assert await decoder.read() == DOC_PAYLOAD
    assert decoder.trailers == {"x-amz-checksum-crc32c": DOC_TRAILER_CHECKSUM}


def new_checksum_b64(algorithm: ChecksumAlgorithm, payload: bytes) -> str:
    checksum = new_checksum(algorithm)
    checksum.update(payload)
    return checksum.base64_digest()


async def test_tampered_chunk_data_is_never_handed_out() -> None:
    wire = bytearray(doc_signed_body(DOC_CHUNK_SIGNATURES))
    second_chunk_data = wire.index(b"400;chunk-signature=") + len(b"400;chunk-signature=") + 66
    assert wire[second_chunk_data - 2 : second_chunk_data + 1] == b"\r\na"
    wire[second_chunk_data + 10] = ord("b")
    decoder = AwsChunkedDecoder(
        BytesBody(bytes(wire)), decoded_length=66560, trailer_names=(), chunk_signing=doc_signing()
    )
    data, error = await drain_until_error(decoder, 100)
    assert isinstance(error, SignatureDoesNotMatch)
    assert data == b"a" * 65536  # the first, verified chunk only


async def test_tampered_first_chunk_yields_nothing() -> None:
    wire = doc_signed_body(DOC_CHUNK_SIGNATURES).replace(b"aaaa", b"aaab", 1)
    decoder = AwsChunkedDecoder(
        BytesBody(wire), decoded_length=66560, trailer_names=(), chunk_signing=doc_signing()
    )
    data, error = await drain_until_error(decoder, 1)
    assert isinstance(error, SignatureDoesNotMatch)
    assert data == b""


@pytest.mark.parametrize("index", [0, 1, 2])
async def test_tampered_chunk_signature(index: int) -> None:
    signatures = list(DOC_CHUNK_SIGNATURES)
    signatures[index] = signatures[index][:-1] + ("0" if signatures[index][-1] != "0" else "1")
    wire = doc_signed_body((signatures[0], signatures[1], signatures[2]))
    decoder = AwsChunkedDecoder(
        BytesBody(wire), decoded_length=66560, trailer_names=(), chunk_signing=doc_signing()
    )
    _, error = await drain_until_error(decoder)
    assert isinstance(error, SignatureDoesNotMatch)


async def test_wrong_seed_signature_fails_on_the_first_chunk() -> None:
    decoder = AwsChunkedDecoder(
        BytesBody(doc_signed_body(DOC_CHUNK_SIGNATURES)),
        decoded_length=66560,
        trailer_names=(),
        chunk_signing=doc_signing(seed=DOC_TRAILER_SEED),
    )
    data, error = await drain_until_error(decoder)
    assert isinstance(error, SignatureDoesNotMatch)
    assert data == b""


async def test_reordered_chunks_fail() -> None:
    signer = doc_signer()
    first = encode_signed(b"A" * 10, signer=signer, chunk_size=5)
    # Swap the two data chunks (and their signatures): the chain no longer links.
    lines = first.split(b"\r\n")
    swapped = b"\r\n".join([lines[2], lines[3], lines[0], lines[1], *lines[4:]])
    decoder = AwsChunkedDecoder(
        BytesBody(swapped), decoded_length=10, trailer_names=(), chunk_signing=doc_signing()
    )
    _, error = await drain_until_error(decoder)
    assert isinstance(error, SignatureDoesNotMatch)


async def test_signed_stream_without_chunk_signatures_fails() -> None:
    decoder = AwsChunkedDecoder(
        BytesBody(encode_unsigned(b"hello")),
        decoded_length=5,
        trailer_names=(),
        chunk_signing=doc_signing(),
    )
    data, error = await drain_until_error(decoder)
    assert isinstance(error, IncompleteBody)
    assert data == b""


def signed_trailer_wire(payload: bytes, *, checksum: str | None = None) -> bytes:
    value = checksum or new_checksum_b64(ChecksumAlgorithm.SHA1, payload)
    return encode_signed(
        payload, signer=doc_signer(), chunk_size=8, trailers={"x-amz-checksum-sha1": value}
    )


def signed_trailer_decoder(wire: bytes, length: int = 20) -> AwsChunkedDecoder:
    return AwsChunkedDecoder(
        BytesBody(wire),
        decoded_length=length,
        trailer_names=("x-amz-checksum-sha1",),
        chunk_signing=doc_signing(trailer_signed=True),
    )


async def test_signed_trailer_round_trip() -> None:
    payload = os.urandom(20)
    decoder = signed_trailer_decoder(signed_trailer_wire(payload))
    assert await drain(decoder, 3) == payload
    assert decoder.trailers == {
        "x-amz-checksum-sha1": new_checksum_b64(ChecksumAlgorithm.SHA1, payload)
    }


async def test_signed_trailer_with_bad_checksum_but_good_signature_is_bad_digest() -> None:
    wire = signed_trailer_wire(b"x" * 20, checksum=new_checksum_b64(ChecksumAlgorithm.SHA1, b"y"))
    data, error = await drain_until_error(signed_trailer_decoder(wire))
    assert isinstance(error, BadDigest)
    assert error.message == "The SHA1 you specified did not match the calculated checksum."
    assert data == b"x" * 20


async def test_altered_trailer_value_breaks_the_trailer_signature() -> None:
    payload = b"x" * 20
    real = new_checksum_b64(ChecksumAlgorithm.SHA1, payload)
    wire = signed_trailer_wire(payload).replace(real.encode(), real[::-1].encode())
    _, error = await drain_until_error(signed_trailer_decoder(wire))
    assert isinstance(error, SignatureDoesNotMatch)


async def test_missing_trailer_signature() -> None:
    payload = b"x" * 20
    value = new_checksum_b64(ChecksumAlgorithm.SHA1, payload)
    wire = encode_signed(
        payload,
        signer=doc_signer(),
        chunk_size=8,
        trailers={"x-amz-checksum-sha1": value},
        sign_trailer=False,
    )
    _, error = await drain_until_error(signed_trailer_decoder(wire))
    assert isinstance(error, MalformedTrailerError)


async def test_trailer_signature_must_come_last() -> None:
    payload = b"x" * 20
    wire = signed_trailer_wire(payload)
    head, _, tail = wire.rpartition(b"0;chunk-signature=")
    final_line, trailer_lines = tail.split(b"\r\n", 1)
    checksum_line, signature_line, _ = trailer_lines.split(b"\r\n", 2)
    swapped = (
        head
        + b"0;chunk-signature="
        + final_line
        + b"\r\n"
        + signature_line
        + b"\r\n"
        + checksum_line
        + b"\r\n\r\n"
    )
    _, error = await drain_until_error(signed_trailer_decoder(swapped))
    assert isinstance(error, MalformedTrailerError)


async def test_minio_go_signed_trailer_form() -> None:
    # minio-go: "name:value\n" then "\r\nx-amz-trailer-signature:...\r\n\r\n".
    payload = b"x" * 20
    wire = signed_trailer_wire(payload)
    value = new_checksum_b64(ChecksumAlgorithm.SHA1, payload).encode()
    minio_wire = wire.replace(value + b"\r\n", value + b"\n\r\n")
    assert minio_wire != wire
    assert await signed_trailer_decoder(minio_wire).read() == payload


async def test_every_truncation_of_a_signed_body_fails() -> None:
    wire = signed_trailer_wire(b"y" * 20)
    for cut in range(len(wire)):
        decoder = AwsChunkedDecoder(
            TrickleBody(wire[:cut], piece=5),
            decoded_length=20,
            trailer_names=("x-amz-checksum-sha1",),
            chunk_signing=doc_signing(trailer_signed=True),
        )
        _, error = await drain_until_error(decoder)
        assert isinstance(error, IncompleteBody), cut


async def test_every_single_byte_corruption_of_a_signed_body_fails() -> None:
    wire = signed_trailer_wire(b"z" * 20)
    for index in range(len(wire)):
        corrupt = bytearray(wire)
        corrupt[index] ^= 0x01
        _, error = await drain_until_error(signed_trailer_decoder(bytes(corrupt)))
        assert isinstance(error, S3Error), index


# --- decoder_for_request ---


@dataclass(frozen=True, slots=True)
class Verified:
    signing_key: bytes
    seed_signature: str
    amz_date: str
    scope: str


DOC_VERIFIED = Verified(DOC_KEY, DOC_SEED, DOC_DATE, DOC_SCOPE)


async def test_decoder_for_signed_request() -> None:
    headers = CIMultiDict(
        {
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "x-amz-decoded-content-length": "66560",
            "content-encoding": "aws-chunked",
        }
    )
    body = BytesBody(doc_signed_body(DOC_CHUNK_SIGNATURES))
    assert await decoder_for_request(headers, body, DOC_VERIFIED).read() == DOC_PAYLOAD


async def test_decoder_for_signed_trailer_request() -> None:
    headers = CIMultiDict(
        {
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": "66560",
            "x-amz-trailer": "x-amz-checksum-crc32c",
        }
    )
    trailer = (
        f"x-amz-checksum-crc32c:{DOC_TRAILER_CHECKSUM}\r\n"
        f"x-amz-trailer-signature:{DOC_TRAILER_SIGNATURE}\r\n"
    ).encode()
    body = BytesBody(doc_signed_body(DOC_TRAILER_CHUNK_SIGNATURES, trailer))
    verified = Verified(DOC_KEY, DOC_TRAILER_SEED, DOC_DATE, DOC_SCOPE)
    decoder = decoder_for_request(headers, body, verified)
    assert await decoder.read() == DOC_PAYLOAD
    assert decoder.trailers == {"x-amz-checksum-crc32c": DOC_TRAILER_CHECKSUM}


def test_signed_streaming_needs_a_verified_signature() -> None:
    headers = CIMultiDict({"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"})
    with pytest.raises(InvalidRequest):
        decoder_for_request(headers, BytesBody(b""), None)


def test_sigv4a_streaming_is_not_implemented() -> None:
    headers = CIMultiDict({"x-amz-content-sha256": "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"})
    with pytest.raises(NotImplementedOperation):
        decoder_for_request(headers, BytesBody(b""), DOC_VERIFIED)


@pytest.mark.parametrize("sentinel", ["", "UNSIGNED-PAYLOAD", "STREAMING-SOMETHING-ELSE"])
def test_decoder_for_non_chunked_sentinel(sentinel: str) -> None:
    headers = CIMultiDict({"x-amz-content-sha256": sentinel})
    with pytest.raises(InvalidArgument):
        decoder_for_request(headers, BytesBody(b""), None)


@pytest.mark.parametrize(
    "trailer",
    ["x-amz-meta-foo", "x-amz-checksum-crc32,x-amz-checksum-sha1", "x-amz-checksum-md5"],
)
def test_unsupported_x_amz_trailer(trailer: str) -> None:
    headers = CIMultiDict(
        {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": trailer}
    )
    with pytest.raises(InvalidRequest, match="x-amz-trailer"):
        decoder_for_request(headers, BytesBody(b""), None)


@pytest.mark.parametrize("length", ["-1", "abc", "1.5", "", "١٢"])
def test_malformed_decoded_length(length: str) -> None:
    headers = CIMultiDict(
        {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": length,
        }
    )
    with pytest.raises(InvalidArgument):
        decoder_for_request(headers, BytesBody(b""), None)


async def test_unsigned_request_with_header_auth_does_not_expect_chunk_signatures() -> None:
    payload = b"hello"
    headers = CIMultiDict(
        {
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-decoded-content-length": "5",
            "x-amz-trailer": "X-Amz-Checksum-Crc32",
        }
    )
    decoder = decoder_for_request(headers, BytesBody(crc32_wire(payload)), DOC_VERIFIED)
    assert await decoder.read() == payload
