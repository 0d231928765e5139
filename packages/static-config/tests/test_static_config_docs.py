"""The example configs shown to users in the README and the reference must load as shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from multistore.core.config import Action
from multistore.static_config import StaticConfig, from_toml

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_ROOT = PACKAGE_ROOT.parents[1]

_TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


def example_config(markdown: Path) -> StaticConfig:
    blocks = [b for b in _TOML_BLOCK.findall(markdown.read_text("utf-8")) if "[[buckets]]" in b]
    assert len(blocks) == 1, f"expected one complete example in {markdown}"
    return from_toml(blocks[0])


@pytest.mark.parametrize(
    "markdown",
    [PACKAGE_ROOT / "README.md", WORKSPACE_ROOT / "docs" / "configuration.md"],
    ids=["readme", "reference"],
)
def test_documented_example_loads(markdown: Path) -> None:
    config = example_config(markdown)

    public, acme = config.buckets
    assert public.backend_type == "file"
    assert public.anonymous_access is True
    assert public.option("root")
    assert acme.backend_type == "s3"
    assert acme.backend_prefix == "tenants/acme/"
    assert acme.region == "eu-west-1"
    (credential,) = config.credentials
    assert credential.allowed_scopes[0].bucket == "*"
    # A reader who copies the example must get a key that works today.
    assert credential.expires_at is not None
    assert credential.expires_at > datetime.now(UTC) + timedelta(days=365)
    (role,) = config.roles
    assert role.allowed_scopes[0].prefixes == ("ci/{repository}/",)
    assert Action.PUT_OBJECT in role.allowed_scopes[0].actions
    assert config.server.listen == "0.0.0.0:8080"
