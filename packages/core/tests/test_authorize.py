"""The authorization table of SPEC §4, including the decisions beyond upstream."""

from __future__ import annotations

import pytest

from multistore.core.auth.authorize import (
    allows_any_key,
    can_use_bucket,
    is_authorized,
    key_matches_prefix,
    may_know_bucket,
)
from multistore.core.auth.identity import ANONYMOUS, Identity
from multistore.core.config import AccessScope, Action, BucketConfig

PUBLIC = BucketConfig(name="public", backend_type="file", anonymous_access=True)
PRIVATE = BucketConfig(name="private", backend_type="file")
ROLE_LOCKED = BucketConfig(name="locked", backend_type="file", allowed_roles=("ci",))


def who(*scopes: AccessScope, role: str | None = None) -> Identity:
    return Identity(principal="p", scopes=scopes, role_id=role)


def scope(bucket: str, *actions: Action, prefixes: tuple[str, ...] = ()) -> AccessScope:
    return AccessScope(bucket=bucket, prefixes=prefixes, actions=frozenset(actions))


@pytest.mark.parametrize(
    ("key", "prefix", "expected"),
    [
        ("data", "data", True), ("data/x", "data", True), ("data-private/x", "data", False),
        ("database/x", "data", False), ("data/x", "data/", True), ("data", "data/", False),
        ("anything", "", True),
    ],
)  # fmt: skip
def test_prefix_rule(key: str, prefix: str, expected: bool) -> None:
    assert key_matches_prefix(key, prefix) is expected


@pytest.mark.parametrize("action", list(Action))
def test_anonymous_reads_only_public_buckets(action: Action) -> None:
    reads = {Action.GET_OBJECT, Action.HEAD_OBJECT, Action.LIST_BUCKET}
    assert is_authorized(ANONYMOUS, PUBLIC, action, "k") is (action in reads)
    assert is_authorized(ANONYMOUS, PRIVATE, action, "k") is False


def test_authenticated_callers_keep_anonymous_reads() -> None:
    unrelated = who(scope("other", Action.PUT_OBJECT))
    assert is_authorized(unrelated, PUBLIC, Action.GET_OBJECT, "k")
    assert not is_authorized(unrelated, PUBLIC, Action.PUT_OBJECT, "k")


def test_wildcard_bucket_scope() -> None:
    everywhere = who(scope("*", Action.GET_OBJECT))
    assert is_authorized(everywhere, PRIVATE, Action.GET_OBJECT, "k")
    assert not is_authorized(everywhere, PRIVATE, Action.PUT_OBJECT, "k")
    assert may_know_bucket(everywhere, "missing")


def test_get_object_implies_head_but_not_the_reverse() -> None:
    getter = who(scope("private", Action.GET_OBJECT))
    header = who(scope("private", Action.HEAD_OBJECT))
    assert is_authorized(getter, PRIVATE, Action.HEAD_OBJECT, "k")
    assert not is_authorized(header, PRIVATE, Action.GET_OBJECT, "k")
    assert not is_authorized(getter, PRIVATE, Action.GET_OBJECT_VERSION, "k")


def test_prefix_scoped_listing() -> None:
    lister = who(scope("private", Action.LIST_BUCKET, prefixes=("data/",)))
    assert is_authorized(lister, PRIVATE, Action.LIST_BUCKET, "data/")
    assert is_authorized(lister, PRIVATE, Action.LIST_BUCKET, "data/sub")
    assert not is_authorized(lister, PRIVATE, Action.LIST_BUCKET, "")
    assert not is_authorized(lister, PRIVATE, Action.LIST_BUCKET, "data")


def test_allowed_roles_restrict_temporary_credentials() -> None:
    grant = scope("locked", Action.GET_OBJECT)
    assert is_authorized(who(grant, role="ci"), ROLE_LOCKED, Action.GET_OBJECT, "k")
    assert not is_authorized(who(grant, role="other"), ROLE_LOCKED, Action.GET_OBJECT, "k")
    # Long-lived keys are not role-bound.
    assert is_authorized(who(grant), ROLE_LOCKED, Action.GET_OBJECT, "k")
    assert not can_use_bucket(who(grant, role="other"), ROLE_LOCKED)


def test_missing_buckets_are_only_revealed_to_those_who_could_see_them() -> None:
    assert not may_know_bucket(ANONYMOUS, "x")
    assert not may_know_bucket(who(scope("y", Action.GET_OBJECT)), "x")
    assert may_know_bucket(who(scope("x", Action.GET_OBJECT)), "x")


def test_batch_delete_coarse_check() -> None:
    deleter = who(scope("private", Action.DELETE_OBJECT, prefixes=("tmp/",)))
    assert allows_any_key(deleter, PRIVATE, Action.DELETE_OBJECT)
    assert not allows_any_key(ANONYMOUS, PUBLIC, Action.DELETE_OBJECT)


def test_remembered_grants_still_decide_each_key() -> None:
    # What is remembered per bucket and action is the prefixes, never one key's answer.
    reader = who(scope("private", Action.GET_OBJECT, prefixes=("data", "logs/")))
    assert is_authorized(reader, PRIVATE, Action.GET_OBJECT, "data/x")
    assert not is_authorized(reader, PRIVATE, Action.GET_OBJECT, "data-private/x")
    assert is_authorized(reader, PRIVATE, Action.GET_OBJECT, "logs/2024")
    assert not is_authorized(reader, PRIVATE, Action.PUT_OBJECT, "data/x")
    assert is_authorized(reader, PRIVATE, Action.HEAD_OBJECT, "data")
    # Two scopes, one unrestricted: every key.
    both = who(scope("private", Action.GET_OBJECT, prefixes=("data/",)),
               scope("*", Action.GET_OBJECT))  # fmt: skip
    assert is_authorized(both, PRIVATE, Action.GET_OBJECT, "elsewhere")


def test_remembered_grants_follow_a_reloaded_bucket() -> None:
    # Same name, new configuration object (a reload): decided again, not remembered.
    grant = scope("locked", Action.GET_OBJECT)
    caller = who(grant, role="other")
    open_bucket = BucketConfig(name="locked", backend_type="file")
    assert is_authorized(caller, open_bucket, Action.GET_OBJECT, "k")
    assert not is_authorized(caller, ROLE_LOCKED, Action.GET_OBJECT, "k")
    assert is_authorized(caller, open_bucket, Action.GET_OBJECT, "k")


def test_remembered_grants_are_bounded_and_not_part_of_equality() -> None:
    caller = who(scope("*", Action.GET_OBJECT))
    for n in range(3000):
        bucket = BucketConfig(name=f"b{n}", backend_type="file")
        assert is_authorized(caller, bucket, Action.GET_OBJECT, "k")
    assert 0 < len(caller.grants) <= 1024
    assert caller == who(scope("*", Action.GET_OBJECT))
    assert hash(caller) == hash(who(scope("*", Action.GET_OBJECT)))
