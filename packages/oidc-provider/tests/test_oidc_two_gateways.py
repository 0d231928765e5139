"""Two real gateways: A is an OIDC issuer reaching its backend, B, with no stored secret.

Gateway A (HTTPS, certificate from the test's throwaway CA) has the OIDC provider and
buckets with ``auth_type = "oidc"`` whose s3 backend is gateway B. Gateway B runs
``multistore-sts`` with roles trusting A's issuer, and keeps the data in a file root. A
client talks to A only; A mints a token, B's STS fetches A's JWKS over https, verifies
the token and seals temporary credentials, and A signs its requests to B with them. B
logs the identity it saw for every request, which is how the tests know what A sent.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from multistore.core.config import Action
from multistore.oidc_provider.issuer import issuer_from_settings
from multistore.testing.gateway import GatewayProcess, running_gateway
from multistore.testing.ports import free_port
from multistore.testing.signing import RawResponse, send
from multistore.testing.tls import TlsFiles

from .conftest import PemKey

TOKEN_KEY = "bXVsdGlzdG9yZS1vaWRjLXRlc3Qta2V5LTMyLWJ5dGU="  # base64 of 32 bytes
CLIENT = ("AKIACLIENTOFGATEWAYA", "client-secret-of-gateway-a")
SUBJECT = "gateway-a"
ALL_ACTIONS = [action.value for action in Action]
SHORT_SESSION = 14  # seconds: B's role maximum for the refresh test
REFRESH_MARGIN = 10  # A's margin; capped at half the lifetime, so renewal after 7 s


def role(role_id: str, issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "role_id": role_id,
        "name": role_id,
        "trusted_oidc_issuers": [issuer],
        "required_audiences": ["sts.amazonaws.com"],
        "subject_conditions": [SUBJECT],
        "allowed_scopes": [{"bucket": "store", "prefixes": [], "actions": ALL_ACTIONS}],
        **extra,
    }


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway-b-store")


@pytest.fixture(scope="module")
def a_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def a_issuer(a_port: int) -> str:
    return f"https://127.0.0.1:{a_port}"


@pytest.fixture(scope="module")
def rotating_port() -> int:
    """The port of the A that the rotation test restarts with a new key set."""
    return free_port()


@pytest.fixture(scope="module")
def gateway_b(
    a_issuer: str,
    rotating_port: int,
    store_root: Path,
    tls_files: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    rotating_issuer = f"https://127.0.0.1:{rotating_port}"
    config = {
        "buckets": [{"name": "store", "backend_type": "file", "anonymous_access": False,
                     "backend_options": {"root": str(store_root)}}],
        "roles": [
            role("gateway-a", a_issuer),
            role("rotating", rotating_issuer),
            role("short-session", a_issuer, max_session_duration_secs=SHORT_SESSION),
            # Trusts A's issuer, but not A's subject.
            role("strict", a_issuer, subject_conditions=["someone-else"]),
        ],
    }  # fmt: skip
    env = {"SESSION_TOKEN_KEY": TOKEN_KEY, "SSL_CERT_FILE": str(tls_files.ca_cert)}
    with running_gateway(config, tmp_path_factory.mktemp("gateway-b"), env=env) as gateway:
        yield gateway


def oidc_bucket(
    name: str, gateway_b: GatewayProcess, role_id: str, **options: str
) -> dict[str, Any]:
    backend_options = {
        "endpoint": gateway_b.url,
        "bucket_name": "store",
        "region": "us-east-1",
        "auth_type": "oidc",
        "oidc_role_arn": f"arn:aws:iam::000000000000:role/{role_id}",
        "oidc_subject": SUBJECT,
        "oidc_sts_endpoint": f"{gateway_b.url}/.sts",
        **options,
    }
    return {"name": name, "backend_type": "s3", "anonymous_access": False,
            "backend_prefix": f"{name}/", "backend_options": backend_options}  # fmt: skip


def gateway_a_config(gateway_b: GatewayProcess) -> dict[str, Any]:
    dead_port = free_port()  # nothing listens there
    return {
        "buckets": [
            oidc_bucket("federated", gateway_b, "gateway-a"),
            oidc_bucket("short", gateway_b, "short-session"),
            oidc_bucket("refused", gateway_b, "strict"),
            oidc_bucket("no-role", gateway_b, "no-such-role"),
            oidc_bucket("sts-down", gateway_b, "gateway-a",
                        oidc_sts_endpoint=f"http://127.0.0.1:{dead_port}/.sts"),
        ],
        "credentials": [{
            "access_key_id": CLIENT[0], "secret_access_key": CLIENT[1], "principal_name": "client",
            "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}],
        }],
    }  # fmt: skip


def gateway_a_env(*keys: str, issuer: str) -> dict[str, str]:
    return {
        "OIDC_PROVIDER_KEY": "\n".join(keys),
        "OIDC_PROVIDER_ISSUER": issuer,
        "OIDC_PROVIDER_REFRESH_MARGIN_SECS": str(REFRESH_MARGIN),
    }


@pytest.fixture(scope="module")
def gateway_a(
    gateway_b: GatewayProcess,
    a_port: int,
    a_issuer: str,
    old_key: PemKey,
    tls_files: TlsFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    with running_gateway(
        gateway_a_config(gateway_b), tmp_path_factory.mktemp("gateway-a"), tls=tls_files,
        env=gateway_a_env(old_key.pkcs1, issuer=a_issuer), port=a_port,
    ) as gateway:  # fmt: skip
        yield gateway


def client_of(gateway: GatewayProcess) -> Any:
    return gateway.client(*CLIENT)


def exchanges_logged_by_a(gateway: GatewayProcess, role_id: str) -> list[float]:
    """The duration (ms) of each successful exchange A made for ``role_id``."""
    pattern = rf"backend credentials for role \S+/{role_id} .*; exchange took ([\d.]+) ms"
    return [float(ms) for ms in re.findall(pattern, gateway.log())]


def issued_by_b(gateway: GatewayProcess, role_id: str) -> int:
    return len(re.findall(rf"issued STSPRXY\w+ for role {role_id} to subject", gateway.log()))


def b_identities(gateway: GatewayProcess, bucket: str = "store") -> list[str]:
    return re.findall(rf"identity=(\S+) op=\S+ bucket={bucket} ", gateway.log())


def header(response: RawResponse, name: str) -> str:
    return {k.lower(): v for k, v in response.headers.items()}[name.lower()]


def error_of(call: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"].get("Message", ""),
    )


# --- the happy path ----------------------------------------------------------------------


def test_a_client_reads_and_writes_through_a_with_a_s_federated_identity_at_b(
    gateway_a: GatewayProcess, gateway_b: GatewayProcess, store_root: Path
) -> None:
    s3 = client_of(gateway_a)
    s3.put_object(Bucket="federated", Key="reports/q1.csv", Body=b"a,b\n1,2\n")
    assert s3.get_object(Bucket="federated", Key="reports/q1.csv")["Body"].read() == b"a,b\n1,2\n"
    listed = s3.list_objects_v2(Bucket="federated", Prefix="reports/")
    assert [o["Key"] for o in listed["Contents"]] == ["reports/q1.csv"]
    assert s3.head_object(Bucket="federated", Key="reports/q1.csv")["ContentLength"] == 8
    # Multipart (control requests with signed XML bodies, streamed parts).
    part = b"x" * (5 << 20)
    upload = s3.create_multipart_upload(Bucket="federated", Key="big.bin")["UploadId"]
    etags = [s3.upload_part(Bucket="federated", Key="big.bin", UploadId=upload, PartNumber=n,
                            Body=part)["ETag"] for n in (1, 2)]  # fmt: skip
    s3.complete_multipart_upload(
        Bucket="federated", Key="big.bin", UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, 1)]},
    )  # fmt: skip
    s3.delete_object(Bucket="federated", Key="reports/q1.csv")

    # The bytes are in B's store, under A's backend prefix.
    assert (store_root / "federated" / "big.bin").read_bytes() == part * 2
    assert not (store_root / "federated" / "reports" / "q1.csv").exists()
    # B saw every one of A's requests as A's federated subject, authenticated by the sealed
    # session token B minted; A's client never appears at B.
    identities = b_identities(gateway_b)
    assert len(identities) >= 9
    assert set(identities) == {SUBJECT}
    # One exchange served all of it.
    assert len(exchanges_logged_by_a(gateway_a, "gateway-a")) == 1
    assert issued_by_b(gateway_b, "gateway-a") == 1


def test_discovery_documents_and_jwks(gateway_a: GatewayProcess, old_key: PemKey) -> None:
    discovery = send("GET", f"{gateway_a.url}/.well-known/openid-configuration",
                     ca_cert=str(gateway_a.ca_cert))  # fmt: skip
    assert discovery.status == 200
    assert header(discovery, "Content-Type") == "application/json"
    assert header(discovery, "Cache-Control") == "public, max-age=3600"
    document = json.loads(discovery.body)
    assert document["issuer"] == gateway_a.url
    assert document["jwks_uri"] == f"{gateway_a.url}/.well-known/jwks.json"
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]

    jwks = send("GET", document["jwks_uri"], ca_cert=str(gateway_a.ca_cert))
    assert jwks.status == 200
    assert header(jwks, "Content-Type") == "application/json"
    assert header(jwks, "Cache-Control") == "public, max-age=300"
    (key,) = json.loads(jwks.body)["keys"]
    assert (key["kid"], key["kty"], key["alg"], key["use"]) == (old_key.kid, "RSA", "RS256", "sig")
    # Revalidation is cheap: the ETag answers 304 without a body.
    again = send("GET", document["jwks_uri"], ca_cert=str(gateway_a.ca_cert),
                 headers={"If-None-Match": header(jwks, "ETag")})  # fmt: skip
    assert (again.status, again.body) == (304, b"")
    # Not ours: other methods reach the S3 pipeline (which refuses them as S3 requests).
    post = send("POST", document["jwks_uri"], ca_cert=str(gateway_a.ca_cert))
    assert post.status != 200


# --- failures ------------------------------------------------------------------------------


def test_a_role_refusing_a_s_subject_is_403_at_a(
    gateway_a: GatewayProcess, gateway_b: GatewayProcess
) -> None:
    status, code, _ = error_of(lambda: client_of(gateway_a).get_object(Bucket="refused", Key="x"))
    assert (status, code) == (403, "AccessDenied")
    # The operator finds STS's reason in A's log; B logged its refusal.
    assert "AssumeRoleWithWebIdentity for role arn:aws:iam::000000000000:role/strict" in (
        gateway_a.log()
    )
    assert "does not match any of the role's conditions" in gateway_a.log()
    assert "STS AccessDenied" in gateway_b.log()


def test_other_sts_errors_are_502_naming_only_the_code(gateway_a: GatewayProcess) -> None:
    status, code, message = error_of(
        lambda: client_of(gateway_a).get_object(Bucket="no-role", Key="x")
    )
    assert (status, code) == (502, "BackendAuthenticationFailed")
    assert message.endswith("backend (STS error: MalformedPolicyDocument).")
    assert "no-such-role" not in message
    assert "127.0.0.1" not in message
    assert (
        "MalformedPolicyDocument: role not found: arn:aws:iam::000000000000:role/no-such-role"
        in (gateway_a.log())
    )


def test_sts_unreachable_is_503(gateway_a: GatewayProcess) -> None:
    status, code, message = error_of(
        lambda: client_of(gateway_a).put_object(Bucket="sts-down", Key="x", Body=b"1")
    )
    assert (status, code) == (503, "ServiceUnavailable")
    assert "127.0.0.1" not in message
    assert re.search(r"AssumeRoleWithWebIdentity for role \S+ .* failed after [\d.]+ ms: STS "
                     r"http://127\.0\.0\.1:\d+/\.sts unreachable", gateway_a.log())  # fmt: skip


# --- refresh ahead of expiry under load ------------------------------------------------------


def test_credentials_are_renewed_ahead_of_expiry_once_while_requests_keep_flowing(
    gateway_a: GatewayProcess, gateway_b: GatewayProcess
) -> None:
    s3 = client_of(gateway_a)
    started = time.monotonic()
    s3.put_object(Bucket="short", Key="hot.txt", Body=b"hot")  # waits for the cold exchange
    first_exchange = time.monotonic()
    cold = first_exchange - started
    started = time.monotonic()
    s3.put_object(Bucket="short", Key="hot.txt", Body=b"hot")
    warm = time.monotonic() - started
    assert len(exchanges_logged_by_a(gateway_a, "short-session")) == 1

    stop = threading.Event()
    latencies: list[tuple[float, float]] = []  # (start, seconds)
    failures: list[BaseException] = []

    def hammer() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                body = s3.get_object(Bucket="short", Key="hot.txt")["Body"].read()
                assert body == b"hot"
            except BaseException as exc:
                failures.append(exc)
                return
            latencies.append((started, time.monotonic() - started))

    with ThreadPoolExecutor(max_workers=6) as pool:
        workers = [pool.submit(hammer) for _ in range(6)]
        # Renewal is due 7 s after the first exchange (margin capped at half of 14 s); stop
        # well before the renewed credentials would themselves be due.
        time.sleep(max(0.0, first_exchange + 9.5 - time.monotonic()))
        stop.set()
        for worker in workers:
            worker.result()
    assert failures == []

    exchanges = exchanges_logged_by_a(gateway_a, "short-session")
    # Exactly one renewal, and B issued exactly what A asked for.
    assert len(exchanges) == 2
    assert issued_by_b(gateway_b, "short-session") == 2
    # Nobody waited for the renewal: it ran in the background while requests kept using the
    # still-valid credentials, so no request took anywhere near as long as a slow exchange.
    durations = [seconds for _, seconds in latencies]
    assert len(durations) > 20  # six clients for 9 s, even on a loaded machine
    median = statistics.median(durations)
    renewal_at = first_exchange + 7
    after = sorted((start, s) for start, s in latencies if start >= renewal_at)
    first_after = after[0][1] if after else float("nan")
    print(
        f"\nrefresh under load: {len(durations)} GETs, exchanges={len(exchanges)}, "
        f"exchange ms={exchanges}, median GET {median * 1000:.1f} ms, "
        f"first GET after the refresh point {first_after * 1000:.1f} ms, "
        f"p99 {sorted(durations)[int(len(durations) * 0.99)] * 1000:.1f} ms; "
        f"cold PUT (with the first exchange) {cold * 1000:.1f} ms, warm PUT {warm * 1000:.1f} ms"
    )
    # Every request after the renewal was signed with the new credentials and accepted by B.
    assert set(b_identities(gateway_b)) == {SUBJECT}


# --- key rotation ------------------------------------------------------------------------------


def test_a_rotated_key_signs_while_tokens_of_the_old_key_still_verify(
    gateway_b: GatewayProcess,
    rotating_port: int,
    old_key: PemKey,
    new_key: PemKey,
    tls_files: TlsFiles,
    tmp_path: Path,
) -> None:
    issuer = f"https://127.0.0.1:{rotating_port}"
    config = {"buckets": [oidc_bucket("federated", gateway_b, "rotating")],
              "credentials": gateway_a_config(gateway_b)["credentials"]}  # fmt: skip

    def start(*keys: str, name: str) -> Any:
        env = gateway_a_env(*keys, issuer=issuer)
        return running_gateway(config, tmp_path / name, tls=tls_files, env=env, port=rotating_port)

    # Before: A signs with the old key; B fetches and caches A's key set.
    with start(old_key.pkcs1, name="before") as before:
        client_of(before).put_object(Bucket="federated", Key="before.txt", Body=b"old key")
        # A token A signed then, still valid (what an exchange in flight carries).
        old_issuer = issuer_from_settings({"OIDC_PROVIDER_KEY": old_key.pkcs8,
                                           "OIDC_PROVIDER_ISSUER": issuer})  # fmt: skip
        assert old_issuer is not None
        old_token = old_issuer.mint(subject=SUBJECT, audience="sts.amazonaws.com")

    # Rotation: the new key is appended, so it signs; the old one stays published.
    with start(old_key.pkcs1, new_key.pkcs8, name="after") as after:
        jwks = json.loads(send("GET", f"{after.url}/.well-known/jwks.json",
                               ca_cert=str(after.ca_cert)).body)  # fmt: skip
        assert [k["kid"] for k in jwks["keys"]] == [old_key.kid, new_key.kid]
        assert f"signing with {new_key.kid}" in after.log()
        # B holds the old key set in its cache; the new kid makes it refetch, once.
        s3 = client_of(after)
        s3.put_object(Bucket="federated", Key="after.txt", Body=b"new key")
        assert s3.get_object(Bucket="federated", Key="before.txt")["Body"].read() == b"old key"
        assert f"kid '{new_key.kid}' unknown for {issuer}: refetching its JWKS" in gateway_b.log()
        # The token signed by the old key still verifies while the key is published.
        query = urlencode({"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                           "RoleArn": "rotating", "WebIdentityToken": old_token})  # fmt: skip
        answer = send("GET", f"{gateway_b.url}/.sts?{query}")
        assert answer.status == 200, answer.body
        assert b"<AccessKeyId>STSPRXY" in answer.body
