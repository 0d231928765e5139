"""The OIDC provider arrives by installation alone, and installs without multistore-sts.

Two throwaway environments pinned from ``uv.lock``: server + oidc-provider (no STS), and
server + sts (no OIDC provider). Each gateway gets exactly the features of the packages it
has; the workspace (both) covers the switches: the variables that turn the provider on,
and what happens when they are missing or half set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.signing import send
from multistore.testing.venvs import importable, python_with, requirements_of

from .conftest import PemKey

TOKEN_KEY = "bXVsdGlzdG9yZS1vaWRjLXRlc3Qta2V5LTMyLWJ5dGU="
ISSUER = "https://gateway.example.com"
STS_QUERY = urlencode(
    {"Action": "AssumeRoleWithWebIdentity", "RoleArn": "ci", "WebIdentityToken": "t"}
)


def config(root: Path, *, oidc_bucket: bool = False) -> dict[str, Any]:
    buckets: list[dict[str, Any]] = [
        {"name": "data", "backend_type": "file", "anonymous_access": True,
         "backend_options": {"root": str(root)}},
    ]  # fmt: skip
    if oidc_bucket:
        buckets.append({
            "name": "federated", "backend_type": "s3", "anonymous_access": False,
            "backend_options": {"endpoint": "http://127.0.0.1:9", "bucket_name": "b",
                                "auth_type": "oidc", "oidc_role_arn": "arn:aws:iam::1:role/r"},
        })  # fmt: skip
    return {"buckets": buckets}


def env(key: PemKey) -> dict[str, str]:
    return {"OIDC_PROVIDER_KEY": key.pkcs8, "OIDC_PROVIDER_ISSUER": ISSUER,
            "SESSION_TOKEN_KEY": TOKEN_KEY}  # fmt: skip


def serves_discovery(gateway: GatewayProcess) -> bool:
    response = send("GET", f"{gateway.url}/.well-known/openid-configuration")
    return response.status == 200 and b'"jwks_uri"' in response.body


def serves_sts(gateway: GatewayProcess) -> bool:
    return b"<ErrorResponse" in send("GET", f"{gateway.url}/.sts?{STS_QUERY}").body


def startup_failure(tmp_path: Path, cfg: dict[str, Any], variables: dict[str, str],
                    python: str | None = None) -> str:  # fmt: skip
    with (
        pytest.raises(RuntimeError, match="exited early"),
        running_gateway(cfg, tmp_path, env=variables, python=python),
    ):
        pass
    return "".join(path.read_text() for path in tmp_path.glob("gateway-*.log"))


@pytest.fixture(scope="module")
def python_without_sts(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("oidc-without-sts")
    python = python_with(["multistore-server", "multistore-oidc-provider"], base)
    assert "multistore-sts" not in requirements_of(base)
    found = importable(python, "multistore.oidc_provider", "multistore.sts")
    assert found == {"multistore.oidc_provider": True, "multistore.sts": False}
    return python


@pytest.fixture(scope="module")
def python_without_oidc(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("sts-without-oidc")
    python = python_with(["multistore-server", "multistore-sts"], base)
    assert "multistore-oidc-provider" not in requirements_of(base)
    found = importable(python, "multistore.oidc_provider", "multistore.sts")
    assert found == {"multistore.oidc_provider": False, "multistore.sts": True}
    return python


def test_the_provider_installs_and_works_without_sts(
    python_without_sts: str, old_key: PemKey, tmp_path: Path
) -> None:
    with running_gateway(config(tmp_path, oidc_bucket=True), tmp_path, env=env(old_key),
                         python=python_without_sts) as gateway:  # fmt: skip
        assert serves_discovery(gateway)
        assert not serves_sts(gateway)
        assert "router extensions installed: oidc_provider;" in gateway.log()
        assert "backend credential sources installed: oidc;" in gateway.log()


def test_sts_installs_and_works_without_the_provider(
    python_without_oidc: str, old_key: PemKey, tmp_path: Path
) -> None:
    with running_gateway(config(tmp_path), tmp_path, env=env(old_key),
                         python=python_without_oidc) as gateway:  # fmt: skip
        assert serves_sts(gateway)
        assert not serves_discovery(gateway)
        assert "router extensions installed: sts;" in gateway.log()
    # An oidc bucket without the package is a startup error naming the bucket.
    log = startup_failure(tmp_path / "refused", config(tmp_path, oidc_bucket=True),
                          env(old_key), python_without_oidc)  # fmt: skip
    assert "bucket 'federated': auth_type 'oidc' is not available" in log


def test_without_the_variables_the_provider_declines_and_says_so_once(tmp_path: Path) -> None:
    with running_gateway(config(tmp_path), tmp_path, env={"OIDC_PROVIDER_KEY": ""}) as gateway:
        assert not serves_discovery(gateway)
        log = gateway.log()
        assert log.count("OIDC provider disabled: OIDC_PROVIDER_KEY and OIDC_PROVIDER_ISSUER") == 1
        assert "oidc_provider" in log.split("declined: ", 1)[1].splitlines()[0].split(", ")
    # ...and an oidc bucket then cannot be served: refused at startup, not at its first request.
    log = startup_failure(tmp_path / "oidc-bucket", config(tmp_path, oidc_bucket=True), {})
    assert "bucket 'federated': auth_type 'oidc' is not available" in log


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"OIDC_PROVIDER_ISSUER": ISSUER},
         "OIDC_PROVIDER_ISSUER is set but OIDC_PROVIDER_KEY is not"),
        ({"OIDC_PROVIDER_ISSUER": "http://gateway.example.com", "OIDC_PROVIDER_KEY": "k"},
         "holds no PEM private key"),
        ({"OIDC_PROVIDER_REFRESH_MARGIN_SECS": "soon"},
         "OIDC_PROVIDER_REFRESH_MARGIN_SECS must be seconds from 0 to 3600"),
    ],
)  # fmt: skip
def test_a_half_or_broken_configuration_stops_startup(
    variables: dict[str, str], message: str, old_key: PemKey, tmp_path: Path
) -> None:
    if "OIDC_PROVIDER_REFRESH_MARGIN_SECS" in variables:
        variables = {**env(old_key), **variables}
    assert message in startup_failure(tmp_path, config(tmp_path), variables)
