"""Exchange at moto's STS (an AWS-shaped STS), store in moto's S3 with IAM checks switched on.

moto runs as its own process so that switching on its IAM authentication cannot affect the
session's shared moto server. Once switched on, moto checks every S3 request's signature
against the temporary credentials its STS issued — including that the session token is the
one issued with them — and authorizes it with the assumed role's policy: exactly what
AWS does with the gateway's requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from multistore.core.config import Action
from multistore.testing.gateway import running_gateway
from multistore.testing.ports import free_port

from .conftest import PemKey

ACCOUNT = "123456789012"  # moto's default account
ROLE = f"arn:aws:iam::{ACCOUNT}:role/gateway-role"
ISSUER = "https://gateway-a.example.com"  # moto does not fetch JWKS; AWS would
CLIENT = ("AKIACLIENTOFGATEWAYA", "client-secret-of-gateway-a")


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("moto-sts") / "moto.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def aws_client(service: str, endpoint: str, **credentials: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=credentials.get("key", "setup"),
        aws_secret_access_key=credentials.get("secret", "setup"),
    )  # fmt: skip


def enforce_iam(moto_url: str, *, free_requests: int) -> None:
    """From now on moto authenticates and authorizes every request after ``free_requests``."""
    request = urllib.request.Request(
        f"{moto_url}/moto-api/reset-auth",
        data=str(free_requests).encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # a form body would never reach request.data
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_backend_credentials_from_moto_sts_are_accepted_by_moto_s3(
    moto_server: str, old_key: PemKey, tmp_path: Path
) -> None:
    s3_setup = aws_client("s3", moto_server)
    iam = aws_client("iam", moto_server)
    s3_setup.create_bucket(Bucket="federated-store")
    iam.create_role(
        RoleName="gateway-role",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/"
                                                          "gateway-a.example.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
        }]}),
    )  # fmt: skip
    iam.put_role_policy(
        RoleName="gateway-role", PolicyName="store",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
    )  # fmt: skip
    for client in (s3_setup, iam):
        client.close()
    config = {
        "buckets": [{
            "name": "federated", "backend_type": "s3", "anonymous_access": False,
            "backend_options": {
                "endpoint": moto_server, "bucket_name": "federated-store", "region": "us-east-1",
                "auth_type": "oidc", "oidc_role_arn": ROLE, "oidc_subject": "gateway-a",
                "oidc_sts_endpoint": moto_server,
            },
        }],
        "credentials": [{
            "access_key_id": CLIENT[0], "secret_access_key": CLIENT[1], "principal_name": "c",
            "allowed_scopes": [{"bucket": "*", "prefixes": [],
                                "actions": [a.value for a in Action]}],
        }],
    }  # fmt: skip
    env = {"OIDC_PROVIDER_KEY": old_key.pkcs8, "OIDC_PROVIDER_ISSUER": ISSUER}
    with running_gateway(config, tmp_path, env=env) as gateway:
        # The exchange is moto's one unauthenticated request (AssumeRoleWithWebIdentity is
        # unsigned at AWS too; moto would otherwise ask for a signature); everything after
        # it must carry valid credentials.
        enforce_iam(moto_server, free_requests=1)
        s3 = gateway.client(*CLIENT)
        s3.put_object(Bucket="federated", Key="from-a.txt", Body=b"signed with moto's creds")
        assert s3.get_object(Bucket="federated", Key="from-a.txt")["Body"].read() == (
            b"signed with moto's creds"
        )
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="federated")["Contents"]] == [
            "from-a.txt"
        ]
        log = gateway.log()
        assert log.count(f"backend credentials for role {ROLE}") == 1
        assert f"backend credentials for role {ROLE} (subject 'gateway-a', STS " in log
        assert "): ASIA" in log  # the key moto's STS issued

    # The check is real: moto refuses a request without valid credentials.
    intruder = aws_client("s3", moto_server, key="AKIANOBODY0000000000", secret="nope")
    with pytest.raises(ClientError) as caught:
        intruder.get_object(Bucket="federated-store", Key="from-a.txt")
    intruder.close()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
