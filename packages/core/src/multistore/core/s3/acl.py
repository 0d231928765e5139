"""Canned ACLs and ``x-amz-grant-*`` headers on writes.

The gateway keeps no ACLs: who may read an object is decided by its own configuration
(``anonymous_access``, credential scopes), never by the object. It therefore behaves like an
S3 bucket with ACLs disabled (object ownership "bucket owner enforced"): the two canned ACLs
that grant nothing beyond the bucket owner's control are accepted, and every other ACL is
refused. Accepting ``public-read`` with a 200 would tell the caller the object is public
when it is not.
"""

from __future__ import annotations

from multistore.core.errors import AccessControlListNotSupported
from multistore.core.http import Headers

ACCEPTED_CANNED_ACLS = frozenset({"private", "bucket-owner-full-control"})
_GRANT_PREFIX = "x-amz-grant-"


def refuse_unsupported_acl(headers: Headers) -> None:
    """Raise ``AccessControlListNotSupported`` for an ACL the gateway could not honour."""
    canned = headers.get("x-amz-acl")
    if canned is not None and canned.strip() not in ACCEPTED_CANNED_ACLS:
        raise AccessControlListNotSupported(
            f"The bucket does not allow ACLs: x-amz-acl {canned.strip()!r} is not supported "
            "(only 'private' and 'bucket-owner-full-control' are accepted)"
        )
    for name in headers:
        if name.lower().startswith(_GRANT_PREFIX):
            raise AccessControlListNotSupported(
                f"The bucket does not allow ACLs: {name.lower()} is not supported"
            )
