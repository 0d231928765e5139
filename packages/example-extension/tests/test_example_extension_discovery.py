"""Installing the example extension adds its route; nothing but installing it does.

The extension is test-only, so no environment that serves has it: not ``dev.py serve``'s,
not even the development environment. The gateway here runs from a throwaway virtualenv
holding the server runtime and this package, with only what they declare.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from multistore.testing.gateway import running_gateway
from multistore.testing.signing import send
from multistore.testing.venvs import WORKSPACE, importable, python_with, uv_executable


@pytest.fixture(scope="module")
def python_with_example(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("with-example")
    python = python_with(["multistore-server", "multistore-example-extension"], base)
    assert importable(python, "multistore.example_extension") == {
        "multistore.example_extension": True
    }
    return python


def test_installing_the_package_adds_its_route(python_with_example: str, tmp_path: Path) -> None:
    with running_gateway(None, tmp_path, python=python_with_example) as gateway:
        ping = send("GET", f"{gateway.url}/.example/ping")
        assert (ping.status, ping.body) == (200, b"pong\n")
        # A non-GET falls through the extension's route to the S3 pipeline.
        assert send("POST", f"{gateway.url}/.example/ping").status != 200
        assert "router extensions installed: example;" in gateway.log()


def test_an_extension_that_declines_adds_nothing(python_with_example: str, tmp_path: Path) -> None:
    env = {"MULTISTORE_EXAMPLE_DISABLED": "1"}
    with running_gateway(None, tmp_path, python=python_with_example, env=env) as declined:
        assert send("GET", f"{declined.url}/.example/ping").status in (403, 404)
        assert "declined: example" in declined.log()


def test_no_default_environment_holds_the_test_only_packages() -> None:
    """``uv sync``/``uv run`` (development) and ``dev.py serve`` (runtime) install from
    uv.lock; neither may bring the example extension, and serving brings no test tools."""
    import subprocess

    def exported(*flags: str) -> str:
        command = [uv_executable(), "export", "--frozen", "--quiet", "--no-hashes", *flags]
        return subprocess.run(
            command, cwd=WORKSPACE, capture_output=True, text=True, check=True, timeout=60
        ).stdout

    development = exported()
    assert "example-extension" not in development
    assert "./packages/testing" in development  # the fixtures the test suite needs
    serving = exported("--no-default-groups")
    for test_only in ("example-extension", "./packages/testing", "pytest", "moto", "mypy"):
        assert test_only not in serving
    assert "./runtimes/server" in serving
