"""``ProxyGateway.flush``: every middleware that has ``flush`` is asked, a failing one is logged."""

from __future__ import annotations

import logging

import pytest

from multistore.core.backends.base import BackendServices
from multistore.core.backends.pool import BackendPool
from multistore.core.config import RoleConfig, StoredCredential
from multistore.core.gateway import ProxyGateway
from multistore.core.middleware import BaseMiddleware, FlushableMiddleware
from multistore.core.registry import BucketEntry, BucketOwner, ResolvedBucket


class NoBuckets:
    async def get_bucket(self, name: str) -> ResolvedBucket | None:
        return None

    async def list_buckets(self) -> list[BucketEntry]:
        return []

    def bucket_owner(self) -> BucketOwner:
        return BucketOwner()


class NoCredentials:
    async def get_credential(self, access_key_id: str) -> StoredCredential | None:
        return None

    async def get_role(self, role_id: str) -> RoleConfig | None:
        return None


class Queueing(BaseMiddleware):
    def __init__(self, queued: list[str]) -> None:
        self.queued = queued
        self.written: list[str] = []

    async def flush(self) -> None:
        self.written += self.queued
        self.queued.clear()


class Broken(BaseMiddleware):
    async def flush(self) -> None:
        raise RuntimeError("the sink is on fire")


class Plain(BaseMiddleware):
    """No ``flush``: nothing held back."""


def _gateway(*middlewares: BaseMiddleware) -> ProxyGateway:
    return ProxyGateway(
        buckets=NoBuckets(),
        credentials=NoCredentials(),
        backends=BackendPool({}, BackendServices()),
        middlewares=middlewares,
    )


def test_flush_is_an_optional_method() -> None:
    assert isinstance(Queueing([]), FlushableMiddleware)
    assert not isinstance(Plain(), FlushableMiddleware)


async def test_every_middleware_is_flushed_and_a_failure_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, last = Queueing(["a"]), Queueing(["b", "c"])
    broken = Broken()
    gateway = _gateway(first, Plain(), broken, last)
    with caplog.at_level(logging.ERROR, logger="multistore.core.gateway"):
        await gateway.flush()
    assert (first.written, last.written) == (["a"], ["b", "c"])
    (record,) = caplog.records  # Plain, which has no flush, was not asked
    assert record.getMessage() == f"flush of {broken!r} failed"
    assert record.exc_info is not None
    assert "the sink is on fire" in str(record.exc_info[1])
