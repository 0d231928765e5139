"""Run ``multistore-server`` as a real subprocess for end-to-end tests."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from multistore.testing.ports import free_port
from multistore.testing.tls import TlsFiles


@dataclass(frozen=True, slots=True)
class GatewayProcess:
    url: str
    pid: int
    log_path: Path
    ca_cert: Path | None = None
    # Clients are kept and closed with the gateway: a client collected with open pooled
    # sockets would raise ResourceWarning in whatever test happens to run then.
    _clients: list[Any] = field(default_factory=list)

    def client(
        self,
        access_key: str | None = None,
        secret_key: str | None = None,
        *,
        session_token: str | None = None,
        **config: Any,
    ) -> Any:
        """A boto3 S3 client pointed at the gateway (anonymous when no key is given)."""
        options: dict[str, Any] = {
            "s3": {"addressing_style": "path"},
            "retries": {"max_attempts": 1, "mode": "standard"},
        }
        if access_key is None:
            from botocore import UNSIGNED

            options["signature_version"] = UNSIGNED
        options.update(config)
        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=access_key or "unused",
            aws_secret_access_key=secret_key or "unused",
            aws_session_token=session_token,
            config=Config(**options),
            verify=str(self.ca_cert) if self.ca_cert else None,
        )
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, *, count: int = 1, timeout: float = 10.0) -> str:
        """The log once ``needle`` is in it ``count`` times, or as it is at the timeout.

        A request's access line is written after its response has gone out, so a test
        that has its answer may still be a moment ahead of the line.
        """
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if text.count(needle) >= count or time.monotonic() > deadline:
                return text
            time.sleep(0.02)


def _wait_healthy(
    url: str, process: subprocess.Popen[bytes], ca: Path | None, timeout: float
) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    netloc = url.split("://", 1)[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gateway exited early with code {process.returncode}")
        conn = (
            http.client.HTTPSConnection(netloc, timeout=1, context=context)
            if context
            else http.client.HTTPConnection(netloc, timeout=1)
        )
        try:
            conn.request("GET", "/.multistore/healthz")
            if conn.getresponse().status == 200:
                return
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
        finally:
            conn.close()
    raise TimeoutError(f"gateway at {url} did not become healthy in {timeout}s")


@contextmanager
def running_gateway(
    config: Mapping[str, Any] | Path | None,
    workdir: Path,
    *,
    tls: TlsFiles | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    python: str | None = None,
    startup_timeout: float = 30.0,
    port: int | None = None,
    runtime: str = "server",
) -> Iterator[GatewayProcess]:
    """Start the gateway on a free loopback port; stop it (by PID) on exit.

    ``config`` is a dict (written as JSON), a path, or None for the demo mode. ``port``
    fixes the port when the gateway's own URL must be known before it starts (e.g. it is
    the OIDC issuer another gateway trusts). ``runtime="lambda"`` starts
    ``multistore-lambda-local`` instead: the Lambda handler behind Function URL events
    (it takes only ``--config`` and ``--listen``, and needs a config).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    module = {"server": "multistore.server", "lambda": "multistore.aws_lambda.local"}[runtime]
    command = [python or sys.executable, "-m", module]
    if isinstance(config, Path):
        command += ["--config", str(config)]
    elif config is not None:
        path = workdir / "gateway-config.json"
        path.write_text(json.dumps(config))
        command += ["--config", str(path)]
    port = port or free_port()
    command += ["--listen", f"127.0.0.1:{port}"]
    if runtime == "server":
        command += ["--workers", "1"]
    command += list(args)
    if tls is not None:
        command += ["--tls-cert", str(tls.server_cert), "--tls-key", str(tls.server_key)]
    if runtime == "server" and config is None and "--data-dir" not in args:
        command += ["--data-dir", str(workdir / "data")]
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    process_env.update(env or {})
    log_path = workdir / f"gateway-{port}.log"
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=process_env)
    try:
        _wait_healthy(url, process, tls.ca_cert if tls else None, startup_timeout)
        gateway = GatewayProcess(url, process.pid, log_path, tls.ca_cert if tls else None)
        try:
            yield gateway
        finally:
            gateway.close_clients()
    except BaseException:
        sys.stderr.write(log_path.read_text(errors="replace")[-4000:])
        raise
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
