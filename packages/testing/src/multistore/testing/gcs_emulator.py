"""A throwaway GCS emulator (``gcp-storage-emulator``) on 127.0.0.1, stopped by PID.

It keeps every object in its own memory (``--in-memory``) and checks no credentials. The
emulator comes from the workspace's dev dependency group, so it is in the environment the
README's test command builds. The helpers here reach it directly through its JSON API,
bypassing the gateway, so tests can see what the store really holds.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from multistore.testing.ports import free_port
from multistore.testing.processes import terminate, wait_until_ready

EXECUTABLE = "gcp-storage-emulator"


# Python's socketserver listens with a backlog of 5; the emulator serves one connection at
# a time, so a burst of parallel requests (aws-cli runs 10) would see dropped SYNs and a
# one-second retransmit each. A longer queue changes nothing else about the emulator.
_BOOT = (
    "import socketserver, sys; socketserver.TCPServer.request_queue_size = 128; "
    "from gcp_storage_emulator.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


def emulator_command() -> list[str]:
    """How to start the emulator: in this interpreter when it has it, else its script."""
    if importlib.util.find_spec("gcp_storage_emulator") is not None:
        return [sys.executable, "-c", _BOOT]
    beside = Path(sys.executable).parent / EXECUTABLE
    found = str(beside) if beside.exists() else shutil.which(EXECUTABLE)
    if found is None:
        raise RuntimeError(
            f"{EXECUTABLE} is not installed: it comes with the workspace's dev dependency "
            "group (uv sync)"
        )
    return [found]


@dataclass(slots=True)
class GcsEmulator:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        log = (self.workdir / f"gcs-emulator-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [*emulator_command(), "start", "--host", "127.0.0.1", "--port", str(self.port),
             "--in-memory", "--quiet"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
        )  # fmt: skip
        log.close()
        wait_until_ready(
            self.process,
            f"{EXECUTABLE} on port {self.port}",
            lambda: self.request("GET", "/")[0] == 200,
            timeout,
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        terminate(process)

    # --- direct access (bypassing the gateway) ---------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def create_bucket(self, name: str) -> None:
        status, body = self.request(
            "POST", "/storage/v1/b?project=test", json.dumps({"name": name}).encode(),
            {"content-type": "application/json"},
        )  # fmt: skip
        if status not in (200, 409):
            raise RuntimeError(f"could not create bucket {name}: {status} {body[:200]!r}")

    def put(
        self, bucket: str, key: str, data: bytes, resource: dict[str, Any] | None = None
    ) -> None:
        meta = json.dumps({**(resource or {}), "name": key}).encode()
        boundary = "gcs-emulator-test-boundary-7f3a"
        body = (
            b"--" + boundary.encode() + b"\r\ncontent-type: application/json\r\n\r\n" + meta
            + b"\r\n--" + boundary.encode() + b"\r\ncontent-type: application/octet-stream\r\n\r\n"
            + data + b"\r\n--" + boundary.encode() + b"--\r\n"
        )  # fmt: skip
        status, answer = self.request(
            "POST", f"/upload/storage/v1/b/{quote(bucket, safe='')}/o?uploadType=multipart",
            body, {"content-type": f"multipart/related; boundary={boundary}"},
        )  # fmt: skip
        if status != 200:
            raise RuntimeError(f"could not store {key!r}: {status} {answer[:200]!r}")

    def get(self, bucket: str, key: str) -> bytes:
        status, body = self.request("GET", self._object_path(bucket, key) + "?alt=media")
        if status != 200:
            raise KeyError(key)
        return body

    def describe(self, bucket: str, key: str) -> dict[str, Any] | None:
        status, body = self.request("GET", self._object_path(bucket, key))
        if status == 404:
            return None
        result: dict[str, Any] = json.loads(body)
        return result

    def keys(self, bucket: str, prefix: str = "") -> set[str]:
        query = urlencode({"prefix": prefix}) if prefix else ""
        status, body = self.request("GET", f"/storage/v1/b/{quote(bucket, safe='')}/o?{query}")
        if status != 200:
            raise RuntimeError(f"could not list {bucket}: {status}")
        return {str(item["name"]) for item in json.loads(body).get("items") or ()}

    @staticmethod
    def _object_path(bucket: str, key: str) -> str:
        return f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(key, safe='')}"


@contextmanager
def running_gcs_emulator(workdir: Path) -> Iterator[GcsEmulator]:
    workdir.mkdir(parents=True, exist_ok=True)
    emulator = GcsEmulator(workdir)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()
