#!/usr/bin/env python3
"""Bootstrap and run multistore on a machine that has nothing but Python 3.11+.

    python3 dev.py serve [server flags...]   # the gateway, demo bucket from ./multistore-data
    python3 dev.py test [pytest args...]     # the whole test suite (run from the checkout)
    python3 dev.py uv [uv args...]           # uv itself, e.g. `python3 dev.py uv run aws ...`

uv comes from PATH; when it is missing, dev.py installs it into ``.dev/bootstrap`` of this
checkout, never into the Python that runs dev.py (Debian and Ubuntu mark theirs "externally
managed", PEP 668, and pip refuses to install into it): with that Python's pip and
``--target``, or, when it has no pip, into a private virtualenv made by its ``venv`` module.
uv then builds the environments from ``uv.lock`` exactly:

- ``serve`` uses ``.dev/serve``, holding only the runtime packages (the root's dependencies:
  no test tools, no test-only extensions), synced exactly;
- ``test`` uses ``.venv``, the development environment with the test and lint tools.

dev.py replaces itself with uv (``exec``), and ``uv run`` passes SIGTERM and SIGINT on to the
server or pytest, so stopping dev.py's PID stops what it started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
BOOTSTRAP = ROOT / ".dev" / "bootstrap"
SERVE_ENVIRONMENT = ROOT / ".dev" / "serve"
# uv reads and keeps uv.lock; 0.9 is the oldest release tested with this lock.
UV_REQUIREMENT = "uv>=0.9,<1"
BIN = "Scripts" if os.name == "nt" else "bin"
EXE = ".exe" if os.name == "nt" else ""


class BootstrapError(Exception):
    """uv is missing and cannot be installed; the message says what to do."""


def _bootstrapped_uv(prefix: Path) -> Path:
    return prefix / BIN / f"uv{EXE}"


def _quiet(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _install_in_private_venv(target: Path) -> str | None:
    """When this Python has no pip: ``python -m venv`` (which brings its own pip through
    ensurepip), then that pip installs uv in the venv."""
    created = _quiet([sys.executable, "-m", "venv", str(target)])
    if created.returncode != 0:
        return created.stderr.strip() or created.stdout.strip() or "venv failed"
    pip = [str(target / BIN / f"python{EXE}"), "-m", "pip"]
    installed = _quiet([*pip, "install", "--quiet", "--disable-pip-version-check", UV_REQUIREMENT])
    if installed.returncode != 0:
        return installed.stderr.strip() or "pip install uv failed"
    return None


def _install_with_pip_target(target: Path) -> str | None:
    """This Python's pip installs uv into a private folder with ``--target``: the system is
    left untouched, so PEP 668 allows it. Also the quickest route (no venv to build)."""
    if _quiet([sys.executable, "-m", "pip", "--version"]).returncode != 0:
        return "this Python has no pip"
    installed = _quiet(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(target), UV_REQUIREMENT]
    )  # fmt: skip
    if installed.returncode != 0:
        return installed.stderr.strip() or "pip install --target failed"
    return None


def install_uv() -> Path:
    """Install uv into ``.dev/bootstrap``; built aside and renamed, so never half there."""
    BOOTSTRAP.parent.mkdir(parents=True, exist_ok=True)
    print(f"dev.py: uv not found; installing it into {BOOTSTRAP}", file=sys.stderr)
    reasons = []
    for route in (_install_with_pip_target, _install_in_private_venv):
        staging = BOOTSTRAP.with_name(f"bootstrap.{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        reason = route(staging)
        if reason is None and _bootstrapped_uv(staging).exists():
            shutil.rmtree(BOOTSTRAP, ignore_errors=True)
            staging.rename(BOOTSTRAP)
            return _bootstrapped_uv(BOOTSTRAP)
        shutil.rmtree(staging, ignore_errors=True)
        reasons.append(reason or "uv was not installed")
    last_lines = "; ".join(reason.splitlines()[-1] for reason in reasons)
    raise BootstrapError(
        f"cannot install uv with {sys.executable} ({last_lines}). Install uv "
        "(https://docs.astral.sh/uv/), or give this Python pip or a venv module "
        "(Debian/Ubuntu: apt install python3-pip, or python3-venv), then run dev.py again."
    )


def find_uv() -> Path:
    found = shutil.which("uv")
    if found:
        return Path(found)
    private = _bootstrapped_uv(BOOTSTRAP)
    if private.exists():
        return private
    return install_uv()


def uv_arguments(command: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``uv`` arguments and extra environment for one dev.py command."""
    project = ["--project", str(ROOT)]
    if command == "serve":
        # Only the runtime: the root's dependencies, no dependency groups, and `--exact` so
        # nothing else lingers in the environment.
        run = ["run", *project, "--frozen", "--exact", "--no-default-groups"]
        return [*run, "multistore-server", *args], {
            "UV_PROJECT_ENVIRONMENT": str(SERVE_ENVIRONMENT)
        }
    if command == "test":
        return ["run", *project, "--frozen", "pytest", *args], {}
    return args, {}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("serve", "test", "uv"):
        print(__doc__, file=sys.stderr)
        return 2
    # dev.py runs on whatever `python3` is; the project itself needs 3.11.
    if sys.version_info < (3, 11):  # noqa: UP036
        print(f"dev.py: multistore needs Python 3.11 or later, not {sys.version.split()[0]}",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        uv = str(find_uv())
    except BootstrapError as exc:
        print(f"dev.py: {exc}", file=sys.stderr)
        return 1
    uv_args, extra_env = uv_arguments(argv[0], argv[1:])
    env = {**os.environ, **extra_env}
    if argv[0] == "serve":
        env.pop("VIRTUAL_ENV", None)  # the serve environment is chosen above, not the caller's
    # The interpreter that runs dev.py is the one the environments are built with (uv would
    # otherwise pick the first suitable one it finds, or try to download one).
    env.setdefault("UV_PYTHON", sys.executable)
    if argv[0] == "test":
        os.chdir(ROOT)  # pytest finds its configuration and test paths from the checkout
    # A relative --config (serve) is resolved from the caller's folder: no chdir above.
    command = [uv, *uv_args]
    if os.name != "nt":
        os.execve(uv, command, env)  # uv run forwards SIGTERM/SIGINT to its child
    try:
        return subprocess.run(command, env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
