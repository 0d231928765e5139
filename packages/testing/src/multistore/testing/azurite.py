"""A throwaway Azurite blob service on 127.0.0.1, started and stopped by PID.

Azurite (Microsoft's Azure Storage emulator, npm package ``azurite``) is installed on first
use into a cache folder with ``npm install --prefix``; Node and npm come from Debian when
they are missing. Only the blob service is started, on a free port.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from multistore.azure.auth import SharedKey
from multistore.azure.listing import blob_name, parse_blobs
from multistore.testing.debian import ensure_debian_tool
from multistore.testing.ports import free_port
from multistore.testing.processes import terminate, wait_until_ready

AZURITE_VERSION = "3.35.0"  # the release the suite was written against
# Azurite's well-known development account (public constants, documented by Microsoft).
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
_INSTALL_TIMEOUT = 600


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "multistore-testing" / f"azurite-{AZURITE_VERSION}"


@cache
def azurite_blob_executable() -> Path:
    """``azurite-blob``, installed into the cache folder when it is not there yet."""
    prefix = cache_dir()
    binary = prefix / "node_modules" / ".bin" / "azurite-blob"
    if binary.exists():
        return binary
    ensure_debian_tool("node", "nodejs")
    npm = ensure_debian_tool("npm", "npm")
    prefix.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
         f"azurite@{AZURITE_VERSION}"],
        check=True, timeout=_INSTALL_TIMEOUT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    if not binary.exists():
        raise FileNotFoundError(f"installing azurite did not provide {binary}")
    return binary


@dataclass(slots=True)
class Azurite:
    """One Azurite blob service; ``endpoint`` is the account URL (path style)."""

    workdir: Path
    in_memory: bool = True
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT_NAME}"

    def backend_options(self, container: str, **extra: str) -> dict[str, str]:
        """``backend_options`` of an ``azure`` bucket on ``container`` (Shared Key)."""
        return {
            "account_name": ACCOUNT_NAME,
            "container_name": container,
            "access_key": ACCOUNT_KEY,
            "endpoint": self.endpoint,
            **extra,
        }

    def start(self, timeout: float = 30.0) -> None:
        binary = azurite_blob_executable()
        command = [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
                   "--skipApiVersionCheck", "--loose", "--disableProductStyleUrl",
                   "--silent"]  # fmt: skip
        if self.in_memory:
            command.append("--inMemoryPersistence")
        else:
            location = self.workdir / "data"
            location.mkdir(parents=True, exist_ok=True)
            command += ["--location", str(location)]
        if "--disableTelemetry" in _help_text(binary):
            command.append("--disableTelemetry")
        log = (self.workdir / f"azurite-{self.port}.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until_ready(self.process, f"azurite on port {self.port}", self._answers, timeout)

    def _answers(self) -> bool:
        # Any HTTP answer (an authentication error here) means the service is up.
        with contextlib.suppress(urllib.error.HTTPError):
            urllib.request.urlopen(f"{self.endpoint}?comp=list", timeout=1).close()
        return True

    def stop(self) -> None:
        process, self.process = self.process, None
        terminate(process)


@cache
def _help_text(binary: Path) -> str:
    done = subprocess.run(
        [str(binary), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    return done.stdout


@contextmanager
def running_azurite(workdir: Path, *, in_memory: bool = True) -> Iterator[Azurite]:
    workdir.mkdir(parents=True, exist_ok=True)
    server = Azurite(workdir, in_memory=in_memory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def account_sas(permissions: str = "rwdlac", *, expiry: str = "2099-01-01T00:00:00Z") -> str:
    """An account SAS token for the blob service of the development account."""
    version = "2021-12-02"
    fields = [ACCOUNT_NAME, permissions, "b", "sco", "", expiry, "", "https,http", version, ""]
    digest = hmac.new(
        base64.b64decode(ACCOUNT_KEY), ("\n".join(fields) + "\n").encode(), hashlib.sha256
    ).digest()
    return urllib.parse.urlencode(
        {"sv": version, "ss": "b", "srt": "sco", "sp": permissions, "se": expiry,
         "spr": "https,http", "sig": base64.b64encode(digest).decode()}
    )  # fmt: skip


class AzuriteClient:
    """Direct access to the emulator's containers, bypassing the gateway (test checks)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._path = urllib.parse.urlsplit(endpoint).path
        self._signer = SharedKey(ACCOUNT_NAME, ACCOUNT_KEY)

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one Shared Key request; ``path`` is relative to the account, unencoded."""
        wire_path = self._path + urllib.parse.quote(path, safe="/~")
        out = {k.lower(): v for k, v in (headers or {}).items()}
        out["x-ms-version"] = "2021-12-02"
        if method in ("PUT", "POST") or body:
            out["content-length"] = str(len(body))
            # urllib would add a form content type after signing otherwise.
            out.setdefault("content-type", "application/octet-stream")
        sent = self._signer.authenticate(method, wire_path, list(query or ()), out)
        url = urllib.parse.urlunsplit(
            ("http", urllib.parse.urlsplit(self.endpoint).netloc, wire_path,
             urllib.parse.urlencode(sent, quote_via=urllib.parse.quote), "")
        )  # fmt: skip
        call = urllib.request.Request(url, data=body or None, method=method, headers=out)
        try:
            with urllib.request.urlopen(call, timeout=30) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def create_container(self, container: str, *, public: bool = False) -> None:
        headers = {"x-ms-blob-public-access": "container"} if public else {}
        status, _, body = self.request(
            "PUT", f"/{container}", [("restype", "container")], headers=headers
        )
        if status not in (201, 409):
            raise RuntimeError(f"creating container {container} failed: {status} {body!r}")

    def put_blob(self, container: str, key: str, data: bytes) -> None:
        status, _, body = self.request(
            "PUT", f"/{container}/{key}", headers={"x-ms-blob-type": "BlockBlob"}, body=data
        )
        if status != 201:
            raise RuntimeError(f"put {key!r} failed: {status} {body!r}")

    def get_blob(self, container: str, key: str) -> bytes:
        status, _, body = self.request("GET", f"/{container}/{key}")
        if status != 200:
            raise KeyError(key)
        return body

    def blob_names(self, container: str, prefix: str = "") -> list[str]:
        """Every committed blob name in ``container`` (upload markers included)."""
        names: list[str] = []
        marker = ""
        while True:
            query = [("restype", "container"), ("comp", "list"), ("prefix", prefix)]
            if marker:
                query.append(("marker", marker))
            status, _, body = self.request("GET", f"/{container}", query)
            if status != 200:
                raise RuntimeError(f"listing {container} failed: {status} {body!r}")
            blobs, _, next_marker = parse_blobs(body)
            names.extend(blob_name(blob.get("Name")) for blob in blobs)
            if not next_marker:
                return names
            marker = next_marker
