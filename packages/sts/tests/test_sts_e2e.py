"""STS end to end: a real gateway process, real HTTPS OIDC issuers, real clients.

Tokens are minted by test issuers whose certificates come from a CA the test created; the
gateway subprocess trusts it through ``SSL_CERT_FILE``, exactly as a deployment trusting a
private CA would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from multistore.core.config import AccessScope, Action, TemporaryCredentials
from multistore.sts.token_key import TokenKey
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.oidc_issuer import IssuerKey, OidcIssuer, running_oidc_issuer
from multistore.testing.signing import send
from multistore.testing.tls import TlsFiles

from .conftest import (
    FORM,
    TOKEN_KEY,
    IssuedCredentials,
    StsFailure,
    assume_params,
    failure,
    issued,
    sts_get,
    sts_post,
)

ALL_ACTIONS = [a.value for a in Action]
READ = ["get_object", "list_bucket"]
LONG_LIVED = ("AKIALONGLIVED0000000", "long-lived-secret")
USER_ROLE_ARN = "arn:aws:iam::123456789012:role/user-role"
GITHUB_SUB = "repo:org/app:ref:refs/heads/main"


@pytest.fixture(scope="module")
def other_issuer(tls_files: TlsFiles) -> Iterator[OidcIssuer]:
    """Trusted by no role."""
    with running_oidc_issuer(tls_files) as server:
        yield server


@pytest.fixture(scope="module")
def rotating_issuer(tls_files: TlsFiles) -> Iterator[OidcIssuer]:
    with running_oidc_issuer(tls_files) as server:
        yield server


@pytest.fixture(scope="module")
def failing_issuer(tls_files: TlsFiles) -> Iterator[OidcIssuer]:
    with running_oidc_issuer(tls_files) as server:
        server.jwks_status = 500
        yield server


def role(
    role_id: str, issuers: list[str], scopes: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {"role_id": role_id, "name": role_id, "trusted_oidc_issuers": issuers,
            "allowed_scopes": scopes, **extra}  # fmt: skip


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sts-buckets")
    found = {name: base / name for name in ("alice", "bob", "shared")}
    for path in found.values():
        path.mkdir()
    return found


@pytest.fixture(scope="module")
def gateway(
    issuer: OidcIssuer,
    rotating_issuer: OidcIssuer,
    failing_issuer: OidcIssuer,
    roots: dict[str, Path],
    tls_files: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    audience = {"required_audiences": ["sts.amazonaws.com"]}
    config = {
        "buckets": [
            {"name": name, "backend_type": "file", "anonymous_access": False,
             "backend_options": {"root": str(root)}}
            for name, root in roots.items()
        ],
        "credentials": [{
            "access_key_id": LONG_LIVED[0], "secret_access_key": LONG_LIVED[1],
            "principal_name": "builder",
            "allowed_scopes": [{"bucket": "shared", "prefixes": [], "actions": READ}],
        }],
        "roles": [
            role("user-role", [issuer.url], [
                {"bucket": "{sub}", "prefixes": [], "actions": ALL_ACTIONS},
                {"bucket": "shared", "prefixes": ["users/{sub}/"],
                 "actions": ["get_object", "put_object", "list_bucket"]},
            ], **audience),
            role("gh-role", [issuer.url], [
                {"bucket": "shared", "prefixes": ["ci/{repository}/"],
                 "actions": ["get_object", "put_object", "list_bucket"]},
            ], subject_conditions=["repo:org/*:ref:refs/heads/*"],
               max_session_duration_secs=7200, **audience),
            role("open-role", [issuer.url], [{"bucket": "shared", "prefixes": ["open/"],
                                              "actions": READ}]),
            role("short-role", [issuer.url], [{"bucket": "shared", "prefixes": [],
                                               "actions": READ}], max_session_duration_secs=600),
            role("email-role", [issuer.url], [{"bucket": "shared", "prefixes": ["{email}"],
                                               "actions": READ}]),
            role("http-role", ["http://127.0.0.1:9"], []),
            role("rotating-role", [rotating_issuer.url], [{"bucket": "shared", "prefixes": [],
                                                           "actions": READ}]),
            role("failing-role", [failing_issuer.url], []),
        ],
    }  # fmt: skip
    env = {"SESSION_TOKEN_KEY": TOKEN_KEY, "SSL_CERT_FILE": str(tls_files.ca_cert)}
    with running_gateway(config, tmp_path_factory.mktemp("sts-gateway"), env=env) as process:
        yield process


def sts_url(gateway: GatewayProcess) -> str:
    return f"{gateway.url}/.sts"


def s3_as(gateway: GatewayProcess, creds: IssuedCredentials) -> Any:
    return gateway.client(
        creds.access_key_id, creds.secret_access_key, session_token=creds.session_token
    )


def code_of(exc: ClientError) -> tuple[int, str]:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]


def assert_denied(call: Any, **kwargs: Any) -> None:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert code_of(info.value)[0] == 403


# --- getting credentials, every way a client asks ------------------------------------------


def test_query_get_mints_credentials_scoped_by_templated_bucket_and_prefix(
    gateway: GatewayProcess, issuer: OidcIssuer
) -> None:
    response = sts_get(sts_url(gateway), assume_params("user-role", issuer.mint(sub="alice")))
    creds = issued(response)
    assert creds.access_key_id.startswith("STSPRXY")
    assert len(creds.secret_access_key) == 40
    assert creds.subject == "alice"
    assert response.headers["Content-Type"].startswith("text/xml")
    s3 = s3_as(gateway, creds)
    # {sub} as the bucket: alice's own bucket, nobody else's.
    s3.put_object(Bucket="alice", Key="notes/a.txt", Body=b"mine")
    assert s3.get_object(Bucket="alice", Key="notes/a.txt")["Body"].read() == b"mine"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="alice")["Contents"]] == ["notes/a.txt"]
    s3.delete_object(Bucket="alice", Key="notes/a.txt")
    assert_denied(s3.put_object, Bucket="bob", Key="x.txt", Body=b"no")
    assert_denied(s3.list_objects_v2, Bucket="bob")
    # {sub} inside a prefix of a shared bucket.
    s3.put_object(Bucket="shared", Key="users/alice/file.txt", Body=b"shared")
    listed = s3.list_objects_v2(Bucket="shared", Prefix="users/alice/")
    assert [o["Key"] for o in listed["Contents"]] == ["users/alice/file.txt"]
    assert_denied(s3.put_object, Bucket="shared", Key="users/bob/file.txt", Body=b"no")
    assert_denied(s3.get_object, Bucket="shared", Key="users/bob/file.txt")
    assert_denied(s3.list_objects_v2, Bucket="shared", Prefix="users/")
    assert_denied(s3.delete_object, Bucket="shared", Key="users/alice/file.txt")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert buckets == {"alice", "shared"}
    assert "sts.amazonaws.com" not in gateway.log()  # nothing went to AWS


@pytest.mark.parametrize("path", ["/.sts", "/"])
def test_form_post_mints_credentials(
    gateway: GatewayProcess, issuer: OidcIssuer, roots: dict[str, Path], path: str
) -> None:
    claims = {"repository": "org/app"}
    token = issuer.mint(sub=GITHUB_SUB, claims=claims)
    creds = issued(sts_post(gateway.url + path, assume_params("gh-role", token)))
    s3 = s3_as(gateway, creds)
    s3.put_object(Bucket="shared", Key=f"ci/org/app/{path.strip('/.') or 'root'}.txt", Body=b"x")
    assert (roots["shared"] / "ci/org/app" / f"{path.strip('/.') or 'root'}.txt").exists()
    assert_denied(s3.put_object, Bucket="shared", Key="ci/org/other/x.txt", Body=b"x")


@pytest.mark.parametrize("suffix", ["/.sts", ""])
def test_boto3_sts_client(gateway: GatewayProcess, issuer: OidcIssuer, suffix: str) -> None:
    sts = boto3.client(
        "sts", endpoint_url=gateway.url + suffix, region_name="us-east-1",
        aws_access_key_id="unused", aws_secret_access_key="unused",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )  # fmt: skip
    try:
        answer = sts.assume_role_with_web_identity(
            RoleArn=USER_ROLE_ARN, RoleSessionName="boto3",
            WebIdentityToken=issuer.mint(sub="alice"), DurationSeconds=1800,
        )  # fmt: skip
        creds = answer["Credentials"]
        remaining = (creds["Expiration"] - datetime.now(UTC)).total_seconds()
        assert 1790 <= remaining <= 1800
        assert answer["SubjectFromWebIdentityToken"] == "alice"
        s3 = gateway.client(
            creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"]
        )
        s3.put_object(Bucket="alice", Key=f"boto3{suffix or '-root'}.txt", Body=b"hi")
        # GetCallerIdentity, signed with the temporary credentials (SigV4 service "sts").
        temporary = boto3.client(
            "sts", endpoint_url=gateway.url + suffix, region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )  # fmt: skip
        identity = temporary.get_caller_identity()
        temporary.close()
        assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/user-role/alice"
        assert identity["UserId"] == "user-role:alice"
    finally:
        sts.close()


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment with no AWS settings of the developer's: only what the test gives."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        **extra,
    }


# Nothing gateway-specific in the code: the environment says everything.
ZERO_CODE_CLIENT = """
import boto3

s3 = boto3.client("s3")
s3.put_object(Bucket="alice", Key="zero-code.txt", Body=b"no code")
print(s3.get_object(Bucket="alice", Key="zero-code.txt")["Body"].read().decode())
print(boto3.client("sts").get_caller_identity()["Arn"])
"""


def test_boto3_web_identity_provider_needs_zero_code(
    gateway: GatewayProcess, issuer: OidcIssuer, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(issuer.mint(sub="alice"))
    env = clean_env(
        tmp_path,
        AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
        AWS_ROLE_ARN=USER_ROLE_ARN,
        AWS_ROLE_SESSION_NAME="zero-code",
        AWS_ENDPOINT_URL_STS=gateway.url,
        AWS_ENDPOINT_URL_S3=gateway.url,
    )
    result = subprocess.run([sys.executable, "-c", ZERO_CODE_CLIENT], env=env,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "no code",
        "arn:aws:sts::000000000000:assumed-role/user-role/alice",
    ]


def test_aws_cli_assume_role_with_web_identity(
    gateway: GatewayProcess, issuer: OidcIssuer, tmp_path: Path
) -> None:
    aws = str(Path(sys.executable).with_name("aws"))
    command = [
        aws, "sts", "assume-role-with-web-identity", "--endpoint-url", sts_url(gateway),
        "--role-arn", USER_ROLE_ARN, "--role-session-name", "cli",
        "--web-identity-token", issuer.mint(sub="alice"), "--output", "json",
    ]  # fmt: skip
    result = subprocess.run(command, env=clean_env(tmp_path), capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    creds = json.loads(result.stdout)["Credentials"]
    s3 = gateway.client(
        creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"]
    )
    s3.put_object(Bucket="alice", Key="cli.txt", Body=b"cli")
    assert_denied(s3.get_object, Bucket="bob", Key="cli.txt")


# --- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role_id", "duration", "expected"),
    [("user-role", "60", 900), ("user-role", "999999", 3600), ("user-role", None, 3600),
     ("short-role", None, 600), ("short-role", "900", 600)],
)  # fmt: skip
def test_durations_are_clamped(
    gateway: GatewayProcess, issuer: OidcIssuer, role_id: str, duration: str | None,
    expected: int,
) -> None:  # fmt: skip
    extra = {"DurationSeconds": duration} if duration else {}
    creds = issued(sts_get(sts_url(gateway), assume_params(role_id, issuer.mint(), **extra)))
    remaining = (creds.expiration - datetime.now(UTC)).total_seconds()
    assert expected - 10 <= remaining <= expected


# --- every rejection, with its STS code ----------------------------------------------------------


def rejection(gateway: GatewayProcess, role_id: str | None, token: str | None) -> StsFailure:
    params = assume_params(role_id or "", token)
    if role_id is None:
        del params["RoleArn"]
    answer = failure(sts_get(sts_url(gateway), params))
    assert answer.request_id
    return answer


INVALID = (400, "InvalidIdentityToken")
DENIED = (403, "AccessDenied")


def test_token_rejections(
    gateway: GatewayProcess, issuer: OidcIssuer, other_issuer: OidcIssuer
) -> None:
    gh_claims = {"repository": "org/app"}
    now = int(datetime.now(UTC).timestamp())
    forged = IssuerKey.generate(issuer.signing_key.kid)  # same kid, unpublished key
    # name: (RoleArn, token, (status, code), a fragment of the message proving the reason)
    cases: dict[str, tuple[str | None, str | None, tuple[int, str], str]] = {
        "untrusted issuer": ("user-role", other_issuer.mint(sub="alice"), INVALID,
                             "untrusted issuer"),
        "HS256 with the public key": ("user-role", issuer.mint(algorithm="HS256"), INVALID,
                                      "'HS256'"),
        "alg none": ("user-role", issuer.mint(algorithm="none"), INVALID, "'none'"),
        "bad signature": ("user-role", issuer.mint(key=forged), INVALID, "signature"),
        "not a JWT": ("user-role", "not.a.jwt", INVALID, "well-formed"),
        "wrong audience": ("user-role", issuer.mint(aud="someone-else"), INVALID, "audience"),
        "no audience": ("user-role", issuer.mint(aud=None), INVALID, "audience None"),
        "expired beyond leeway": ("user-role", issuer.mint(expires_in=-120),
                                  (400, "ExpiredTokenException"), "expired"),
        "nbf in the future": ("user-role", issuer.mint(claims={"nbf": now + 300}), INVALID,
                              "not valid yet"),
        "missing exp": ("user-role", issuer.mint(expires_in=None), INVALID, "no exp claim"),
        "missing iss": ("user-role", issuer.mint(omit=["iss"]), INVALID, "no iss claim"),
        # AWS answers AccessDenied when a trust policy's `sub` condition does not hold.
        "subject mismatch": ("gh-role", issuer.mint(sub="repo:evil/app:ref:refs/heads/main",
                                                    claims=gh_claims), DENIED, "repo:evil/app"),
        "pull request subject": ("gh-role", issuer.mint(sub="repo:org/app:pull_request",
                                                        claims=gh_claims), DENIED, "subject"),
        "claim for a template missing": ("email-role", issuer.mint(), INVALID, "'email'"),
        "unknown role": ("no-such-role", issuer.mint(), (400, "MalformedPolicyDocument"),
                         "no-such-role"),
        "unknown role ARN": ("arn:aws:iam::1:role/no-such-role", issuer.mint(),
                             (400, "MalformedPolicyDocument"), "no-such-role"),
        "missing RoleArn": (None, issuer.mint(), (400, "InvalidParameterValue"), "RoleArn"),
        "missing WebIdentityToken": ("user-role", None, (400, "InvalidParameterValue"),
                                     "WebIdentityToken"),
        "http:// issuer": ("http-role", issuer.mint(claims={"iss": "http://127.0.0.1:9"}),
                           (500, "InternalFailure"), "internal error"),
    }  # fmt: skip
    outcomes = {}
    for name, (role_id, token, _, fragment) in cases.items():
        answer = rejection(gateway, role_id, token)
        outcomes[name] = (answer.status, answer.code, fragment in answer.message)
    assert outcomes == {name: (*expected, True) for name, (_, _, expected, _) in cases.items()}
    # The 500 tells the caller nothing; the operator finds the reason in the log.
    assert "issuer 'http://127.0.0.1:9' is not an https:// URL" in gateway.log()


def test_accepted_edge_cases(gateway: GatewayProcess, issuer: OidcIssuer) -> None:
    # aud as a list with one accepted value; exp just past but inside the 60 s leeway; a
    # role without audiences takes a token without aud; the ARN form of RoleArn.
    for role_id, token in [
        ("user-role", issuer.mint(aud=["other", "sts.amazonaws.com"])),
        ("user-role", issuer.mint(expires_in=-20)),
        ("open-role", issuer.mint(aud=None)),
        ("open-role", issuer.mint(aud="anything")),
        (USER_ROLE_ARN, issuer.mint(sub="alice")),
    ]:
        issued(sts_get(sts_url(gateway), assume_params(role_id, token)))


def test_unknown_kid_is_refetched_once(gateway: GatewayProcess, issuer: OidcIssuer) -> None:
    issued(sts_get(sts_url(gateway), assume_params("open-role", issuer.mint())))
    before = issuer.jwks_requests
    answer = failure(sts_get(sts_url(gateway), assume_params("open-role", issuer.mint(kid="nope"))))
    assert (answer.status, answer.code) == INVALID
    assert "'nope' not found" in answer.message
    assert issuer.jwks_requests == before + 1
    # Within the cooldown, made-up kids cause no more fetches.
    failure(sts_get(sts_url(gateway), assume_params("open-role", issuer.mint(kid="nope2"))))
    assert issuer.jwks_requests == before + 1


def test_issuer_key_rotation(gateway: GatewayProcess, rotating_issuer: OidcIssuer) -> None:
    old_token = rotating_issuer.mint()
    issued(sts_get(sts_url(gateway), assume_params("rotating-role", old_token)))
    assert rotating_issuer.jwks_requests == 1
    rotating_issuer.rotate()
    creds = issued(
        sts_get(sts_url(gateway), assume_params("rotating-role", rotating_issuer.mint()))
    )
    assert rotating_issuer.jwks_requests == 2
    s3 = s3_as(gateway, creds)
    s3.list_objects_v2(Bucket="shared")
    # The retired key is gone from the issuer's JWKS, so its tokens no longer verify.
    answer = failure(sts_get(sts_url(gateway), assume_params("rotating-role", old_token)))
    assert (answer.status, answer.code) == INVALID


def test_unreachable_key_set_is_an_idp_error_and_backed_off(
    gateway: GatewayProcess, failing_issuer: OidcIssuer
) -> None:
    token = failing_issuer.mint()
    first = failure(sts_get(sts_url(gateway), assume_params("failing-role", token)))
    assert (first.status, first.code) == (400, "IDPCommunicationError")
    failing_issuer.jwks_status = 200  # recovered, but the gateway waits out its back-off
    second = failure(sts_get(sts_url(gateway), assume_params("failing-role", token)))
    assert (second.status, second.code) == (400, "IDPCommunicationError")
    assert "recently failed" in second.message
    assert failing_issuer.jwks_requests == 1


def test_parameters_come_from_query_or_body_never_merged(
    gateway: GatewayProcess, issuer: OidcIssuer
) -> None:
    query = assume_params("user-role", None)
    body = assume_params("user-role", issuer.mint(sub="alice"))
    response = send("POST", f"{sts_url(gateway)}?{urlencode(query)}", headers=FORM,
                    body=urlencode(body).encode())  # fmt: skip
    answer = failure(response)
    assert (answer.status, answer.code, answer.message) == (
        400, "InvalidParameterValue", "missing WebIdentityToken",
    )  # fmt: skip


@pytest.mark.parametrize("path", ["/.sts", "/"])
def test_oversized_form_body_is_refused(
    gateway: GatewayProcess, issuer: OidcIssuer, path: str
) -> None:
    params = assume_params("user-role", issuer.mint(sub="alice"), Padding="x" * (70 << 10))
    answer = failure(sts_post(gateway.url + path, params))
    assert (answer.status, answer.code) == (400, "InvalidParameterValue")
    assert "64 KiB" in answer.message


def test_large_mislabeled_s3_post_to_root_is_left_to_s3(gateway: GatewayProcess) -> None:
    # A virtual-hosted S3 POST (here ?delete) labelled as a form is not STS's to refuse.
    response = send("POST", f"{gateway.url}/?delete", headers=FORM, body=b"k" * (70 << 10))
    assert b"<ErrorResponse" not in response.body


def test_unknown_action(gateway: GatewayProcess) -> None:
    answer = failure(sts_get(sts_url(gateway), {"Action": "AssumeRole", "RoleArn": "x"}))
    assert (answer.status, answer.code) == (400, "InvalidAction")


def test_error_messages_are_xml_escaped(gateway: GatewayProcess, issuer: OidcIssuer) -> None:
    token = issuer.mint(sub="<evil>&'\"", claims={"repository": "org/app"})
    response = sts_get(sts_url(gateway), assume_params("gh-role", token))
    assert b"&lt;evil&gt;&amp;" in response.body
    answer = failure(response)  # parses as XML
    assert "<evil>&" in answer.message


# --- the session tokens, as the S3 side sees them ----------------------------------------------


def test_session_token_rejections(gateway: GatewayProcess, issuer: OidcIssuer) -> None:
    creds = issued(sts_get(sts_url(gateway), assume_params("user-role", issuer.mint(sub="alice"))))
    scopes = (AccessScope("*", (), frozenset(Action)),)

    def sealed(key: TokenKey, *, expires_in: int) -> str:
        return key.seal(TemporaryCredentials(
            access_key_id=creds.access_key_id, secret_access_key=creds.secret_access_key,
            session_token="inner", expiration=datetime.now(UTC) + timedelta(seconds=expires_in),
            allowed_scopes=scopes, assumed_role_id="user-role", source_identity="alice",
        ))  # fmt: skip

    foreign_key = TokenKey.from_base64(TokenKey.generate())
    flip = "A" if creds.session_token[30] != "A" else "B"
    tampered = creds.session_token[:30] + flip + creds.session_token[31:]
    cases = {
        "sealed with another key": (sealed(foreign_key, expires_in=600), creds.access_key_id,
                                    "AccessDenied"),
        "tampered": (tampered, creds.access_key_id, "AccessDenied"),
        "expired": (sealed(TokenKey.from_base64(TOKEN_KEY), expires_in=-5), creds.access_key_id,
                    "ExpiredToken"),
        "another access key": (creds.session_token, "STSPRXYnotthekey0000", "AccessDenied"),
    }  # fmt: skip
    outcomes = {}
    for name, (token, access_key, _) in cases.items():
        s3 = gateway.client(access_key, creds.secret_access_key, session_token=token)
        with pytest.raises(ClientError) as info:
            s3.list_objects_v2(Bucket="alice")
        outcomes[name] = code_of(info.value)
    assert outcomes == {name: (403, code) for name, (_, _, code) in cases.items()}
    # The genuine token still works.
    s3_as(gateway, creds).list_objects_v2(Bucket="alice")


# --- GetCallerIdentity and the root route -------------------------------------------------------


def test_get_caller_identity_for_long_lived_keys(gateway: GatewayProcess) -> None:
    def sts(secret: str) -> Any:
        return boto3.client(
            "sts", endpoint_url=gateway.url, region_name="us-east-1",
            aws_access_key_id=LONG_LIVED[0], aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )  # fmt: skip

    good, bad = sts(LONG_LIVED[1]), sts("wrong-secret")
    unknown = boto3.client(
        "sts", endpoint_url=gateway.url, region_name="us-east-1",
        aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x",
    )  # fmt: skip
    try:
        identity = good.get_caller_identity()
        assert identity["Arn"] == "arn:aws:iam::000000000000:user/builder"
        assert identity["UserId"] == LONG_LIVED[0]
        assert identity["Account"] == "000000000000"
        with pytest.raises(ClientError) as info:
            bad.get_caller_identity()
        assert code_of(info.value) == (403, "SignatureDoesNotMatch")
        with pytest.raises(ClientError) as info:
            unknown.get_caller_identity()
        assert code_of(info.value) == (403, "InvalidClientTokenId")
    finally:
        good.close()
        bad.close()
        unknown.close()
    anonymous = failure(sts_post(gateway.url, {"Action": "GetCallerIdentity"}))
    assert (anonymous.status, anonymous.code) == (403, "MissingAuthenticationToken")


def test_root_route_leaves_s3_alone(gateway: GatewayProcess) -> None:
    s3 = gateway.client(*LONG_LIVED)
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"shared"}
    # A form POST to / without an STS Action is not STS's: S3 answers (with S3's document).
    response = send("POST", gateway.url + "/", headers=FORM, body=b"foo=bar")
    assert b"<ErrorResponse" not in response.body
    assert b"<Error>" in response.body
    # GET /.sts without parameters is not an STS call either.
    assert b"<ErrorResponse" not in send("GET", sts_url(gateway)).body
    assert "router extensions installed: " in gateway.log()
    assert "sts" in gateway.log().split("router extensions installed: ", 1)[1].split(";", 1)[0]
