"""``pip install multistore-server multistore-azure`` serves an Azurite container to aws-cli,
with the configuration docs/backends.md shows (issue 13's "done when").

The environment is built from the workspace's wheels (multistore.testing.venvs), so it holds
exactly what the two distributions declare.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from multistore.static_config import from_toml
from multistore.testing.aws_cli import run_aws_cli
from multistore.testing.azurite import Azurite, AzuriteClient
from multistore.testing.gateway import running_gateway
from multistore.testing.venvs import Wheelhouse, importable, install_environment, workspace_root

DOCS = workspace_root() / "docs" / "backends.md"
DOCUMENTED_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"


def documented_config() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", DOCS.read_text("utf-8"), re.DOTALL)
    found = [block for block in blocks if DOCUMENTED_ENDPOINT in block]
    assert len(found) == 1, "docs/backends.md shows one Azurite configuration"
    return str(found[0])


@pytest.fixture(scope="module")
def server_and_azure(tmp_path_factory: pytest.TempPathFactory, workspace_wheels: Wheelhouse) -> str:
    python = install_environment(
        tmp_path_factory.mktemp("server-and-azure"),
        ["multistore-server", "multistore-azure"],
        workspace_wheels,
    )
    found = importable(str(python), "multistore.azure", "multistore.testing", "multistore.sts")
    assert found == {"multistore.azure": True, "multistore.testing": False, "multistore.sts": False}
    return str(python)


def test_documented_config_serves_azurite_to_aws_cli(
    server_and_azure: str, azurite: Azurite, tmp_path: Path
) -> None:
    text = documented_config().replace(DOCUMENTED_ENDPOINT, azurite.endpoint)
    config = from_toml(text)
    (bucket,) = config.buckets
    (credential,) = config.credentials
    AzuriteClient(azurite.endpoint).create_container(bucket.option("container_name"))
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    keys = (credential.access_key_id, credential.secret_access_key)
    upload = tmp_path / "report.csv"
    upload.write_bytes(b"id,value\n1,azure\n" * 1000)
    with running_gateway(path, tmp_path / "gateway", python=server_and_azure) as gateway:
        sent = run_aws_cli(
            gateway, "s3", "cp", str(upload), f"s3://{bucket.name}/docs/report.csv",
            credentials=keys, cwd=tmp_path,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        listed = run_aws_cli(
            gateway, "s3", "ls", f"s3://{bucket.name}/docs/", credentials=keys, cwd=tmp_path
        )
        assert listed.returncode == 0, listed.stderr
        assert "report.csv" in listed.stdout
        back = tmp_path / "back.csv"
        fetched = run_aws_cli(
            gateway, "s3", "cp", f"s3://{bucket.name}/docs/report.csv", str(back),
            credentials=keys, cwd=tmp_path,
        )  # fmt: skip
        assert fetched.returncode == 0, fetched.stderr
    assert back.read_bytes() == upload.read_bytes()
    stored = AzuriteClient(azurite.endpoint).get_blob(
        bucket.option("container_name"), "docs/report.csv"
    )
    assert stored == upload.read_bytes()
