#!/usr/bin/env python3
"""Bootstrap and run multistore on a machine that has nothing but Python.

    python3 dev.py serve [server flags...]   # the gateway, demo bucket from ./multistore-data
    python3 dev.py test [pytest args...]     # the whole test suite

Installs uv (with pip, into the current interpreter) when it is missing, then hands over to
``uv run``, which creates ``.venv`` from ``uv.lock`` exactly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

COMMANDS = {
    "serve": ["multistore-server"],
    "test": ["pytest"],
}


def uv_command() -> list[str]:
    found = shutil.which("uv")
    if found:
        return [found]
    try:
        import uv  # noqa: F401  (the PyPI package ships the binary and a `python -m uv` entry)
    except ModuleNotFoundError:
        print("dev.py: installing uv with pip", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "uv"], check=True)
    return [sys.executable, "-m", "uv"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    command = [*uv_command(), "run", "--frozen", *COMMANDS[argv[0]], *argv[1:]]
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
