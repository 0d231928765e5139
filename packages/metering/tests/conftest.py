"""Gateways with ``[metering]`` on, over file buckets; a real Redis for the shared store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multistore.testing.redis_server import RedisServer, running_redis

READER = ("AKIAMETERREADER00000", "metering-reader-secret")
ACTIONS = ["get_object", "head_object", "put_object", "list_bucket", "create_multipart_upload",
           "upload_part", "complete_multipart_upload", "abort_multipart_upload"]  # fmt: skip


def metered_config(root: Path, metering: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "buckets": [
            {"name": "public", "backend_type": "file", "anonymous_access": True,
             "backend_options": {"root": str(root)}},
        ],
        "credentials": [
            {"access_key_id": READER[0], "secret_access_key": READER[1],
             "principal_name": "reader", "created_at": "2024-01-01T00:00:00Z", "enabled": True,
             "allowed_scopes": [{"bucket": "public", "prefixes": [], "actions": ACTIONS}]},
        ],
        "metering": metering,
        **extra,
    }  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path / "redis") as server:
        yield server
