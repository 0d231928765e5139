"""CachedProvider: TTL caching of credential and role lookups around any registry."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from multistore.core.auth.canonical import EMPTY_SHA256
from multistore.core.auth.identity import IdentityResolver
from multistore.core.auth.signing import RequestSigner, SigningCredentials
from multistore.core.config import RoleConfig, StoredCredential
from multistore.core.errors import AccessDenied
from multistore.core.http import RequestInfo
from multistore.core.registry import CachedCredentialRegistry
from multistore.static_config import CachedProvider, StaticConfig, StaticProvider, from_toml


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingRegistry:
    """A credential registry standing in for a database: counts calls, can be made to fail."""

    def __init__(self) -> None:
        self.credentials: dict[str, StoredCredential] = {}
        self.roles: dict[str, RoleConfig] = {}
        self.calls: list[str] = []
        self.failure: Exception | None = None

    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        self.calls.append(f"credential:{access_key_id}")
        if self.failure is not None:
            raise self.failure
        return self.credentials.get(access_key_id)

    async def get_role(self, role_id: str) -> RoleConfig | None:
        self.calls.append(f"role:{role_id}")
        if self.failure is not None:
            raise self.failure
        return self.roles.get(role_id)


def credential(key_id: str, principal: str = "alice") -> StoredCredential:
    return StoredCredential(access_key_id=key_id, secret_access_key="s", principal_name=principal)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CountingRegistry:
    inner = CountingRegistry()
    inner.credentials["AK"] = credential("AK")
    inner.roles["ci"] = RoleConfig(role_id="ci", name="CI")
    return inner


async def test_credential_is_served_from_cache_until_ttl(
    registry: CountingRegistry, clock: FakeClock
) -> None:
    cached = CachedProvider(registry, ttl=60.0, clock=clock)

    first = await cached.get_credential("AK")
    registry.credentials["AK"] = credential("AK", principal="bob")
    clock.now += 59.9
    second = await cached.get_credential("AK")
    clock.now += 0.1
    third = await cached.get_credential("AK")

    assert first is second
    assert first is not None
    assert first.principal_name == "alice"
    assert third is not None
    assert third.principal_name == "bob"
    assert registry.calls == ["credential:AK", "credential:AK"]


async def test_not_found_is_cached(registry: CountingRegistry, clock: FakeClock) -> None:
    cached = CachedProvider(registry, ttl=60.0, clock=clock)

    assert await cached.get_credential("NOPE") is None
    registry.credentials["NOPE"] = credential("NOPE")
    assert await cached.get_credential("NOPE") is None
    assert registry.calls == ["credential:NOPE"]

    clock.now += 60
    assert await cached.get_credential("NOPE") is not None


async def test_errors_are_never_cached(registry: CountingRegistry, clock: FakeClock) -> None:
    cached = CachedProvider(registry, ttl=60.0, clock=clock)
    registry.failure = ConnectionError("database down")

    with pytest.raises(ConnectionError):
        await cached.get_role("ci")
    with pytest.raises(ConnectionError):
        await cached.get_role("ci")
    registry.failure = None
    role = await cached.get_role("ci")

    assert role is not None
    assert registry.calls == ["role:ci", "role:ci", "role:ci"]


async def test_roles_and_credentials_are_cached_separately(
    registry: CountingRegistry, clock: FakeClock
) -> None:
    registry.credentials["ci"] = credential("ci")
    cached = CachedProvider(registry, ttl=60.0, clock=clock)

    role = await cached.get_role("ci")
    found = await cached.get_credential("ci")

    assert isinstance(role, RoleConfig)
    assert isinstance(found, StoredCredential)
    assert registry.calls == ["role:ci", "credential:ci"]


async def test_zero_ttl_disables_caching(registry: CountingRegistry, clock: FakeClock) -> None:
    cached = CachedProvider(registry, ttl=0, clock=clock)
    await cached.get_credential("AK")
    await cached.get_credential("AK")
    assert registry.calls == ["credential:AK", "credential:AK"]


async def test_cache_size_is_bounded_against_random_key_ids(
    registry: CountingRegistry, clock: FakeClock
) -> None:
    cached = CachedProvider(registry, ttl=60.0, clock=clock, max_entries=3)
    for index in range(10):
        await cached.get_credential(f"RANDOM{index}")
    registry.calls.clear()

    await cached.get_credential("RANDOM9")  # newest entries survive
    await cached.get_credential("RANDOM0")  # oldest were evicted

    assert registry.calls == ["credential:RANDOM0"]
    assert "credentials_cached=3" in repr(cached)


async def test_expired_entries_are_dropped(registry: CountingRegistry, clock: FakeClock) -> None:
    cached = CachedProvider(registry, ttl=10.0, clock=clock)
    await cached.get_credential("A")
    await cached.get_credential("B")
    clock.now += 11
    await cached.get_credential("C")
    assert "credentials_cached=1" in repr(cached)


async def test_clear_forgets_everything(registry: CountingRegistry, clock: FakeClock) -> None:
    cached = CachedProvider(registry, ttl=60.0, clock=clock)
    await cached.get_role("ci")
    cached.clear()
    await cached.get_role("ci")
    assert registry.calls == ["role:ci", "role:ci"]


async def test_bucket_calls_pass_straight_through_to_a_bucket_registry() -> None:
    inner = StaticProvider(
        from_toml(
            'owner_id = "o"\n'
            '[[buckets]]\nname = "b"\nbackend_type = "s3"\nanonymous_access = true\n'
        )
    )
    cached = CachedProvider(inner)

    resolved = await cached.get_bucket("b")
    assert resolved is not None
    assert resolved is await inner.get_bucket("b")
    assert await cached.list_buckets() == await inner.list_buckets()
    assert cached.bucket_owner().id == "o"
    assert cached.inner is inner


async def test_bucket_calls_without_a_bucket_registry_fail_clearly(
    registry: CountingRegistry,
) -> None:
    cached = CachedProvider(registry)
    with pytest.raises(TypeError, match="CountingRegistry is not a bucket registry"):
        await cached.get_bucket("b")
    with pytest.raises(TypeError):
        cached.bucket_owner()


def test_invalid_parameters(registry: CountingRegistry) -> None:
    with pytest.raises(ValueError, match="ttl"):
        CachedProvider(registry, ttl=-1)
    with pytest.raises(ValueError, match="max_entries"):
        CachedProvider(registry, max_entries=0)


async def test_wraps_static_provider() -> None:
    cached = CachedProvider(StaticProvider(StaticConfig()))
    assert await cached.get_credential("x") is None


async def test_cached_credential_answers_only_what_is_cached_and_fresh(
    registry: CountingRegistry, clock: FakeClock
) -> None:
    cached = CachedProvider(registry, ttl=60.0, clock=clock)
    assert isinstance(cached, CachedCredentialRegistry)

    assert cached.cached_credential("AK") is None  # not loaded yet: the caller must await
    loaded = await cached.get_credential("AK")
    assert cached.cached_credential("AK") is loaded
    clock.now += 60
    assert cached.cached_credential("AK") is None  # stale: the caller must await
    assert await cached.get_credential("NOPE") is None
    assert cached.cached_credential("NOPE") is None  # a cached miss also sends it to await
    cached.clear()
    clock.now -= 60
    assert cached.cached_credential("AK") is None
    assert registry.calls == ["credential:AK", "credential:NOPE"]


async def test_identity_resolver_uses_the_cache_without_awaiting_and_follows_it(
    registry: CountingRegistry, clock: FakeClock
) -> None:
    cached = CachedProvider(registry, ttl=60.0, clock=clock)
    resolver = IdentityResolver(cached)
    request = _signed_request()

    first = await resolver.authenticate(request, now=SIGNED_AT)
    second = await resolver.authenticate(request, now=SIGNED_AT)
    assert first.identity.principal == "alice"
    assert second.identity is first.identity
    assert registry.calls == ["credential:AK"]

    # A key disabled at the source is refused as soon as the cache lets go of the old one.
    registry.credentials["AK"] = StoredCredential(
        access_key_id="AK", secret_access_key="s", principal_name="alice", enabled=False
    )
    assert (await resolver.authenticate(request, now=SIGNED_AT)).identity is first.identity
    clock.now += 60
    with pytest.raises(AccessDenied, match="disabled"):
        await resolver.authenticate(request, now=SIGNED_AT)


SIGNED_AT = 1_735_732_800.0


def _signed_request() -> RequestInfo:
    """A GET signed by the gateway's own outbound signer for key ``AK`` (secret ``s``)."""
    signer = RequestSigner(SigningCredentials("AK", "s"), region="us-east-1")
    headers = signer.sign_headers("GET", "gw", "/b/k", "", {}, EMPTY_SHA256, now=SIGNED_AT)
    return RequestInfo(method="GET", raw_path="/b/k", raw_query="", headers=CIMultiDict(headers))
