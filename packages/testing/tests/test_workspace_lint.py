"""The lint commands CONTRIBUTING lists, run by the test suite so CI (``python3 dev.py test``)
fails on what a contributor's own check would catch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from multistore.testing.venvs import workspace_root

TOOLS = Path(sys.executable).parent  # the development environment's ruff and mypy


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_lint_is_clean(command: list[str]) -> None:
    done = subprocess.run(
        [str(TOOLS / command[0]), *command[1:]], cwd=workspace_root(),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
