"""Starting the real console script: mistakes are one line, a busy port is refused, and what
was loaded is logged once."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multistore.testing.gateway import running_gateway
from multistore.testing.ports import free_port
from multistore.testing.signing import send

SERVER = str(Path(sys.executable).parent / "multistore-server")


def start(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the console script to its end (every case here must refuse to start)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    return subprocess.run(
        [SERVER, *args], env={**clean, **(env or {})}, cwd=cwd,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def the_one_line(done: subprocess.CompletedProcess[str]) -> str:
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert "ERROR multistore.server" in lines[0], output
    return lines[0].split("cannot start: ", 1)[1]


def test_listen_without_a_host() -> None:
    message = the_one_line(start("--listen", "8080"))
    assert message == "--listen must be HOST:PORT (e.g. 127.0.0.1:8080 or :8080), got '8080'"


def test_unknown_log_level() -> None:
    message = the_one_line(start("--log-level", "verbose"))
    assert message.startswith("--log-level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    assert message.endswith("got 'verbose'")


def test_workers_variable_that_is_not_a_number() -> None:
    message = the_one_line(start(env={"MULTISTORE_WORKERS": "abc"}))
    assert message == "MULTISTORE_WORKERS must be a whole number (0 = one per CPU), got 'abc'"


def test_missing_tls_file_is_named(tmp_path: Path, tls_files: object) -> None:
    from multistore.testing.tls import TlsFiles

    assert isinstance(tls_files, TlsFiles)
    missing = tmp_path / "no-such-key.pem"
    message = the_one_line(
        start("--tls-cert", str(tls_files.server_cert), "--tls-key", str(missing))
    )
    assert message == f"--tls-key {missing}: No such file or directory"
    not_pem = tmp_path / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    message = the_one_line(start("--tls-cert", str(not_pem), "--tls-key", str(not_pem)))
    assert message.startswith(f"--tls-cert {not_pem} and --tls-key {not_pem} are not a PEM")


def test_broken_config_is_reported_once_even_with_workers(tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[[buckets]]\nname = "x"\n')
    message = the_one_line(start("--config", str(config), "--workers", "2"))
    assert message.startswith(f"{config}: ")
    assert "buckets[0].backend_type is required" in message
    message = the_one_line(start("--config", "missing.toml", cwd=tmp_path))
    assert message.endswith(f"cannot read config file {tmp_path / 'missing.toml'}: "
                            "No such file or directory")  # fmt: skip


def test_a_port_held_by_another_program(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        message = the_one_line(start("--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path)))
    assert message == (
        f"cannot listen on 127.0.0.1:{port}: the port is already in use by another process"
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_gateway_cannot_share_the_port(workers: str, tmp_path: Path) -> None:
    """The first gateway's workers share their port (SO_REUSEPORT); a second gateway, even
    run by the same user with the same flags, must not join them and split the traffic."""
    first_config = {"buckets": [{"name": "first", "backend_type": "file",
                                 "anonymous_access": True,
                                 "backend_options": {"root": str(tmp_path)}}]}  # fmt: skip
    (tmp_path / "who.txt").write_text("first")
    with running_gateway(first_config, tmp_path / "a", args=["--workers", "2"]) as first:
        address = first.url.removeprefix("http://")
        second = tmp_path / "second.json"
        second.write_text(json.dumps({"buckets": []}))
        message = the_one_line(
            start("--config", str(second), "--listen", address, "--workers", workers)
        )
        assert (
            message == f"cannot listen on {address}: the port is already in use by another process"
        )
        answers = [send("GET", f"{first.url}/first/who.txt") for _ in range(10)]
        assert [(a.status, a.body) for a in answers] == [(200, b"first")] * 10


def test_loaded_config_is_logged_once_with_its_warnings(tmp_path: Path) -> None:
    config = {
        "buckets": [{"name": "data", "backend_type": "file", "anonymous_access": True,
                     "backend_options": {"root": str(tmp_path)}, "colour": "blue"}],
    }  # fmt: skip
    with running_gateway(config, tmp_path / "gw", args=["--workers", "2"]) as gateway:
        deadline = time.monotonic() + 30
        while gateway.log().count("listening on") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the second worker may still be starting
        log = gateway.log()
        assert log.count("listening on") == 2, log
        assert log.count("ignoring unknown config keys at buckets[0]: colour") == 1, log
        assert log.count("loaded 1 bucket(s), 0 credential(s) and 0 role(s) from ") == 1, log
        assert log.count("no credentials or roles configured") == 1, log
        assert log.count("router extensions installed:") == 1, log


def test_an_empty_config_is_a_warning(tmp_path: Path) -> None:
    with running_gateway({}, tmp_path) as gateway:
        assert "loaded 0 bucket(s), 0 credential(s) and 0 role(s)" in gateway.log()
        assert "WARNING multistore.server" in gateway.log()
        assert "no buckets configured: every S3 request will be refused" in gateway.log()


def test_server_header_names_no_versions(tmp_path: Path) -> None:
    with running_gateway(None, tmp_path) as gateway:
        assert send("GET", f"{gateway.url}/demo/README.txt").headers["Server"] == "multistore"
        assert send("GET", f"{gateway.url}/nowhere/x").headers["Server"] == "multistore"
        port = int(gateway.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            raw.sendall(b"NOT A REQUEST\r\n\r\n")  # answered by aiohttp itself with a 400
            reply = raw.recv(65536).decode("latin-1")
        assert reply.split(" ", 2)[1] == "400", reply
        assert "\r\nServer: multistore\r\n" in reply, reply
        assert "aiohttp" not in reply
        assert "Python" not in reply


def test_version_and_help_for_every_flag() -> None:
    version = subprocess.run([SERVER, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "multistore-server 0.1.0"
    shown = subprocess.run([SERVER, "--help"], capture_output=True, text=True, check=True)
    text = " ".join(shown.stdout.split())
    options = text.split("options:", 1)[1]
    flags = [word for word in options.split() if re.fullmatch(r"--[a-z-]+", word)]
    described = {flag for flag in flags if flag not in ("--help", "--version")}
    assert len(described) == 10, described
    # Each flag's help text says its default.
    assert text.count("(default: ") == len(described)


def test_no_port_is_taken_by_refused_starts() -> None:
    # A refused start never leaves the probe bound: the port is free right after.
    port = free_port()
    the_one_line(start("--listen", f"127.0.0.1:{port}", "--log-level", "nope"))
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
