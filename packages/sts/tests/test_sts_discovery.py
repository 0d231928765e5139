"""STS arrives by installation alone: entry-point discovery, and the key that switches it on.

The gateway is started from a throwaway virtualenv holding only core, static-config and
the server runtime (pinned from ``uv.lock``): no ``/.sts`` route there, even with
``SESSION_TOKEN_KEY`` set. The workspace environment, which has ``multistore-sts``, serves
STS with no change of code or config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.signing import send
from multistore.testing.venvs import importable, python_with, requirements_of

from .conftest import TOKEN_KEY


def config(root: Path) -> dict[str, Any]:
    return {
        "buckets": [{"name": "data", "backend_type": "file", "anonymous_access": True,
                     "backend_options": {"root": str(root)}}],
        "roles": [{"role_id": "ci", "name": "ci", "allowed_scopes": [],
                   "trusted_oidc_issuers": ["https://127.0.0.1:9"]}],
    }  # fmt: skip


STS_QUERY = urlencode(
    {"Action": "AssumeRoleWithWebIdentity", "RoleArn": "ci", "WebIdentityToken": "t"}
)


@pytest.fixture(scope="module")
def python_without_sts(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("without-sts")
    python = python_with(["multistore-server"], base)
    assert "multistore-sts" not in requirements_of(base)
    assert importable(python, "multistore.sts", "jwt") == {"multistore.sts": False, "jwt": False}
    return python


def answered_by_sts(gateway: GatewayProcess, path: str) -> bool:
    response = send("GET", f"{gateway.url}{path}?{STS_QUERY}")
    return b"<ErrorResponse" in response.body


def installed_extensions(gateway: GatewayProcess) -> str:
    return gateway.log().split("router extensions installed: ", 1)[1].split(";", 1)[0]


def test_without_the_package_there_is_no_sts_route(python_without_sts: str, tmp_path: Path) -> None:
    env = {"SESSION_TOKEN_KEY": TOKEN_KEY}
    with running_gateway(config(tmp_path), tmp_path, env=env, python=python_without_sts) as gateway:
        assert not answered_by_sts(gateway, "/.sts")
        assert not answered_by_sts(gateway, "/")
        # ``GET /`` is still ListBuckets.
        assert b"<ListAllMyBucketsResult" in send("GET", f"{gateway.url}/").body
        assert installed_extensions(gateway) == "none"


def test_installing_the_package_adds_the_route(tmp_path: Path) -> None:
    env = {"SESSION_TOKEN_KEY": TOKEN_KEY}
    with running_gateway(config(tmp_path), tmp_path, env=env) as gateway:
        assert answered_by_sts(gateway, "/.sts")
        assert answered_by_sts(gateway, "/")
        assert b"<ListAllMyBucketsResult" in send("GET", f"{gateway.url}/").body
        assert "sts" in installed_extensions(gateway).split(", ")


def test_without_a_token_key_sts_declines_and_says_so_once(tmp_path: Path) -> None:
    with running_gateway(config(tmp_path), tmp_path, env={"SESSION_TOKEN_KEY": ""}) as gateway:
        assert not answered_by_sts(gateway, "/.sts")
        log = gateway.log()
        assert log.count("STS disabled: SESSION_TOKEN_KEY is not set") == 1
        assert "declined: " in log
        assert "sts" in log.split("declined: ", 1)[1].splitlines()[0].split(", ")


def test_an_invalid_token_key_stops_startup(tmp_path: Path) -> None:
    bad_key = {"SESSION_TOKEN_KEY": "dG9vIHNob3J0"}  # base64 of 9 bytes
    with (
        pytest.raises(RuntimeError, match="exited early"),
        running_gateway(config(tmp_path), tmp_path, env=bad_key),
    ):
        pass
    logs = "".join(path.read_text() for path in tmp_path.glob("gateway-*.log"))
    assert "SESSION_TOKEN_KEY must be 32 bytes, got 9" in logs
