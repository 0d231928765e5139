"""One backend per bucket configuration, reused, and the least recently used one evicted."""

from __future__ import annotations

from dataclasses import dataclass

from multistore.core.backends.base import BackendServices
from multistore.core.backends.pool import BackendPool
from multistore.core.config import BucketConfig


@dataclass
class Built:
    config: BucketConfig
    closed: bool = False

    async def close(self) -> None:
        self.closed = True


async def test_backends_are_reused_and_the_least_recently_used_is_evicted() -> None:
    built: list[Built] = []

    def factory(config: BucketConfig, services: BackendServices) -> Built:
        built.append(Built(config))
        return built[-1]

    pool = BackendPool({"fake": factory}, BackendServices(), max_entries=2)
    a, b, c = (BucketConfig(name=name, backend_type="fake") for name in "abc")
    first_a = pool.get(a)
    assert pool.get(a) is first_a  # the same bucket twice in a row
    first_b = pool.get(b)
    assert pool.get(a) is first_a  # a is now the most recently used: b goes first
    pool.get(c)
    assert pool.get(a) is first_a
    assert pool.get(c) is built[2]
    assert len(built) == 3
    # b was evicted (and is closed in the background); asking again builds a new one.
    assert pool.get(b) is not first_b
    assert len(built) == 4
    # An equal but distinct config (a reload) gets its own backend.
    assert pool.get(BucketConfig(name="a", backend_type="fake")) is not first_a
    await pool.close()
    assert pool.get(a) is not first_a  # closed pools forget everything
    await pool.close()
