"""The worker's garbage-collector tuning (docs/performance.md, issue 14 point 8)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from multistore.server import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settle_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    startup_object = {"config": ["buckets"]}
    heap.settle()
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    assert gc.get_freeze_count() > 0
    assert startup_object not in gc.get_objects()  # frozen: no collection walks it


@pytest.mark.usefixtures("restored_gc")
def test_settle_again_collects_cycles_that_were_frozen() -> None:
    class Node:
        partner: object = None

    heap.settle()
    first, second = Node(), Node()
    first.partner, second.partner = second, first
    heap.settle()  # now frozen with the rest
    del first, second
    heap.settle()  # as after a config reload: the replaced objects must go
    gc.unfreeze()
    assert not [o for o in gc.get_objects() if isinstance(o, Node)]
