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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from multistore.server.settings import build_parser
from multistore.testing.gateway import running_gateway
from multistore.testing.signing import send
from multistore.testing.tls import TlsFiles

SERVER = str(Path(sys.executable).parent / "multistore-server")


@dataclass(frozen=True, slots=True)
class Refused:
    returncode: int
    output: str


def start(*runs: tuple[Sequence[str], Mapping[str, str]], cwd: Path | None = None) -> list[Refused]:
    """Run the console script once per (args, env), all at once, each to its end (every
    case here must refuse to start)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    processes = [
        subprocess.Popen([SERVER, *args], env={**clean, **env}, cwd=cwd, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for args, env in runs
    ]  # fmt: skip
    results = []
    for process in processes:
        output, _ = process.communicate(timeout=60)
        results.append(Refused(process.returncode, output))
    return results


def the_one_line(done: Refused) -> str:
    output = done.output.strip()
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert "ERROR multistore.server" in lines[0], output
    return lines[0].split("cannot start: ", 1)[1]


def test_each_startup_mistake_is_one_line(tmp_path: Path, tls_files: TlsFiles) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[[buckets]]\nname = "x"\n')
    missing_key = tmp_path / "no-such-key.pem"
    not_pem = tmp_path / "not-a-cert.pem"
    not_pem.write_text("hello\n")
    with socket.socket() as holder:  # a port some other program listens on
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        cases = {
            "listen": (["--listen", "8080"], {}),
            "log level": (["--log-level", "verbose"], {}),
            "workers": ([], {"MULTISTORE_WORKERS": "abc"}),
            "missing tls key": (["--tls-cert", str(tls_files.server_cert),
                                 "--tls-key", str(missing_key)], {}),
            "not pem": (["--tls-cert", str(not_pem), "--tls-key", str(not_pem)], {}),
            "bad config": (["--config", str(config), "--workers", "2"], {}),
            "relative missing config": (["--config", "missing.toml"], {}),
            "port in use": (["--listen", f"127.0.0.1:{held}", "--data-dir", str(tmp_path)], {}),
        }  # fmt: skip
        results = dict(zip(cases, start(*cases.values(), cwd=tmp_path), strict=True))
    message = {name: the_one_line(result) for name, result in results.items()}
    assert message["listen"] == (
        "--listen must be HOST:PORT (e.g. 127.0.0.1:8080 or :8080), got '8080'"
    )
    assert message["log level"] == (
        "--log-level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (any case), got 'verbose'"
    )
    assert message["workers"] == (
        "MULTISTORE_WORKERS must be a whole number (0 = one per CPU), got 'abc'"
    )
    assert message["missing tls key"] == f"--tls-key {missing_key}: No such file or directory"
    assert message["not pem"].startswith(
        f"--tls-cert {not_pem} and --tls-key {not_pem} are not a PEM"
    )
    assert message["bad config"].startswith(f"{config}: ")  # once, though two workers
    assert "buckets[0].backend_type is required" in message["bad config"]
    assert message["relative missing config"].endswith(
        f"cannot read config file {tmp_path / 'missing.toml'}: No such file or directory"
    )
    assert message["port in use"] == (
        f"cannot listen on 127.0.0.1:{held}: the port is already in use by another process"
    )
    # A refused start leaves nothing bound behind.
    with socket.socket() as again:
        again.bind(("127.0.0.1", held))


def test_a_second_gateway_cannot_share_the_port(tmp_path: Path) -> None:
    """The first gateway's workers share their port (SO_REUSEPORT); a second gateway, even
    run by the same user, must not join them and split the traffic. The first gateway also
    shows that, with two workers, what was loaded and the config's warnings appear once."""
    first_config = {"buckets": [{"name": "first", "backend_type": "file",
                                 "anonymous_access": True, "colour": "blue",
                                 "backend_options": {"root": str(tmp_path)}}]}  # fmt: skip
    (tmp_path / "who.txt").write_text("first")
    with running_gateway(first_config, tmp_path / "a", args=["--workers", "2"]) as first:
        deadline = time.monotonic() + 30
        while first.log().count("listening on") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the second worker may still be starting
        address = first.url.removeprefix("http://")
        second = tmp_path / "second.json"
        second.write_text(json.dumps({"buckets": []}))
        second_args = ["--config", str(second), "--listen", address, "--workers"]
        refused = start(([*second_args, "1"], {}), ([*second_args, "2"], {}))
        for attempt in refused:
            assert the_one_line(attempt) == (
                f"cannot listen on {address}: the port is already in use by another process"
            )
        answers = [send("GET", f"{first.url}/first/who.txt") for _ in range(10)]
        assert [(a.status, a.body) for a in answers] == [(200, b"first")] * 10
        log = first.log()
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
    declared = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--")
    } - {"--help", "--version"}
    assert described == declared
    # Each flag's help text says its default.
    assert text.count("(default: ") == len(described)
