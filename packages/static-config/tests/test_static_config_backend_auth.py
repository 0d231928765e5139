"""``auth_type`` in ``backend_options`` is accepted only when an installed package provides it.

Nothing in the gateway reads ``auth_type`` by itself: accepted without a provider, a bucket
meant to use OIDC backend credentials would silently send unsigned requests.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multistore.core import plugins
from multistore.static_config import ConfigError, parse_config


def bucket_with(auth_type: str) -> dict[str, Any]:
    options = {"bucket_name": "b", "auth_type": auth_type, "oidc_role_arn": "arn:aws:iam::1:role/r"}
    return {"buckets": [{"name": "data", "backend_type": "s3", "anonymous_access": False,
                         "backend_options": options}]}  # fmt: skip


@pytest.fixture
def installed_provider(tmp_path: Path) -> Iterator[str]:
    """A distribution on sys.path that declares a backend-auth entry point, as a plugin would."""
    info = tmp_path / "multistore_fake_auth-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: multistore-fake-auth\n"
                                   "Version: 1.0\n")  # fmt: skip
    (info / "entry_points.txt").write_text(
        f"[{plugins.BACKEND_AUTH}]\nfake-auth = multistore_fake_auth:provider\n"
    )
    sys.path.insert(0, str(tmp_path))
    plugins._group.cache_clear()
    try:
        yield "fake-auth"
    finally:
        sys.path.remove(str(tmp_path))
        plugins._group.cache_clear()


def test_an_auth_type_nobody_provides_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(bucket_with("fake-auth"))
    assert caught.value.problems == (
        'buckets[0].backend_options.auth_type "fake-auth" is not available: no installed '
        'package provides it (entry point "fake-auth" in the group "multistore.backend_auth"; '
        'multistore-oidc-provider will provide "oidc")',
    )


def test_oidc_is_refused_exactly_while_no_provider_is_installed() -> None:
    if "oidc" in plugins.backend_auth_types():
        assert parse_config(bucket_with("oidc")).buckets[0].backend_options["auth_type"] == "oidc"
    else:
        with pytest.raises(ConfigError, match='auth_type "oidc" is not available'):
            parse_config(bucket_with("oidc"))


def test_installing_a_provider_lifts_the_refusal(installed_provider: str) -> None:
    config = parse_config(bucket_with(installed_provider))
    assert config.buckets[0].backend_options["auth_type"] == installed_provider
