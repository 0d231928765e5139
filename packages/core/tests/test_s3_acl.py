"""Canned ACLs: the two that grant nothing beyond the owner pass, everything else is refused."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from multistore.core.errors import AccessControlListNotSupported
from multistore.core.s3.acl import refuse_unsupported_acl


@pytest.mark.parametrize("headers", [{}, {"x-amz-acl": "private"},
                                     {"X-Amz-Acl": " bucket-owner-full-control "}])  # fmt: skip
def test_owner_only_acls_pass(headers: dict[str, str]) -> None:
    refuse_unsupported_acl(CIMultiDict(headers))


@pytest.mark.parametrize(
    "headers",
    [{"x-amz-acl": "public-read"}, {"x-amz-acl": "public-read-write"},
     {"x-amz-acl": "authenticated-read"}, {"x-amz-acl": "aws-exec-read"},
     {"x-amz-acl": "bucket-owner-read"}, {"x-amz-acl": "Private"},
     {"x-amz-acl": "private", "X-Amz-Grant-Read": "uri=http://acs.amazonaws.com/groups/global/AllUsers"},
     {"x-amz-grant-full-control": "id=abc"}],
)  # fmt: skip
def test_every_other_acl_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(AccessControlListNotSupported) as info:
        refuse_unsupported_acl(CIMultiDict(headers))
    assert info.value.status == 400
