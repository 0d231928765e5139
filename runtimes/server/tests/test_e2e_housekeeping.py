"""Abandoned multipart uploads of ``file`` buckets are removed on a schedule, and logged."""

from __future__ import annotations

import time
from pathlib import Path

from multistore.testing.gateway import running_gateway

from .conftest import ALL_ACTIONS, FULL


def test_abandoned_uploads_are_removed_and_logged(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    config = {
        "buckets": [{"name": "files", "backend_type": "file", "anonymous_access": False,
                     "backend_options": {"root": str(root)}}],
        "credentials": [
            {"access_key_id": FULL[0], "secret_access_key": FULL[1], "principal_name": "full",
             "created_at": "2024-01-01T00:00:00Z",
             "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}]},
        ],
    }  # fmt: skip
    with running_gateway(config, tmp_path / "run", args=["--stale-upload-age", "2s"]) as gateway:
        client = gateway.client(*FULL)
        abandoned = client.create_multipart_upload(Bucket="files", Key="left/behind.bin")
        upload_id = abandoned["UploadId"]
        client.upload_part(
            Bucket="files", Key="left/behind.bin", UploadId=upload_id, PartNumber=1, Body=b"p" * 10
        )
        line = f"removed abandoned multipart upload {upload_id} of 'left/behind.bin'"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and line not in gateway.log():
            time.sleep(0.1)
        assert line in gateway.log()
        assert "(older than 2s)" in gateway.log()
        assert client.list_multipart_uploads(Bucket="files").get("Uploads", []) == []
        # A young upload is left alone.
        young = client.create_multipart_upload(Bucket="files", Key="young.bin")["UploadId"]
        listed = client.list_multipart_uploads(Bucket="files").get("Uploads", [])
        assert [u["UploadId"] for u in listed] == [young]
