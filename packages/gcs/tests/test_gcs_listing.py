"""The listing's pure part: GCS ``objects.list`` answers → S3 pages and opaque tokens.

The emulator ignores ``maxResults`` and never returns a ``nextPageToken``; these tests feed
answers shaped like GCS's own to pin the paths only GCS reaches.
"""

from __future__ import annotations

from typing import Any

from multistore.core.backends.base import ListRequest
from multistore.gcs.listing import Continuation, build_page, list_query, starting_point


def item(name: str, size: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "size": str(size),
        "md5Hash": "XrY7u+Ae7tCTyyK7j1rNww==",
        "updated": "2026-01-02T03:04:05.678Z",
        "generation": "1",
    }


def test_a_gcs_page_token_is_wrapped_and_sent_back() -> None:
    request = ListRequest(prefix="p/", delimiter="/", max_keys=2)
    answer = {"items": [item("p/a")], "prefixes": ["p/d/"], "nextPageToken": "CgNwL2Q="}
    page = build_page(request, None, answer)
    assert [e.key for e in page.entries] == ["p/a"]
    assert page.common_prefixes == ["p/d/"]
    assert page.entries[0].etag == '"5eb63bbbe01eeed093cb22bb8f5acdc3"'
    token = page.next_continuation_token
    assert token is not None
    assert "CgNwL2Q" not in token  # opaque to the client
    follow = ListRequest(prefix="p/", delimiter="/", max_keys=2, continuation_token=token)
    resumed = starting_point(follow)
    assert resumed == Continuation("CgNwL2Q=", "p/d/", after_is_prefix=True)
    assert ("pageToken", "CgNwL2Q=") in list_query(follow, resumed)
    # Whatever GCS repeats of the returned prefix is not listed twice.
    again = build_page(follow, resumed, {"items": [item("p/d/x"), item("p/e")]})
    assert [e.key for e in again.entries] == ["p/e"]
    assert again.next_continuation_token is None


def test_a_store_that_ignores_max_results_is_paged_by_the_gateway() -> None:
    names = [f"k{n:02d}" for n in range(5)]
    answer = {"items": [item(name) for name in names]}
    seen: list[str] = []
    continuation = None
    for _ in range(5):
        request = ListRequest(
            max_keys=2, continuation_token=continuation.encode() if continuation else None
        )
        page = build_page(request, starting_point(request), answer)
        seen += [e.key for e in page.entries]
        if page.next_continuation_token is None:
            break
        continuation = Continuation.decode(page.next_continuation_token)
    assert seen == names


def test_start_after_is_exclusive_and_the_staging_prefix_is_hidden() -> None:
    request = ListRequest(start_after="b", max_keys=10)
    assert ("startOffset", "b") in list_query(request, starting_point(request))
    answer = {"items": [item("b"), item("c"), item(".multistore-uploads/x")]}
    page = build_page(request, starting_point(request), answer)
    assert [e.key for e in page.entries] == ["c"]
