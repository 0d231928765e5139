"""Microseconds per operation of the gateway's SigV4 code on this machine.

    uv run python bench/sigv4_microbench.py [iterations]

Measures outbound header signing and presigning (``RequestSigner``) and inbound
verification of a header-signed LIST and a presigned GET (``parse_signature`` +
``verify_signature``; the presigned case includes parsing the query, as a server must),
each over realistic inputs, after a warm-up.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from multidict import CIMultiDict

from multistore.core.auth.canonical import EMPTY_SHA256, canonical_query_from_params
from multistore.core.auth.signing import RequestSigner, SigningCredentials
from multistore.core.auth.sigv4 import parse_signature, verify_signature
from multistore.core.http import RequestInfo

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
HOST = "127.0.0.1:9000"
PATH = "/bucket/data/year%3D2024/part-00001.parquet"
NOW = 1_735_732_800.0
ROUNDS = 5


def measure(name: str, operation: Callable[[], object], iterations: int) -> None:
    """Best and median of five rounds: the best is the cost, the spread shows the noise."""
    for _ in range(min(iterations, 2_000)):
        operation()
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(iterations):
            operation()
        rounds.append((time.perf_counter_ns() - start) / iterations / 1000)
    print(f"{name:<26} {min(rounds):7.2f} µs/op (median {statistics.median(rounds):.2f})")


def main(iterations: int) -> None:
    signer = RequestSigner(SigningCredentials("AKIDEXAMPLE", SECRET), region="us-east-1")
    list_query = canonical_query_from_params([("list-type", "2"), ("prefix", "data/")])

    def sign() -> object:
        headers = {"range": "bytes=0-65535", "user-agent": "multistore"}
        return signer.sign_headers("GET", HOST, PATH, "", headers, EMPTY_SHA256, now=NOW)

    def presign() -> object:
        return signer.presign("GET", HOST, PATH, [], expires=300, now=NOW)

    signed = signer.sign_headers(
        "GET", HOST, "/bucket", list_query, {"range": "bytes=0-65535"}, EMPTY_SHA256, now=NOW
    )
    header_request = RequestInfo(
        method="GET",
        raw_path="/bucket",
        raw_query=list_query,
        headers=CIMultiDict({**signed, "User-Agent": "aws-cli/2", "Accept-Encoding": "identity"}),
    )

    def verify_header() -> object:
        parsed = parse_signature(header_request)
        assert parsed is not None
        return verify_signature(parsed, header_request, SECRET, now=NOW)

    presigned_query = signer.presign("GET", HOST, PATH, [], expires=300, now=NOW)
    query_headers = CIMultiDict({"Host": HOST, "User-Agent": "curl/8"})

    def verify_query() -> object:
        # A fresh RequestInfo per call: a server parses each request's query anew.
        request = RequestInfo(
            method="GET", raw_path=PATH, raw_query=presigned_query, headers=query_headers
        )
        parsed = parse_signature(request)
        assert parsed is not None
        return verify_signature(parsed, request, SECRET, now=NOW)

    print(f"{ROUNDS} rounds of {iterations} iterations each, Python {sys.version.split()[0]}")
    measure("sign_headers", sign, iterations)
    measure("presign", presign, iterations)
    measure("verify (header, LIST)", verify_header, iterations)
    measure("verify (presigned GET)", verify_query, iterations)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
