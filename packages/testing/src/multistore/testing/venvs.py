"""Throwaway virtualenvs holding a chosen subset of the workspace's distributions.

"Installs alone" is only proven by an environment where the other packages are absent:
pins come from ``uv.lock`` (``uv export --package ...``), wheels from uv's cache when it
has them, and the result is checked by import probes in the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

WORKSPACE = Path(__file__).resolve().parents[5]


def uv_executable() -> str:
    # ``uv run`` exports the path of the uv running it; CI installs uv with pip otherwise.
    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "uv (which runs this workspace) is needed to build the environment"
    return found


def python_with(packages: Sequence[str], directory: Path) -> str:
    """A venv in ``directory`` with ``packages`` (workspace distributions) and their pinned
    dependencies, nothing else; returns its interpreter."""
    uv = uv_executable()
    requirements = directory / "requirements.txt"
    selection = [arg for name in packages for arg in ("--package", name)]
    subprocess.run(
        [uv, "export", "--quiet", "--frozen", *selection, "--no-default-groups", "--no-hashes",
         "--no-header", "--output-file", str(requirements)],
        cwd=WORKSPACE, check=True, timeout=120,
    )  # fmt: skip
    venv = directory / "venv"
    subprocess.run([uv, "venv", "--quiet", str(venv)], cwd=WORKSPACE, check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = [uv, "pip", "install", "--quiet", "--python", python, "-r", str(requirements)]
    # The uv cache normally holds every pinned wheel; fall back to the index when it does not.
    if subprocess.run([*install, "--offline"], cwd=WORKSPACE, timeout=300).returncode != 0:
        subprocess.run(install, cwd=WORKSPACE, check=True, timeout=300)
    return python


def requirements_of(directory: Path) -> str:
    return (directory / "requirements.txt").read_text()


def importable(python: str, *modules: str) -> dict[str, bool]:
    """Which of ``modules`` the interpreter can import (without importing them)."""
    probe = (
        "import importlib.util, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        print(importlib.util.find_spec(name) is not None)\n"
        "    except ModuleNotFoundError:\n"
        "        print(False)\n"
    )
    found = subprocess.run(
        [python, "-c", probe, *modules], capture_output=True, text=True, check=True, timeout=60
    )
    return dict(zip(modules, (line == "True" for line in found.stdout.split()), strict=True))
