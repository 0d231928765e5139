"""The pure parts of STS: sealed tokens, trust rules, XML documents as botocore parses them."""

from __future__ import annotations

import base64
import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.parsers import QueryParser
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from multistore.core.config import AccessScope, Action, RoleConfig, TemporaryCredentials
from multistore.core.errors import ExpiredToken
from multistore.static_config import parse_config
from multistore.sts.errors import InvalidIdentityToken
from multistore.sts.minting import mint_credentials
from multistore.sts.token_key import TokenKey, TokenKeyError
from multistore.sts.trust import (
    ScopeTemplateError,
    audience_allowed,
    resolve_scopes,
    session_duration,
    subject_matches,
)
from multistore.sts.web_identity import VerifiedToken
from multistore.sts.xml import (
    assume_role_with_web_identity_xml,
    error_xml,
    get_caller_identity_xml,
)

KEY = base64.b64encode(bytes(range(32))).decode()


def credentials(*, expires_in: float = 3600) -> TemporaryCredentials:
    return TemporaryCredentials(
        access_key_id="STSPRXYabcdefghijklmnop",
        secret_access_key="s" * 40,
        session_token="inner",
        expiration=datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in),
        allowed_scopes=(
            AccessScope("data", ("users/alice/",), frozenset({Action.GET_OBJECT})),
            AccessScope("*", (), frozenset({Action.LIST_BUCKET, Action.PUT_OBJECT})),
        ),
        assumed_role_id="ci",
        source_identity="alice",
    )


# --- sealed session tokens ------------------------------------------------------------------


def test_sealed_token_round_trips_in_the_upstream_format() -> None:
    key = TokenKey.from_base64(KEY)
    original = credentials()
    token = key.seal(original)
    assert not set(token) & set("=+/")  # base64url, no padding
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    # nonce(12) || ciphertext || tag(16), AES-256-GCM without associated data: what the
    # Rust gateway opens.
    plaintext = AESGCM(bytes(range(32))).decrypt(raw[:12], raw[12:], None)
    document = json.loads(plaintext)
    assert document["access_key_id"] == original.access_key_id
    assert document["expiration"].endswith("Z")
    assert document["allowed_scopes"][0] == {
        "bucket": "data", "prefixes": ["users/alice/"], "actions": ["get_object"],
    }  # fmt: skip
    assert key.unseal(token) == original
    assert key.resolve(token) == original


def test_token_sealed_by_the_rust_gateway_opens() -> None:
    # chrono writes "+00:00" offsets and nanoseconds; the Rust side seals exactly this JSON.
    document = {
        "access_key_id": "STSPRXYrust", "secret_access_key": "x" * 40, "session_token": "t",
        "expiration": "2999-01-01T00:00:00.123456789+00:00",
        "allowed_scopes": [{"bucket": "b", "prefixes": [], "actions": ["list_bucket"]}],
        "assumed_role_id": "r", "source_identity": "s",
    }  # fmt: skip
    nonce = b"\x01" * 12
    sealed = nonce + AESGCM(bytes(range(32))).encrypt(nonce, json.dumps(document).encode(), None)
    token = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()
    opened = TokenKey.from_base64(KEY).resolve(token)
    assert opened is not None
    assert opened.allowed_scopes == (AccessScope("b", (), frozenset({Action.LIST_BUCKET})),)
    assert opened.expiration.year == 2999


def test_foreign_tampered_and_garbled_tokens_are_not_ours() -> None:
    key = TokenKey.from_base64(KEY)
    other = TokenKey.from_base64(TokenKey.generate())
    token = other.seal(credentials())
    assert key.resolve(token) is None
    mine = key.seal(credentials())
    flipped = mine[:20] + ("A" if mine[20] != "A" else "B") + mine[21:]
    assert key.resolve(flipped) is None
    for garbage in ("", "!!!", "abc", base64.urlsafe_b64encode(b"x" * 28).decode()):
        assert key.resolve(garbage) is None


def test_expired_sealed_credentials_raise_expired_token() -> None:
    key = TokenKey.from_base64(KEY)
    token = key.seal(credentials(expires_in=-1))
    assert key.unseal(token) is not None
    with pytest.raises(ExpiredToken):
        key.resolve(token)


@pytest.mark.parametrize(
    "text",
    ["", "not base64!", base64.b64encode(b"short").decode(), base64.b64encode(b"x" * 33).decode()],
)
def test_session_token_key_must_be_32_bytes_of_base64(text: str) -> None:
    with pytest.raises(TokenKeyError):
        TokenKey.from_base64(text)


# --- trust rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("repo:org/*:ref:refs/heads/*", "repo:org/repo:ref:refs/heads/main", True),
        ("repo:org/*:ref:refs/heads/*", "repo:other/repo:ref:refs/heads/main", False),
        ("repo:org/*:ref:refs/heads/*", "repo:org/repo:pull_request", False),
        ("a*bc*c", "abc", False),
        ("a*bc*c", "abcc", True),
        ("*", "", True),
        ("*", "anything", True),
        ("", "", True),
        ("", "x", False),
        ("a**b", "ab", True),
        ("exact", "exact", True),
        ("exact", "exactly", False),
        ("[ab]?", "[ab]?", True),  # no fnmatch metacharacters besides '*'
        ("[ab]?", "a?", False),
        ("*.x", "a.x.x", True),
    ],
)
def test_subject_globs(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def role(**overrides: Any) -> RoleConfig:
    base: dict[str, Any] = {"role_id": "r", "name": "r", "trusted_oidc_issuers": ("https://i",)}
    base.update(overrides)
    return RoleConfig(**base)


@pytest.mark.parametrize(
    ("requested", "maximum", "expected"),
    [(None, 3600, 3600), (60, 3600, 900), (999999, 3600, 3600), (1800, 7200, 1800),
     (None, 43200, 3600), (None, 600, 600), (3000, 600, 600), (0, 3600, 900)],
)  # fmt: skip
def test_duration_is_clamped(requested: int | None, maximum: int, expected: int) -> None:
    assert session_duration(role(max_session_duration_secs=maximum), requested) == expected


def test_audiences() -> None:
    strict = role(required_audiences=("sts.amazonaws.com", "gw"))
    assert audience_allowed(strict, "gw")
    assert audience_allowed(strict, ["other", "sts.amazonaws.com"])
    assert not audience_allowed(strict, "other")
    assert not audience_allowed(strict, ["other"])
    assert not audience_allowed(strict, None)
    assert not audience_allowed(strict, 7)
    open_role = role()
    assert audience_allowed(open_role, None)
    assert audience_allowed(open_role, ["anything"])


def test_scope_templates_are_filled_from_claims() -> None:
    templated = role(
        allowed_scopes=(
            AccessScope("{sub}", (), frozenset({Action.GET_OBJECT})),
            AccessScope("shared", ("ci/{repository}/", "ids/{repository_id}/"),
                        frozenset({Action.PUT_OBJECT})),
        )
    )  # fmt: skip
    claims = {"sub": "alice", "repository": "org/app", "repository_id": 42}
    scopes = resolve_scopes(templated, claims)
    assert scopes[0].bucket == "alice"
    assert scopes[1].prefixes == ("ci/org/app/", "ids/42/")


@pytest.mark.parametrize(
    ("scope", "claims"),
    [
        (AccessScope("data", ("{email}",)), {"sub": "x"}),  # missing → would be the whole bucket
        (AccessScope("data", ("{email}/",)), {"email": ""}),
        (AccessScope("data", ("{groups}/",)), {"groups": ["a", "b"]}),
        (AccessScope("data", ("{admin}/",)), {"admin": True}),
        (AccessScope("{sub}", ()), {"sub": "*"}),  # would mean every bucket
    ],
)
def test_unfillable_templates_refuse_to_mint(scope: AccessScope, claims: dict[str, Any]) -> None:
    with pytest.raises(ScopeTemplateError):
        resolve_scopes(role(allowed_scopes=(scope,)), claims)


def test_minted_credentials_shape() -> None:
    token = VerifiedToken("https://i", "alice", "aud", {"sub": "alice"})
    templated = role(
        allowed_scopes=(AccessScope("home", ("{sub}/",), frozenset({Action.GET_OBJECT})),)
    )
    minted = mint_credentials(templated, token, duration_seconds=900)
    assert minted.access_key_id.startswith("STSPRXY")
    assert len(minted.access_key_id) == 23
    assert minted.access_key_id.isalnum()
    assert len(minted.secret_access_key) == 40
    assert minted.secret_access_key.isalnum()
    assert minted.allowed_scopes[0].prefixes == ("alice/",)
    assert (minted.assumed_role_id, minted.source_identity) == ("r", "alice")
    remaining = (minted.expiration - datetime.now(UTC)).total_seconds()
    assert 895 <= remaining <= 900
    other = mint_credentials(templated, token, duration_seconds=900)
    assert other.access_key_id != minted.access_key_id


# --- XML, as botocore's STS parser reads it ---------------------------------------------


def parse(operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    model = botocore.session.get_session().get_service_model("sts")
    shape = model.operation_model(operation).output_shape
    response = {"body": body, "headers": {}, "status_code": status}
    parsed: dict[str, Any] = QueryParser().parse(response, shape)
    return parsed


def test_assume_role_document_parses_with_botocore() -> None:
    creds = credentials()
    body = assume_role_with_web_identity_xml(
        credentials=creds, sealed_session_token="sealed<&>", subject="repo:o/r<&>",
        audience="sts.amazonaws.com", provider="https://issuer", request_id="REQ1",
    )  # fmt: skip
    parsed = parse("AssumeRoleWithWebIdentity", body)
    assert parsed["Credentials"]["AccessKeyId"] == creds.access_key_id
    assert parsed["Credentials"]["SessionToken"] == "sealed<&>"
    assert parsed["Credentials"]["Expiration"] == creds.expiration
    assert parsed["SubjectFromWebIdentityToken"] == "repo:o/r<&>"
    assert parsed["AssumedRoleUser"]["AssumedRoleId"] == "ci"
    assert parsed["ResponseMetadata"]["RequestId"] == "REQ1"
    assert b'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"' in body


def test_caller_identity_and_error_documents_parse_with_botocore() -> None:
    body = get_caller_identity_xml(arn="arn:aws:iam::0:user/a", user_id="AK", account="0",
                                   request_id="REQ2")  # fmt: skip
    parsed = parse("GetCallerIdentity", body)
    assert (parsed["Arn"], parsed["UserId"], parsed["Account"]) == (
        "arn:aws:iam::0:user/a",
        "AK",
        "0",
    )
    error = error_xml(InvalidIdentityToken("subject '<x>&y' does not match"), request_id="REQ3")
    parsed_error = parse("AssumeRoleWithWebIdentity", error, status=400)
    assert parsed_error["Error"]["Code"] == "InvalidIdentityToken"
    assert parsed_error["Error"]["Message"] == "subject '<x>&y' does not match"
    assert parsed_error["Error"]["Type"] == "Sender"
    assert parsed_error["ResponseMetadata"]["RequestId"] == "REQ3"
    assert b"&lt;x&gt;&amp;y" in error


def test_the_role_examples_in_the_docs_load() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "oidc-sts.md"
    blocks = re.findall(r"```toml\n(.*?)```", docs.read_text(), re.S)
    assert blocks
    for block in blocks:
        config = parse_config(tomllib.loads(block))
        assert {r.role_id for r in config.roles} == {"github-actions", "analysts"}
