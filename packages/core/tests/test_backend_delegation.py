"""delete_concurrently: DeleteObjects for stores without a batch call (gcs, azure)."""

from __future__ import annotations

import asyncio

from multistore.core.backends.base import ObjectRequest
from multistore.core.backends.delegation import delete_concurrently
from multistore.core.errors import AccessDenied


class SlowStore:
    """Deletes keys after a pause, refusing ``locked/`` keys, and notes how many at once."""

    def __init__(self) -> None:
        self.deleted: list[str] = []
        self.running = 0
        self.most_at_once = 0

    async def delete_object(self, request: ObjectRequest) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(0.001 * (len(request.key) % 3))
            if request.key.startswith("locked/"):
                raise AccessDenied("that one is locked")
            self.deleted.append(request.key)
        finally:
            self.running -= 1


async def test_outcomes_follow_the_keys_and_failures_stay_per_key() -> None:
    store = SlowStore()
    keys = [f"k{i}" * (i % 4 + 1) for i in range(40)] + ["locked/a", "z"]
    outcomes = await delete_concurrently(store.delete_object, keys, concurrency=5)
    assert [outcome.key for outcome in outcomes] == keys
    refused = [(o.key, o.error_code, o.error_message) for o in outcomes if o.error_code]
    assert refused == [("locked/a", "AccessDenied", "that one is locked")]
    assert sorted(store.deleted) == sorted(k for k in keys if k != "locked/a")


async def test_at_most_concurrency_deletes_run_at_once() -> None:
    store = SlowStore()
    await delete_concurrently(store.delete_object, [f"key-{i}" for i in range(50)], concurrency=4)
    assert store.most_at_once == 4
