"""Throwaway virtual environments holding chosen workspace distributions, built as a user would.

The workspace's own environment has every development tool in it, so it cannot show what a
distribution brings on its own. These helpers build the members' wheels with ``uv build`` once
and install a chosen set into a fresh virtualenv: the members from those wheel files, their
third-party dependencies pinned to ``uv.lock`` (from uv's cache when it has them, from the
package index otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path


def workspace_root() -> Path:
    """The checkout: the nearest folder above this file (or the current one) with uv.lock."""
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "uv.lock").is_file() and (folder / "packages").is_dir():
                return folder
    raise RuntimeError("multistore.testing.environments needs a multistore checkout")


def uv_executable() -> str:
    """The uv running this workspace: ``uv run`` exports it as ``UV``; dev.py does too."""
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        raise RuntimeError("uv (which runs this workspace) is needed to build environments")
    return found


def _run(command: list[str], *, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=workspace_root(), capture_output=True, text=True, timeout=timeout, check=False
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


def has_module(python: Path | str, module: str) -> bool:
    probe = f"import importlib.util as u, sys; sys.exit(u.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", probe], check=False, timeout=60).returncode == 0


__all__ = [
    "Wheelhouse",
    "build_wheels",
    "has_module",
    "install_environment",
    "member_folders",
    "members_needed",
    "uv_executable",
    "workspace_root",
]
