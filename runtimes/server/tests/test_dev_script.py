"""``dev.py``, the README's two commands: bootstrapping uv on a Python that may not be
touched (PEP 668) or has no pip, serving from a runtime-only environment, and stopping.

The bootstrap runs dev.py exactly as a user would, with uv hidden from ``PATH``; pip reads
uv's wheel from a local folder (``PIP_NO_INDEX``/``PIP_FIND_LINKS``), fetched once per
checkout, so the test itself talks to no index.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from multistore.testing.ports import free_port
from multistore.testing.signing import send
from multistore.testing.venvs import workspace_root

ROOT = workspace_root()
SYSTEM_PYTHONS = ("/usr/bin/python3", "/usr/local/bin/python3")


def externally_managed_python() -> str:
    """The machine's own Python, marked externally managed (PEP 668) as Debian and Ubuntu
    mark theirs: installing into it with pip is refused."""
    probe = "import sysconfig; print(sysconfig.get_path('stdlib'))"
    for candidate in SYSTEM_PYTHONS:
        if not os.access(candidate, os.X_OK):
            continue
        stdlib = subprocess.run([candidate, "-c", probe], capture_output=True, text=True)
        if (Path(stdlib.stdout.strip()) / "EXTERNALLY-MANAGED").is_file():
            return candidate
    ours = Path(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
    raise AssertionError(
        f"no PEP 668 system Python among {SYSTEM_PYTHONS} (and {ours} is absent): this test "
        "needs the Debian/Ubuntu python3 the README promises to work with"
    )


@pytest.fixture(scope="session")
def uv_wheelhouse() -> Path:
    """A folder holding a uv wheel, so pip installs uv without an index."""
    folder = ROOT / ".dev" / "wheelhouse"
    if not list(folder.glob("uv-*.whl")):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [externally_managed_python(), "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--dest", str(folder), "uv>=0.9,<1"],
            check=True, timeout=300,
        )  # fmt: skip
    return folder


def bootstrap_env(wheelhouse: Path) -> dict[str, str]:
    """A user's environment with no uv anywhere on PATH and pip pointed at the wheelhouse."""
    hidden = ("UV", "VIRTUAL_ENV", "UV_PYTHON", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in hidden and not k.startswith("PIP_")}
    env.update(PATH="/usr/bin:/bin", PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheelhouse))
    assert shutil.which("uv", path=env["PATH"]) is None
    return env


def python_without_pip(base: Path) -> str:
    venv = base / "no-pip"
    subprocess.run([externally_managed_python(), "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)  # fmt: skip
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode
    return python


def shadowing(base: Path, *, venv: bool = False, pip: bool = False) -> str:
    """A PYTHONPATH folder whose stand-ins fail as on a Debian without python3-venv (no
    ensurepip) or without python3-pip."""
    shadow = base / "shadow"
    if venv:
        (shadow / "venv").mkdir(parents=True)
        (shadow / "venv" / "__init__.py").write_text("")
        (shadow / "venv" / "__main__.py").write_text(
            "import sys\nsys.exit('The virtual environment was not created successfully "
            "because ensurepip is not available.')\n"
        )
    if pip:
        (shadow / "pip").mkdir(parents=True)
        (shadow / "pip" / "__init__.py").write_text("raise ImportError('No module named pip')\n")
    return str(shadow)


@pytest.mark.parametrize("kind", ["externally-managed", "without-pip"])
def test_bootstrap_installs_uv_privately(kind: str, uv_wheelhouse: Path, tmp_path: Path) -> None:
    """PEP 668: the system pip with ``--target`` (allowed, as it leaves the system alone).
    No pip: a private venv, whose own pip installs uv."""
    python = python_without_pip(tmp_path) if kind == "without-pip" else externally_managed_python()
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "dev.py", checkout / "dev.py")
    env = bootstrap_env(uv_wheelhouse)
    if kind == "externally-managed":  # what dev.py used to do, refused by PEP 668
        refused = subprocess.run([python, "-m", "pip", "install", "uv"], env=env,
                                 capture_output=True, text=True, timeout=120)  # fmt: skip
        assert "externally-managed-environment" in refused.stderr

    first = subprocess.run([python, str(checkout / "dev.py"), "uv", "--version"], env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("uv "), first.stdout
    assert f"installing it into {checkout / '.dev' / 'bootstrap'}" in first.stderr
    assert "Traceback" not in first.stderr
    assert (checkout / ".dev" / "bootstrap" / "bin" / "uv").is_file()
    made_a_venv = (checkout / ".dev" / "bootstrap" / "pyvenv.cfg").is_file()
    assert made_a_venv == (kind == "without-pip")
    # The interpreter itself was left alone.
    untouched = subprocess.run([python, "-c", "import uv"], env=env, capture_output=True)
    assert untouched.returncode != 0

    again = subprocess.run([python, str(checkout / "dev.py"), "uv", "--version"], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "installing" not in again.stderr


def test_bootstrap_failure_is_one_clear_message(tmp_path: Path) -> None:
    """No venv module and no pip: say what to install, without a traceback."""
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(ROOT / "dev.py", checkout / "dev.py")
    env = bootstrap_env(tmp_path)
    env["PYTHONPATH"] = shadowing(tmp_path, venv=True, pip=True)
    done = subprocess.run([externally_managed_python(), str(checkout / "dev.py"), "uv"],
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("dev.py: cannot install uv with "), done.stderr
    assert "apt install python3-pip, or python3-venv" in last
    assert not (checkout / ".dev" / "bootstrap").exists()


@contextmanager
def dev_serve(*args: str, cwd: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    port = free_port()
    log = cwd / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MULTISTORE_")}
    command = [sys.executable, str(ROOT / "dev.py"), "serve", "--listen", f"127.0.0.1:{port}",
               *args]  # fmt: skip
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=out, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # the first run builds .dev/serve
        # With one worker per CPU (the default), wait for the one that reports what it loaded.
        while "listening on" not in log.read_text() or "loaded " not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield process, url, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def server_pids(log: Path) -> set[int]:
    """Every process that logged: the server, or its supervisor and workers."""
    lines = [line for line in log.read_text().splitlines() if " multistore." in line]
    return {int(line.split("[", 1)[1].split("]", 1)[0]) for line in lines}


def gone(pids: set[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = set()
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            alive.add(pid)
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_serve_runs_only_the_runtime_and_stops_with_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hello")
    # A relative --config, given from the folder it is in (not the checkout).
    (tmp_path / "gateway.json").write_text(
        '{"buckets": [{"name": "data", "backend_type": "file", "anonymous_access": true,'
        f' "backend_options": {{"root": "{data}"}}}}]}}'
    )
    with dev_serve("--config", "gateway.json", cwd=tmp_path) as (process, url, log):
        assert send("GET", f"{url}/data/hello.txt").body == b"hello"
        assert send("GET", f"{url}/.example/ping").status in (403, 404)
        extensions = next(line for line in log.read_text().splitlines()
                          if "router extensions installed: " in line)  # fmt: skip
        assert "installed: none; declined: " in extensions
        assert "example" not in extensions
        pids = server_pids(log)
        process.send_signal(signal.SIGTERM)  # the PID the user started: dev.py's
        assert process.wait(timeout=30) == 0, log.read_text()
        assert gone(pids, 10), f"server processes {pids} outlived dev.py"
    with socket.socket() as again:  # nobody holds the port any more
        again.bind(("127.0.0.1", int(url.rsplit(":", 1)[1])))
    serving_python = str(ROOT / ".dev" / "serve" / "bin" / "python")
    for test_only in ("pytest", "moto", "multistore.testing", "multistore.example_extension"):
        probe = f"import importlib.util as u, sys; sys.exit(u.find_spec({test_only!r}) is None)"
        assert subprocess.run([serving_python, "-c", probe]).returncode == 1, test_only


def test_ctrl_c_stops_serve_without_a_traceback(tmp_path: Path) -> None:
    with dev_serve("--data-dir", str(tmp_path / "data"), cwd=tmp_path) as (process, url, log):
        assert send("GET", f"{url}/demo/README.txt").status == 200
        pids = server_pids(log)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()
        assert gone(pids, 10)
    output = log.read_text()
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    assert "shutting down" in output
