"""Does the gateway stream? Move a 1 GiB object through it and watch its PSS.

    uv run python bench/memory_flat.py                      # GET, slow GET and PUT passes
    uv run python bench/memory_flat.py --modes multipart    # 1 GiB multipart upload (boto3)
    uv run python bench/memory_flat.py --modes azure        # PUT then GET via the azure backend
    uv run python bench/memory_flat.py --gcs --modes put,get  # also through the gcs backend

Starts nginx (the ``s3`` backend, ``skip_signature``; it also takes WebDAV PUTs) and the
gateway with ``--workers 1``, then for each bucket (``s3`` → nginx, and ``file``) moves a
1 GiB object of zeros through the gateway while sampling the server's PSS every 50 ms:

- ``get``: GET as fast as the client reads, body discarded;
- ``slow-get``: GET read at ``--slow-mib-s`` (default 100 MiB/s), so the backend is faster
  than the client and only backpressure keeps the gateway from buffering;
- ``put``: one PUT with ``Content-Length`` (SigV4, ``UNSIGNED-PAYLOAD``), body generated;
- ``multipart``: boto3 ``upload_fileobj`` in 64 MiB parts (``file`` bucket only: nginx
  cannot assemble parts).
- ``azure``: a PUT, then a GET, through the ``azure`` backend (``multistore-azure``) in front
  of Azurite (started on disk in the work folder; see ``multistore.testing.azurite``).

``--gcs`` adds a ``gcs`` bucket in front of gcp-storage-emulator (in memory, anonymous) and
runs the ``put`` and ``get`` passes through it too (PUT first: it creates the object). The
emulator holds whole objects in its own memory; only the gateway's PSS is measured.

Prints idle PSS, peak PSS and the difference per pass, and exits 1 if any difference is
above ``--max-delta-mib`` (default 50).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctree import MemorySampler, ServiceGroup
from signing import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, signed_headers
from stack import BUCKET_FILE, BUCKET_READ, BUCKET_S3_PUT, GIB, MIB, Stack, ensure_tools

BLOCK = MIB
BIG = "big.bin"
BUCKET_GCS = "gcs"


@dataclass(slots=True)
class GcsStack(Stack):
    """The bench stack plus a ``gcs`` bucket on a GCS emulator (``--gcs``)."""

    gcs_endpoint: str = ""

    def gateway_config(self) -> Path:
        path = Stack.gateway_config(self)  # slots dataclasses break zero-argument super()
        config = json.loads(path.read_text())
        config["buckets"].append(
            {
                "name": BUCKET_GCS,
                "backend_type": "gcs",
                "anonymous_access": False,
                "backend_options": {
                    "endpoint": self.gcs_endpoint,
                    "bucket_name": "memflat",
                    "skip_signature": "true",
                },
            }
        )
        path.write_text(json.dumps(config, indent=2))
        return path


@dataclass(frozen=True, slots=True)
class Pass:
    name: str
    seconds: float
    size: int
    peak_mib: float


def _connection(base_url: str) -> http.client.HTTPConnection:
    host, port = base_url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=120)


def get_object(base_url: str, path: str, *, signed: bool, rate: float | None) -> int:
    headers = signed_headers("GET", base_url + path) if signed else {}
    connection = _connection(base_url)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {response.read()[:300]!r}")
        buffer = memoryview(bytearray(BLOCK))
        total, started = 0, time.monotonic()
        while read := response.readinto(buffer):
            total += read
            if rate:
                # Sleep off whatever the client is ahead of its schedule.
                ahead = total / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        return total
    finally:
        connection.close()


def _zeros(size: int) -> Iterator[bytes]:
    block = bytes(BLOCK)
    for offset in range(0, size, BLOCK):
        yield block[: min(BLOCK, size - offset)]


def put_object(base_url: str, path: str, size: int) -> int:
    headers = signed_headers("PUT", base_url + path, unsigned_payload=True)
    headers["Content-Length"] = str(size)
    connection = _connection(base_url)
    try:
        connection.request("PUT", path, body=_zeros(size), headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status not in (200, 201, 204):
            raise RuntimeError(f"PUT {path}: {response.status} {body[:300]!r}")
        return size
    finally:
        connection.close()


class ZeroFile(io.RawIOBase):
    """A seekable file of ``size`` zero bytes that occupies no memory."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, min(self._size, base + offset))
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._size - self._position)
        buffer[:count] = bytes(count)
        self._position += count
        return count


def multipart_upload(base_url: str, bucket: str, key: str, size: int) -> int:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=base_url,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    transfer = TransferConfig(
        multipart_threshold=8 * MIB, multipart_chunksize=64 * MIB, max_concurrency=4
    )
    client.upload_fileobj(ZeroFile(size), bucket, key, Config=transfer)
    head = client.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] != size:
        raise RuntimeError(f"multipart upload stored {head['ContentLength']} bytes, not {size}")
    return size


BUCKET_AZURE = "azure"
AZURE_PATH = f"/{BUCKET_AZURE}/{BIG}"


def start_azurite(stack: Stack, workdir: Path) -> Any:
    """Azurite on disk (1 GiB in its memory would blur nothing of the gateway's, but a disk
    is what a real account is), a container, and the gateway bucket in front of it."""
    from multistore.testing.azurite import Azurite, AzuriteClient

    azurite = Azurite(workdir / "azurite", in_memory=False)
    (workdir / "azurite").mkdir()
    azurite.start()
    AzuriteClient(azurite.endpoint).create_container("bench")
    stack.extra_buckets.append(
        {
            "name": BUCKET_AZURE,
            "backend_type": "azure",
            "anonymous_access": False,
            "backend_options": azurite.backend_options("bench"),
        }
    )
    return azurite


def run_pass(sampler: MemorySampler, name: str, action: Callable[[], int]) -> Pass:
    sampler.reset_peak()
    started = time.monotonic()
    moved = action()
    seconds = time.monotonic() - started
    time.sleep(0.2)  # one more sample after the last byte
    return Pass(name, seconds, int(moved), sampler.peak() / MIB)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--modes",
        default="get,slow-get,put",
        help="comma-separated: get, slow-get, put, multipart, azure",
    )
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--slow-mib-s", type=float, default=100.0)
    parser.add_argument("--max-delta-mib", type=float, default=50.0)
    parser.add_argument("--experiment", default="", help="as in run.py (e.g. uvloop)")
    parser.add_argument("--gcs", action="store_true", help="also move the object through gcs")
    args = parser.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"get", "slow-get", "put", "multipart", "azure"}
    if unknown:
        raise SystemExit(f"unknown mode(s): {', '.join(sorted(unknown))}")
    size = int(args.size_gib * GIB)
    ensure_tools(("nginx",))

    workdir = Path(tempfile.mkdtemp(prefix="multistore-memflat-"))
    group = ServiceGroup(workdir)
    stack = GcsStack(workdir=workdir, group=group)
    resources = contextlib.ExitStack()
    sampler: MemorySampler | None = None
    azurite = start_azurite(stack, workdir) if "azure" in modes else None
    passes: list[Pass] = []
    failures: list[str] = []
    idle = 0.0
    try:
        stack.create_objects({"1k.bin": 1024})
        # Sparse files: 1 GiB of zeros on either side costs no disk and no time to create.
        with open(stack.www / "objects" / BIG, "wb") as handle:
            handle.truncate(size)
        (stack.www / "objects" / BIG).chmod(0o644)
        with open(stack.files_root / BIG, "wb") as handle:
            handle.truncate(size)
        stack.start_static(workers=1)
        if args.gcs:
            from multistore.testing.gcs_emulator import running_gcs_emulator

            emulator = resources.enter_context(running_gcs_emulator(workdir / "gcs"))
            emulator.create_bucket("memflat")
            stack.gcs_endpoint = emulator.endpoint
        gateway = stack.start_gateway(workers=1, experiments=args.experiment)
        base = stack.url("gateway")
        # Warm up both paths on a small object, then call that idle.
        get_object(base, f"/{BUCKET_READ}/1k.bin", signed=False, rate=None)
        put_object(base, f"/{BUCKET_FILE}/1k.bin", 1024)
        get_object(base, f"/{BUCKET_FILE}/1k.bin", signed=True, rate=None)
        sampler = MemorySampler(gateway.pid).start()
        time.sleep(0.5)
        idle = sampler.current() / MIB
        print(
            f"gateway pid {gateway.pid}, idle PSS {idle:.1f} MiB; moving {size / GIB:g} GiB",
            flush=True,
        )
        slow = args.slow_mib_s * MIB
        plan: list[tuple[str, Callable[[], int]]] = []
        if "get" in modes:
            plan += [
                (
                    "GET s3 → nginx",
                    lambda: get_object(base, f"/{BUCKET_READ}/{BIG}", signed=False, rate=None),
                ),
                (
                    "GET file",
                    lambda: get_object(base, f"/{BUCKET_FILE}/{BIG}", signed=True, rate=None),
                ),
            ]
        if "slow-get" in modes:
            plan += [
                (
                    f"GET s3 → nginx, client at {args.slow_mib_s:g} MiB/s",
                    lambda: get_object(base, f"/{BUCKET_READ}/{BIG}", signed=False, rate=slow),
                ),
                (
                    f"GET file, client at {args.slow_mib_s:g} MiB/s",
                    lambda: get_object(base, f"/{BUCKET_FILE}/{BIG}", signed=True, rate=slow),
                ),
            ]
        if "put" in modes:
            plan += [
                ("PUT s3 → nginx", lambda: put_object(base, f"/{BUCKET_S3_PUT}/put.bin", size)),
                ("PUT file", lambda: put_object(base, f"/{BUCKET_FILE}/put.bin", size)),
            ]
        if "azure" in modes:
            plan += [
                (f"PUT {BUCKET_AZURE} → azurite", lambda: put_object(base, AZURE_PATH, size)),
                (
                    f"GET {BUCKET_AZURE} → azurite",
                    lambda: get_object(base, AZURE_PATH, signed=True, rate=None),
                ),
            ]
        if args.gcs and "put" in modes:
            plan.append(("PUT gcs", lambda: put_object(base, f"/{BUCKET_GCS}/{BIG}", size)))
        if args.gcs and "get" in modes:
            plan.append(
                (
                    "GET gcs",
                    lambda: get_object(base, f"/{BUCKET_GCS}/{BIG}", signed=True, rate=None),
                )
            )
        if "multipart" in modes:
            plan.append(
                (
                    "multipart upload file (64 MiB parts, 4 at a time)",
                    lambda: multipart_upload(base, BUCKET_FILE, "multipart.bin", size),
                ),
            )
        for name, action in plan:
            try:
                result = run_pass(sampler, name, action)
            except Exception as exc:  # report the pass and go on with the others
                failures.append(name)
                print(f"  {name:<44} FAILED: {exc!r}"[:400], flush=True)
                continue
            passes.append(result)
            rate = result.size / result.seconds / 1e6
            print(
                f"  {name:<44} {result.seconds:6.1f} s  {rate:7.0f} MB/s"
                f"  peak {result.peak_mib:6.1f} MiB  (+{result.peak_mib - idle:.1f})",
                flush=True,
            )
        group.check_alive()
    finally:
        if sampler is not None:
            sampler.stop()
        group.stop_all()
        if azurite is not None:
            azurite.stop()
        resources.close()
        shutil.rmtree(workdir, ignore_errors=True)

    worst = max((p.peak_mib - idle for p in passes), default=0.0)
    print(
        f"\nidle PSS {idle:.1f} MiB, peak PSS {idle + worst:.1f} MiB, "
        f"delta {worst:+.1f} MiB (limit {args.max_delta_mib:g} MiB)"
    )
    if worst > args.max_delta_mib:
        print("NOT FLAT: the gateway's memory grew with the object", file=sys.stderr)
        return 1
    if failures:
        print(f"flat, but these passes failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    print("flat")
    return 0


if __name__ == "__main__":
    sys.exit(main())
