"""Gateways for the Lambda tests: the handler in this process, and over HTTP.

``s3`` buckets live on moto, ``file`` buckets in local directories. Each gateway gets its
own backend buckets, so the server and the Lambda runner start from the same empty state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multistore.aws_lambda.runtime import Container
from multistore.testing.moto_backend import MotoS3

ALL_ACTIONS = [
    "get_object", "get_object_version", "head_object", "put_object", "delete_object",
    "list_bucket", "create_multipart_upload", "upload_part", "complete_multipart_upload",
    "abort_multipart_upload",
]  # fmt: skip
KEY = ("AKIALAMBDA0000000000", "lambda-secret-key")


def lambda_config(moto: MotoS3, moto_bucket: str, root: Path) -> dict[str, Any]:
    """Buckets ``data`` (moto) and ``files`` (a directory), one full-access key."""
    moto.client().create_bucket(Bucket=moto_bucket)
    root.mkdir(parents=True, exist_ok=True)
    return {
        "buckets": [
            {"name": "data", "backend_type": "s3", "anonymous_access": False,
             "backend_options": moto.backend_options(moto_bucket)},
            {"name": "files", "backend_type": "file", "anonymous_access": False,
             "backend_options": {"root": str(root)}},
        ],
        "credentials": [
            {"access_key_id": KEY[0], "secret_access_key": KEY[1], "principal_name": "lambda",
             "created_at": "2024-01-01T00:00:00Z", "enabled": True,
             "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}]},
        ],
    }  # fmt: skip


@pytest.fixture(scope="module")
def file_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lambda-files")


@pytest.fixture(scope="module")
def container(
    moto_s3: MotoS3, file_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """The handler's execution environment, as Lambda would keep it between invocations."""
    import json

    config = tmp_path_factory.mktemp("lambda-config") / "gateway.json"
    config.write_text(json.dumps(lambda_config(moto_s3, "lambda-inproc", file_root)))
    container = Container({"CONFIG_PATH": str(config)})
    try:
        yield container
    finally:
        container.close()
