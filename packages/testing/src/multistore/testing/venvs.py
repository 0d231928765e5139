"""Throwaway virtualenvs holding a chosen subset of the workspace's distributions.

"Installs alone" is only proven by an environment where the other packages are absent:
pins come from ``uv.lock`` (``uv export --package ...``), wheels from uv's cache when it
has them, and the result is checked by import probes in the test.

``python_with`` installs the members from their folders (editable), which is enough for
entry-point discovery. ``install_environment`` installs them from the wheels ``uv build``
makes, as a user would, to prove the packaging itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path


def workspace_root() -> Path:
    """The checkout: the nearest folder above this file (or the current one) with uv.lock."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "uv.lock").is_file() and (folder / "packages").is_dir():
                return folder
    raise RuntimeError("multistore.testing.venvs needs a multistore checkout")


WORKSPACE = workspace_root()


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


def _run(command: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=WORKSPACE, capture_output=True, text=True, timeout=timeout, check=False
    )


def _checked(command: list[str], *, timeout: float = 300) -> str:
    done = _run(command, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


@cache
def member_folders() -> dict[str, Path]:
    """Distribution name → folder, for every workspace member."""
    root = workspace_root()
    members = {}
    for group in ("packages", "runtimes"):
        for pyproject in sorted((root / group).glob("*/pyproject.toml")):
            name = tomllib.loads(pyproject.read_text())["project"]["name"]
            members[name] = pyproject.parent
    return members


@dataclass(frozen=True, slots=True)
class Wheelhouse:
    """The wheels ``uv build --all-packages`` made of every member."""

    folder: Path

    def wheel(self, distribution: str) -> Path:
        stem = distribution.replace("-", "_")
        found = sorted(self.folder.glob(f"{stem}-*.whl"))
        if len(found) != 1:
            raise RuntimeError(f"expected one wheel of {distribution} in {self.folder}: {found}")
        return found[0]


def build_wheels(folder: Path) -> Wheelhouse:
    _checked([uv_executable(), "build", "--all-packages", "--wheel", "--quiet",
              "--out-dir", str(folder)])  # fmt: skip
    return Wheelhouse(folder)


def members_needed(distributions: Iterable[str]) -> tuple[list[str], str]:
    """The members the given distributions need (themselves included), and the third-party
    requirements pinned as in uv.lock, both from the dependencies the members declare."""
    folders = {path.resolve(): name for name, path in member_folders().items()}
    command = [uv_executable(), "export", "--frozen", "--quiet", "--no-default-groups",
               "--no-hashes", "--no-header", "--no-annotate"]  # fmt: skip
    for distribution in distributions:
        command += ["--package", distribution]
    members, pins = [], []
    for line in _checked(command).splitlines():
        if line.startswith("-e "):
            members.append(folders[(workspace_root() / line[3:].strip()).resolve()])
        elif line.strip() and not line.startswith("#"):
            pins.append(line)
    return members, "\n".join(pins) + "\n"


def install_environment(
    folder: Path, distributions: Iterable[str], wheels: Wheelhouse, *, python: str | None = None
) -> Path:
    """A fresh virtualenv in ``folder`` with the distributions and what they declare.

    Returns the environment's Python. Members come from the wheel files (never from an index:
    their names are ours), the rest pinned to uv.lock.
    """
    uv = uv_executable()
    members, pins = members_needed(distributions)
    requirements = folder / "requirements.txt"
    folder.mkdir(parents=True, exist_ok=True)
    requirements.write_text(pins)
    venv = folder / "venv"
    _checked([uv, "venv", "--quiet", *(["--python", python] if python else []), str(venv)])
    env_python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    install = [uv, "pip", "install", "--quiet", "--python", str(env_python),
               "-r", str(requirements), *(str(wheels.wheel(m)) for m in members)]  # fmt: skip
    # uv's cache normally holds every pinned wheel; fall back to the index when it does not.
    if _run([*install, "--offline"]).returncode != 0:
        _checked(install)
    return env_python
