"""The credential cache's promises, on a clock the test moves by hand.

The fetch function stands in for STS (the exchange itself is tested end to end against two
real gateways and against moto); what is under test here is when the cache calls it and
what it hands out meanwhile.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from multistore.core.auth.signing import SigningCredentials
from multistore.oidc_provider.aws_sts import IssuedCredentials, StsRejected, StsUnavailable
from multistore.oidc_provider.cache import CacheSettings, CredentialCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sts:
    """Counts exchanges; each answer is credentials ``n`` valid for ``lifetime`` seconds."""

    def __init__(self, lifetime: float = 900.0) -> None:
        self.lifetime = lifetime
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.failure: Exception | None = None

    async def fetch(self) -> IssuedCredentials:
        self.calls += 1
        number = self.calls
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return IssuedCredentials(
            SigningCredentials(f"AK{number}", "secret", f"token{number}"),
            datetime.now(UTC),
            self.lifetime,
        )


def cache(clock: Clock, **settings: float) -> CredentialCache:
    return CredentialCache(CacheSettings(**settings), clock=clock)


async def test_cold_callers_share_one_exchange_and_fresh_credentials_are_reused() -> None:
    clock, sts = Clock(), Sts()
    sts.gate = asyncio.Event()
    creds = cache(clock)
    waiting = [asyncio.ensure_future(creds.get("k", sts.fetch)) for _ in range(10)]
    await asyncio.sleep(0)
    sts.gate.set()
    results = await asyncio.gather(*waiting)
    assert sts.calls == 1
    assert {c.access_key_id for c in results} == {"AK1"}
    clock.now += 800  # 100 s left: outside the 60 s margin
    assert (await creds.get("k", sts.fetch)).access_key_id == "AK1"
    assert sts.calls == 1


async def test_keys_are_isolated() -> None:
    clock, sts = Clock(), Sts()
    creds = cache(clock)
    await creds.get(("role-a", "sub"), sts.fetch)
    await creds.get(("role-a", "other-sub"), sts.fetch)
    await creds.get(("role-b", "sub"), sts.fetch)
    assert sts.calls == 3


async def test_inside_the_margin_one_renewal_runs_while_everyone_keeps_the_current_ones() -> None:
    clock, sts = Clock(), Sts()
    creds = cache(clock)
    await creds.get("k", sts.fetch)
    clock.now += 850  # 50 s left
    sts.gate = asyncio.Event()
    served = [await creds.get("k", sts.fetch) for _ in range(11)]
    await asyncio.sleep(0)
    # Nobody waited for STS, and only one exchange is in flight.
    assert {c.access_key_id for c in served} == {"AK1"}
    assert sts.calls == 2
    sts.gate.set()
    await asyncio.sleep(0.01)
    assert (await creds.get("k", sts.fetch)).access_key_id == "AK2"
    assert sts.calls == 2


async def test_credentials_with_less_than_five_seconds_left_are_never_served() -> None:
    clock, sts = Clock(), Sts()
    creds = cache(clock)
    await creds.get("k", sts.fetch)
    sts.gate = asyncio.Event()
    clock.now += 850
    await creds.get("k", sts.fetch)  # starts the renewal, gets AK1
    clock.now += 46  # 4 s left: AK1 may no longer be handed out
    waiters = [asyncio.ensure_future(creds.get("k", sts.fetch)) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters)  # they wait for the renewal in flight
    sts.gate.set()
    assert {c.access_key_id for c in await asyncio.gather(*waiters)} == {"AK2"}
    assert sts.calls == 2


async def test_a_failed_background_renewal_keeps_the_current_ones_and_retries_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, sts = Clock(), Sts()
    creds = cache(clock)
    await creds.get("k", sts.fetch)
    clock.now += 850
    sts.failure = StsUnavailable("STS http://sts unreachable: refused")
    assert (await creds.get("k", sts.fetch)).access_key_id == "AK1"
    await asyncio.sleep(0.01)
    assert "the current ones stay in use for 50 s more" in caplog.text
    assert (await creds.get("k", sts.fetch)).access_key_id == "AK1"
    assert sts.calls == 2  # no second attempt within the retry interval
    clock.now += 6
    sts.failure = None
    await creds.get("k", sts.fetch)
    await asyncio.sleep(0.01)
    assert sts.calls == 3
    assert (await creds.get("k", sts.fetch)).access_key_id == "AK3"


async def test_a_failed_exchange_reaches_every_waiter_and_is_not_cached() -> None:
    clock, sts = Clock(), Sts()
    creds = cache(clock)
    sts.failure = StsUnavailable("down")
    sts.gate = asyncio.Event()
    waiters = [asyncio.ensure_future(creds.get("k", sts.fetch)) for _ in range(3)]
    await asyncio.sleep(0)
    sts.gate.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, StsUnavailable) for o in outcomes)
    assert sts.calls == 1
    sts.failure = None
    assert (await creds.get("k", sts.fetch)).access_key_id == "AK2"


async def test_a_cancelled_caller_does_not_cancel_the_shared_exchange() -> None:
    clock, sts = Clock(), Sts()
    sts.gate = asyncio.Event()
    creds = cache(clock)
    first = asyncio.ensure_future(creds.get("k", sts.fetch))
    second = asyncio.ensure_future(creds.get("k", sts.fetch))
    await asyncio.sleep(0)
    first.cancel()
    sts.gate.set()
    assert (await second).access_key_id == "AK1"
    assert sts.calls == 1


async def test_the_margin_is_capped_at_half_a_short_lifetime() -> None:
    clock, sts = Clock(), Sts(lifetime=20)
    creds = cache(clock, refresh_margin=60)
    await creds.get("k", sts.fetch)
    clock.now += 9  # 11 s left: inside 60 s, but not inside half the lifetime (10 s)
    await creds.get("k", sts.fetch)
    assert sts.calls == 1
    clock.now += 2
    await creds.get("k", sts.fetch)
    await asyncio.sleep(0.01)
    assert sts.calls == 2


async def test_credentials_that_arrive_nearly_expired_are_refused() -> None:
    clock, sts = Clock(), Sts(lifetime=3)
    with pytest.raises(StsRejected, match=r"only 3\.0 s of validity"):
        await cache(clock).get("k", sts.fetch)
