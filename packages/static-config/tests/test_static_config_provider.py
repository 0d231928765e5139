"""StaticProvider: the registries the gateway queries, served from a loaded config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from multistore.core.registry import (
    BucketEntry,
    BucketOwner,
    BucketRegistry,
    CachedCredentialRegistry,
    CredentialRegistry,
    ResolvedBucket,
)
from multistore.static_config import ConfigError, StaticConfig, StaticProvider, from_toml
from multistore.static_config.reloading import ReloadableProvider

CONFIG = """
owner_id = "owner-1"
owner_display_name = "Owner One"

[[buckets]]
name = "public"
backend_type = "file"
anonymous_access = true
backend_options = { root = "/srv/public" }

[[buckets]]
name = "private"
backend_type = "s3"
anonymous_access = false
backend_options = { bucket_name = "real-private" }

[[roles]]
role_id = "ci"
name = "CI"
trusted_oidc_issuers = ["https://issuer.example"]

[[credentials]]
access_key_id = "AKID1"
secret_access_key = "secret-1"
principal_name = "alice"
"""


@pytest.fixture
def provider() -> StaticProvider:
    return StaticProvider(from_toml(CONFIG))


async def test_provider_satisfies_both_registry_protocols(provider: StaticProvider) -> None:
    # The annotations are the real check (mypy); the calls prove the methods are wired.
    bucket_registry: BucketRegistry = provider
    credential_registry: CredentialRegistry = provider
    assert await bucket_registry.get_bucket("public") is not None
    assert await credential_registry.get_credential("AKID1") is not None


async def test_get_bucket_by_exact_name(provider: StaticProvider) -> None:
    resolved = await provider.get_bucket("private")

    assert isinstance(resolved, ResolvedBucket)
    assert resolved.config.name == "private"
    assert resolved.config.option("bucket_name") == "real-private"
    assert resolved.list_rewrite is None
    assert resolved.display_name is None
    assert await provider.get_bucket("Private") is None
    assert await provider.get_bucket("missing") is None


async def test_list_buckets_returns_every_bucket_with_fixed_date(provider: StaticProvider) -> None:
    fixed = datetime(2024, 1, 1, tzinfo=UTC)
    entries = await provider.list_buckets()
    assert entries == [
        BucketEntry(name="public", creation_date=fixed),
        BucketEntry(name="private", creation_date=fixed),
    ]
    # Callers may filter the list they get without changing what the next caller sees.
    entries.clear()
    assert len(await provider.list_buckets()) == 2


def test_bucket_owner_from_config(provider: StaticProvider) -> None:
    assert provider.bucket_owner() == BucketOwner(id="owner-1", display_name="Owner One")
    assert StaticProvider(StaticConfig()).bucket_owner() == BucketOwner()


async def test_credential_and_role_lookups(provider: StaticProvider) -> None:
    credential = await provider.get_credential("AKID1")
    assert credential is not None
    assert credential.principal_name == "alice"
    assert await provider.get_credential("akid1") is None

    role = await provider.get_role("ci")
    assert role is not None
    assert role.name == "CI"
    assert await provider.get_role("cd") is None


async def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")

    provider = StaticProvider.from_file(path)

    assert await provider.get_role("ci") is not None
    assert provider.config.buckets[0].name == "public"


def test_from_file_rejects_invalid_config(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[[buckets]]\nname = ""\nbackend_type = "s3"\nanonymous_access = true\n')
    with pytest.raises(ConfigError, match=r"bucket\[0\] has an empty name"):
        StaticProvider.from_file(path)


async def test_empty_provider() -> None:
    provider = StaticProvider(StaticConfig())
    assert await provider.list_buckets() == []
    assert await provider.get_bucket("x") is None
    assert await provider.get_credential("x") is None


async def test_static_provider_answers_from_memory(provider: StaticProvider) -> None:
    assert isinstance(provider, CachedCredentialRegistry)
    assert provider.cached_bucket("private") is await provider.get_bucket("private")
    assert provider.cached_bucket("missing") is None
    assert provider.cached_credential("AKID1") is await provider.get_credential("AKID1")
    assert provider.cached_credential("missing") is None


async def test_reloadable_provider_follows_reloads() -> None:
    configs = [from_toml(CONFIG), from_toml(CONFIG.replace('"alice"', '"bob"'))]
    reloadable = ReloadableProvider(lambda: configs.pop(0))
    before = await reloadable.get_bucket("private")
    assert before is not None
    credential = await reloadable.get_credential("AKID1")
    assert credential is not None
    assert credential.principal_name == "alice"

    assert reloadable.reload()
    after = await reloadable.get_bucket("private")
    assert after is not None
    assert after is not before  # the reloaded file's tables, not the old ones
    reloaded = await reloadable.get_credential("AKID1")
    assert reloaded is not None
    assert reloaded.principal_name == "bob"
