"""Abandoned multipart uploads of ``file``, ``azure`` and ``gcs`` buckets are removed on a
schedule, and logged."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from multistore.testing.azurite import Azurite, AzuriteClient
from multistore.testing.gateway import running_gateway
from multistore.testing.gcs_emulator import GcsEmulator

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


def test_abandoned_uploads_on_azure_and_gcs_are_removed_and_logged(
    tmp_path: Path, azurite: Azurite, gcs_emulator: GcsEmulator
) -> None:
    azure = AzuriteClient(azurite.endpoint)
    azure.create_container("housekeeping")
    gcs_emulator.create_bucket("housekeeping-gcs")
    gcs_options = {
        "bucket_name": "housekeeping-gcs",
        "endpoint": gcs_emulator.endpoint,
        "skip_signature": "true",
    }
    config = {
        "buckets": [
            # First on the container, and unable to list it (anonymous, private container):
            # its failure is logged and the next bucket on the container cleans it.
            {"name": "az-anonymous", "backend_type": "azure", "anonymous_access": False,
             "backend_options": azurite.backend_options("housekeeping", skip_signature="true")},
            {"name": "az", "backend_type": "azure", "anonymous_access": False,
             "backend_options": azurite.backend_options("housekeeping")},
            {"name": "gs", "backend_type": "gcs", "anonymous_access": False,
             "backend_options": gcs_options},
        ],
        "credentials": [
            {"access_key_id": FULL[0], "secret_access_key": FULL[1], "principal_name": "full",
             "created_at": "2024-01-01T00:00:00Z",
             "allowed_scopes": [{"bucket": "*", "prefixes": [], "actions": ALL_ACTIONS}]},
        ],
    }  # fmt: skip
    # 3 s: Azure's times have whole seconds, so a fresh upload never looks that old.
    with running_gateway(config, tmp_path / "run", args=["--stale-upload-age", "3s"]) as gateway:
        client = gateway.client(*FULL)
        abandoned: dict[str, str] = {}
        for bucket in ("az", "gs"):
            client.put_object(Bucket=bucket, Key="kept.txt", Body=b"an object")
            upload_id = client.create_multipart_upload(Bucket=bucket, Key="left/behind.bin")[
                "UploadId"
            ]
            client.upload_part(
                Bucket=bucket, Key="left/behind.bin", UploadId=upload_id, PartNumber=1,
                Body=b"p" * 10,
            )  # fmt: skip
            abandoned[bucket] = upload_id
        assert azure.blob_names("housekeeping", prefix=".multistore/") != []
        assert gcs_emulator.keys("housekeeping-gcs", prefix=".multistore-uploads/") != set()

        for upload_id in abandoned.values():
            line = f"removed abandoned multipart upload {upload_id} of 'left/behind.bin' under "
            assert line in gateway.wait_for_log(line, timeout=20)
        log = gateway.log()
        assert f"under {azurite.endpoint}/housekeeping (older than 3s)" in log
        assert "/b/housekeeping-gcs (older than 3s)" in log
        assert f"could not clean up stale uploads under {azurite.endpoint}/housekeeping" in log
        assert log.count(f"removed abandoned multipart upload {abandoned['az']}") == 1

        for bucket, upload_id in abandoned.items():
            with pytest.raises(ClientError) as error:
                client.list_parts(Bucket=bucket, Key="left/behind.bin", UploadId=upload_id)
            assert error.value.response["Error"]["Code"] == "NoSuchUpload"
            assert client.get_object(Bucket=bucket, Key="kept.txt")["Body"].read() == b"an object"
        with pytest.raises(ClientError) as error:
            client.upload_part(
                Bucket="gs", Key="left/behind.bin", UploadId=abandoned["gs"], PartNumber=2,
                Body=b"late",
            )  # fmt: skip
        assert error.value.response["Error"]["Code"] == "NoSuchUpload"
        # Nothing of the uploads is left in the stores (Azure's uncommitted blocks are
        # invisible and dropped by Azure itself); the objects are.
        assert azure.blob_names("housekeeping") == ["kept.txt"]
        assert gcs_emulator.keys("housekeeping-gcs") == {"kept.txt"}

        # Young uploads are left alone.
        for bucket in ("az", "gs"):
            young = client.create_multipart_upload(Bucket=bucket, Key="young.bin")["UploadId"]
            listed = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            assert [u["UploadId"] for u in listed] == [young]
