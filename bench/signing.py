"""Sign one request with botocore so wrk can replay its headers verbatim.

The signature stays valid for the gateway's 15-minute clock-skew window, so every replayed
request is verified in full (parse, canonical request, HMAC chain, compare).
"""

from __future__ import annotations

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY_ID = "AKIDBENCHMARK0000001"
SECRET_ACCESS_KEY = "bench/secret/key/0123456789abcdefghijklmn"
REGION = "us-east-1"


class _UnsignedPayloadAuth(S3SigV4Auth):  # type: ignore[misc]  # botocore is untyped
    """Sign uploads with ``UNSIGNED-PAYLOAD``, as SDKs do over HTTPS.

    botocore signs the body's SHA-256 over plain HTTP; replaying that would make the gateway
    hash 64 MiB per request, which no SDK asks of a TLS endpoint.
    """

    def _should_sha256_sign_payload(self, request: AWSRequest) -> bool:
        return False


def signed_headers(
    method: str,
    url: str,
    *,
    unsigned_payload: bool = False,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers botocore would send for ``method url`` (Host included), body excluded."""
    request = AWSRequest(method=method, url=url, headers=dict(extra_headers or {}))
    auth_class = _UnsignedPayloadAuth if unsigned_payload else S3SigV4Auth
    auth_class(Credentials(ACCESS_KEY_ID, SECRET_ACCESS_KEY), "s3", REGION).add_auth(request)
    headers = {name: str(value) for name, value in request.headers.items()}
    headers.setdefault("Host", url.split("/", 3)[2])
    return headers


def credential_config() -> dict[str, object]:
    """The gateway config entry for the benchmark's key."""
    return {
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "principal_name": "bench",
        "enabled": True,
        "allowed_scopes": [
            {
                "bucket": "*",
                "prefixes": [],
                "actions": [
                    "get_object",
                    "head_object",
                    "put_object",
                    "list_bucket",
                    "create_multipart_upload",
                    "upload_part",
                    "complete_multipart_upload",
                    "abort_multipart_upload",
                ],
            }
        ],
    }
