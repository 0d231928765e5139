"""STS through the Lambda handler: AssumeRoleWithWebIdentity against a real HTTPS OIDC issuer,
then S3 and GetCallerIdentity with the temporary credentials, all through the handler.

The STS extension is found by entry point, as in the server; the handler runs behind
``multistore-lambda-local`` (Function URL events), which trusts the issuer's test CA through
``SSL_CERT_FILE`` as a function trusting a private CA would.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.oidc_issuer import OidcIssuer, running_oidc_issuer
from multistore.testing.tls import TlsFiles

ROLE_ARN = "arn:aws:iam::123456789012:role/user-role"
TOKEN_KEY = base64.b64encode(b"lambda-sts-test-key-of-32-bytes!").decode()


@pytest.fixture(scope="module")
def issuer(tls_files: TlsFiles) -> Iterator[OidcIssuer]:
    with running_oidc_issuer(tls_files) as server:
        yield server


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("lambda-sts")
    found = {name: base / name for name in ("alice", "bob")}
    for path in found.values():
        path.mkdir()
    return found


@pytest.fixture(scope="module")
def runner(
    issuer: OidcIssuer,
    roots: dict[str, Path],
    tls_files: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    config = {
        "buckets": [
            {"name": name, "backend_type": "file", "anonymous_access": False,
             "backend_options": {"root": str(root)}}
            for name, root in roots.items()
        ],
        "roles": [{
            "role_id": "user-role", "name": "user-role", "trusted_oidc_issuers": [issuer.url],
            "required_audiences": ["sts.amazonaws.com"],
            "allowed_scopes": [{"bucket": "{sub}", "prefixes": [],
                                "actions": ["get_object", "put_object", "list_bucket"]}],
        }],
    }  # fmt: skip
    env = {"SESSION_TOKEN_KEY": TOKEN_KEY, "SSL_CERT_FILE": str(tls_files.ca_cert)}
    with running_gateway(
        config, tmp_path_factory.mktemp("lambda-sts-runner"), env=env, runtime="lambda"
    ) as process:
        yield process


def sts_client(url: str, **credentials: Any) -> Any:
    return boto3.client(
        "sts", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=credentials.get("key", "unused"),
        aws_secret_access_key=credentials.get("secret", "unused"),
        aws_session_token=credentials.get("token"),
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )  # fmt: skip


@pytest.mark.parametrize("suffix", ["/.sts", ""])
def test_assume_role_with_web_identity_then_use_the_credentials(
    runner: GatewayProcess, issuer: OidcIssuer, roots: dict[str, Path], suffix: str
) -> None:
    sts = sts_client(runner.url + suffix)
    try:
        answer = sts.assume_role_with_web_identity(
            RoleArn=ROLE_ARN, RoleSessionName="lambda",
            WebIdentityToken=issuer.mint(sub="alice"), DurationSeconds=900,
        )  # fmt: skip
    finally:
        sts.close()
    creds = answer["Credentials"]
    assert creds["AccessKeyId"].startswith("STSPRXY")
    assert answer["SubjectFromWebIdentityToken"] == "alice"
    assert 890 <= (creds["Expiration"] - datetime.now(UTC)).total_seconds() <= 900
    s3 = runner.client(
        creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"]
    )
    key = f"through-lambda{suffix.replace('/', '-') or '-root'}.txt"
    s3.put_object(Bucket="alice", Key=key, Body=b"temporary")
    assert (roots["alice"] / key).read_bytes() == b"temporary"
    assert s3.get_object(Bucket="alice", Key=key)["Body"].read() == b"temporary"
    assert key in [o["Key"] for o in s3.list_objects_v2(Bucket="alice")["Contents"]]
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket="bob", Key=key, Body=b"not mine")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not (roots["bob"] / key).exists()
    # A form POST signed with the temporary credentials (SigV4 service "sts").
    temporary = sts_client(
        runner.url + suffix,
        key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"],
    )  # fmt: skip
    try:
        identity = temporary.get_caller_identity()
    finally:
        temporary.close()
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/user-role/alice"


def test_a_token_from_an_untrusted_issuer_is_refused(
    runner: GatewayProcess, tls_files: TlsFiles
) -> None:
    with running_oidc_issuer(tls_files) as stranger:
        sts = sts_client(runner.url)
        try:
            with pytest.raises(ClientError) as refused:
                sts.assume_role_with_web_identity(
                    RoleArn=ROLE_ARN, RoleSessionName="lambda",
                    WebIdentityToken=stranger.mint(sub="alice"),
                )  # fmt: skip
        finally:
            sts.close()
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "InvalidIdentityToken"
