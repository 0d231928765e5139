"""The GCS backend's own parts against the real emulator and a real token endpoint.

The end-to-end behaviour (every S3 operation through a gateway process) is proven by the
server suite, which runs over the ``gcs`` kind; these tests pin what it cannot reach:
the token cache, staged composes beyond 32 sources, option checking and opaque tokens.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDict

from multistore.core.backends.base import (
    BackendServices,
    ListRequest,
    ListUploadsRequest,
    ObjectRequest,
)
from multistore.core.config import BucketConfig
from multistore.core.errors import BadGateway, InvalidArgument, NoSuchKey
from multistore.core.http import BytesBody
from multistore.gcs import GcsBackend
from multistore.gcs.multipart import COMPOSE_LIMIT
from multistore.gcs.options import GcsOptions, load_service_account_key
from multistore.gcs.tokens import AccessTokens
from multistore.http_client import HttpClient
from multistore.testing.gcs_emulator import GcsEmulator
from multistore.testing.gcs_token_endpoint import TokenEndpoint


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http = HttpClient()
    yield http
    await http.close()


def bucket_config(emulator: GcsEmulator, bucket: str, **options: str) -> BucketConfig:
    return BucketConfig(
        name="virtual",
        backend_type="gcs",
        backend_options={"bucket_name": bucket, "endpoint": emulator.endpoint, **options},
    )


async def test_one_token_serves_a_burst_of_requests(
    gcs_token_endpoint: TokenEndpoint, client: HttpClient
) -> None:
    key = load_service_account_key(str(gcs_token_endpoint.key_file), bucket="b")
    tokens = AccessTokens(key, client, "multistore-test")
    before = len(gcs_token_endpoint.issued)
    answers = await asyncio.gather(*(tokens.authorization() for _ in range(20)))
    assert len(gcs_token_endpoint.issued) == before + 1
    assert set(answers) == {f"Bearer {gcs_token_endpoint.issued[-1]}"}
    assert await tokens.authorization() == answers[0]  # cached, no second exchange
    assert len(gcs_token_endpoint.issued) == before + 1
    # A token GCS refused (401) is dropped: the next request gets a fresh one.
    tokens.forget(answers[0])
    assert await tokens.authorization() == f"Bearer {gcs_token_endpoint.issued[-1]}"
    assert len(gcs_token_endpoint.issued) == before + 2


async def test_a_key_the_endpoint_does_not_trust_is_refused(
    gcs_token_endpoint: TokenEndpoint, client: HttpClient, tmp_path: Path
) -> None:
    genuine = json.loads(gcs_token_endpoint.key_file.read_text())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    genuine["private_key"] = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key = load_service_account_key(json.dumps(genuine), bucket="b")  # inline JSON form
    tokens = AccessTokens(key, client, "multistore-test")
    refused = gcs_token_endpoint.refused
    with pytest.raises(BadGateway) as error:
        await tokens.authorization()
    assert gcs_token_endpoint.refused == refused + 1
    assert gcs_token_endpoint.token_uri not in error.value.public_message


async def test_compose_in_stages_joins_more_than_32_sources(
    gcs_emulator: GcsEmulator, client: HttpClient
) -> None:
    gcs_emulator.create_bucket("compose-stages")
    backend = GcsBackend(
        bucket_config(gcs_emulator, "compose-stages", skip_signature="true"),
        BackendServices(transport=client),
    )
    upload_id = secrets.token_hex(16)
    count = 2 * COMPOSE_LIMIT + 6  # three composes at the first level, one at the second
    pieces = [b"piece %03d;" % n for n in range(count)]
    names = []
    for number, piece in enumerate(pieces, 1):
        name = backend._multipart.part_name(upload_id, number)
        await backend.upload(name, {}, BytesBody(piece), len(piece))
        names.append(name)
    sources = await backend._multipart._compose_down(upload_id, names)
    assert len(sources) == 3
    staged = gcs_emulator.keys("compose-stages", prefix=f".multistore-uploads/{upload_id}/")
    assert {name.rsplit("/", 1)[1] for name in staged} >= {"compose-1-00000", "compose-1-00002"}
    joined = b"".join(gcs_emulator.get("compose-stages", name) for name in sources)
    assert joined == b"".join(pieces)
    await backend._multipart._discard(upload_id)
    assert gcs_emulator.keys("compose-stages", prefix=".multistore-uploads/") == set()


async def test_staging_objects_never_show_in_listings(
    gcs_emulator: GcsEmulator, client: HttpClient
) -> None:
    gcs_emulator.create_bucket("hidden-staging")
    backend = GcsBackend(
        bucket_config(gcs_emulator, "hidden-staging", skip_signature="true"),
        BackendServices(transport=client),
    )
    request = ObjectRequest(key="visible.bin", headers=CIMultiDict())
    upload_id = await backend.create_multipart_upload(request)
    await backend.upload_part(request, upload_id, 1, BytesBody(b"abc"), 3)
    page = await backend.list_objects(ListRequest(delimiter="/"))
    assert (page.entries, page.common_prefixes) == ([], [])
    uploads = await backend.list_multipart_uploads(ListUploadsRequest())
    assert [(u.key, u.upload_id) for u in uploads.uploads] == [("visible.bin", upload_id)]
    await backend.abort_multipart_upload(request, upload_id)


async def test_a_forged_continuation_token_is_invalid_argument(
    gcs_emulator: GcsEmulator, client: HttpClient
) -> None:
    gcs_emulator.create_bucket("tokens")
    backend = GcsBackend(
        bucket_config(gcs_emulator, "tokens", skip_signature="true"),
        BackendServices(transport=client),
    )
    with pytest.raises(InvalidArgument):
        await backend.list_objects(ListRequest(continuation_token="not-a-token"))


NOT_A_KEY = {"client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "bucket_name is required"),
        ({"bucket_name": "b"}, "needs service_account_key"),
        ({"bucket_name": "b", "endpoint": "ftp://x"}, "http(s) URL"),
        ({"bucket_name": "b", "auth_type": "oidc"}, "takes no auth_type"),
        ({"bucket_name": "b", "service_account_key": "/nonexistent/key.json"}, "cannot read"),
        ({"bucket_name": "b", "service_account_key": "{}"}, "lacks client_email, private_key"),
        (
            {
                "bucket_name": "b",
                "service_account_key": '{"client_email": "a", "private_key": "x"}',
            },
            "not an RSA key",
        ),
    ],
)
def test_unusable_options_are_startup_errors(options: dict[str, str], message: str) -> None:
    config = BucketConfig(name="bad", backend_type="gcs", backend_options=options)
    with pytest.raises(ValueError, match="bucket 'bad'") as error:
        GcsOptions.from_config(config)
    assert message in str(error.value)


async def test_the_staging_prefix_is_out_of_clients_reach(
    gcs_emulator: GcsEmulator, client: HttpClient
) -> None:
    gcs_emulator.create_bucket("reserved")
    backend = GcsBackend(
        bucket_config(gcs_emulator, "reserved", skip_signature="true"),
        BackendServices(transport=client),
    )
    owner = ObjectRequest(key="real.bin", headers=CIMultiDict())
    upload_id = await backend.create_multipart_upload(owner)
    manifest = ObjectRequest(key=f".multistore-uploads/{upload_id}", headers=CIMultiDict())
    with pytest.raises(InvalidArgument):
        await backend.put_object(manifest, BytesBody(b"x"), 1)
    with pytest.raises(NoSuchKey):
        await backend.get_object(manifest)
    assert (await backend.delete_object(manifest)).status == 204
    assert gcs_emulator.describe("reserved", manifest.key) is not None  # untouched
    with pytest.raises(InvalidArgument):
        await backend.create_multipart_upload(manifest)
    await backend.abort_multipart_upload(owner, upload_id)
    assert gcs_emulator.keys("reserved") == set()
