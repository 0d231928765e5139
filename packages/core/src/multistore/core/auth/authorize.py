"""Authorization: may this identity do this action on this key of this bucket? (SPEC §4)

Decisions beyond upstream, all deliberate:
- ``bucket = "*"`` in a scope matches every bucket.
- ``get_object`` also permits HEAD; ``head_object`` alone permits only HEAD.
- An authenticated caller may do on an ``anonymous_access`` bucket whatever an anonymous
  caller may (reads and listing).
- A non-empty ``allowed_roles`` on a bucket restricts temporary credentials to those roles.
"""

from __future__ import annotations

from multistore.core.auth.identity import Grant, Identity
from multistore.core.config import READ_ACTIONS, AccessScope, Action, BucketConfig


def key_matches_prefix(key: str, prefix: str) -> bool:
    """Empty or ``/``-terminated prefixes match by ``startswith``; others match a whole segment.

    So ``data`` covers ``data`` and ``data/x`` but not ``data-private/x``.
    """
    if not prefix or prefix.endswith("/"):
        return key.startswith(prefix)
    return key == prefix or key.startswith(prefix + "/")


def _scope_permits_action(scope: AccessScope, action: Action) -> bool:
    if action in scope.actions:
        return True
    return action is Action.HEAD_OBJECT and Action.GET_OBJECT in scope.actions


def scope_allows(scope: AccessScope, bucket: str, action: Action, key: str) -> bool:
    if scope.bucket != "*" and scope.bucket != bucket:
        return False
    if not _scope_permits_action(scope, action):
        return False
    return not scope.prefixes or any(key_matches_prefix(key, p) for p in scope.prefixes)


_MAX_GRANTS_PER_IDENTITY = 1024


def is_authorized(identity: Identity, bucket: BucketConfig, action: Action, key: str) -> bool:
    """The single authorization decision used for every operation.

    Equal to ``any(scope_allows(s, bucket.name, action, key) for s in identity.scopes)``
    for an admitted, authenticated caller; what does not depend on the key is worked out
    once per identity, bucket and action (see ``Identity.grants``).
    """
    if bucket.anonymous_access and action in READ_ACTIONS:
        return True
    grants = identity.grants
    cached = grants.get((bucket.name, action))
    # A reloaded configuration brings new BucketConfig objects, which miss.
    if cached is not None and cached[0] is bucket:
        grant = cached[1]
    else:
        grant = _grant(identity, bucket, action)
        if len(grants) >= _MAX_GRANTS_PER_IDENTITY:
            grants.clear()
        grants[(bucket.name, action)] = (bucket, grant)
    if grant is True or grant is False:
        return grant
    return any(key_matches_prefix(key, prefix) for prefix in grant)


def _grant(identity: Identity, bucket: BucketConfig, action: Action) -> Grant:
    """What ``identity``'s scopes let it do with ``action`` on ``bucket``, for any key."""
    if identity.is_anonymous or not _role_admitted(identity, bucket):
        return False
    prefixes: list[str] = []
    for scope in identity.scopes:
        if scope.bucket not in ("*", bucket.name) or not _scope_permits_action(scope, action):
            continue
        if not scope.prefixes:
            return True
        prefixes.extend(scope.prefixes)
    return tuple(prefixes) if prefixes else False


def _role_admitted(identity: Identity, bucket: BucketConfig) -> bool:
    """A bucket's non-empty ``allowed_roles`` admits only temporary credentials of those roles."""
    return (
        identity.role_id is None
        or not bucket.allowed_roles
        or (identity.role_id in bucket.allowed_roles)
    )


def may_know_bucket(identity: Identity, bucket_name: str) -> bool:
    """Whether a missing bucket may be reported as 404 (else 403, so names don't leak)."""
    return any(s.bucket in ("*", bucket_name) for s in identity.scopes)


def can_use_bucket(identity: Identity, bucket: BucketConfig) -> bool:
    """Whether ListBuckets shows ``bucket`` to ``identity``."""
    if bucket.anonymous_access:
        return True
    if not _role_admitted(identity, bucket):
        return False
    return any(s.bucket in ("*", bucket.name) for s in identity.scopes)


def allows_any_key(identity: Identity, bucket: BucketConfig, action: Action) -> bool:
    """Coarse check for DeleteObjects: some key of ``bucket`` may get ``action``."""
    if identity.is_anonymous or not _role_admitted(identity, bucket):
        return False
    return any(
        s.bucket in ("*", bucket.name) and _scope_permits_action(s, action) for s in identity.scopes
    )
