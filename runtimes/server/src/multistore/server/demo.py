"""The configuration used when the server starts without ``--config``: a quick-start demo.

One bucket, ``demo``, backed by a local directory, readable by anyone and writable with a
well-known demo key. It exists so that the first command of the README just works; never
expose it beyond your machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEMO_BUCKET = "demo"
DEMO_ACCESS_KEY_ID = "DEMOACCESSKEYID00000"
DEMO_SECRET_ACCESS_KEY = "demo-secret-access-key-change-me-000000000"

ALL_ACTIONS = [
    "get_object", "get_object_version", "head_object", "put_object", "delete_object",
    "list_bucket", "create_multipart_upload", "upload_part", "complete_multipart_upload",
    "abort_multipart_upload",
]  # fmt: skip


def demo_config(data_dir: Path) -> dict[str, Any]:
    root = (data_dir / DEMO_BUCKET).resolve()
    root.mkdir(parents=True, exist_ok=True)
    readme = root / "README.txt"
    if not readme.exists():
        readme.write_text("Hello from multistore! This object lives in a local directory.\n")
    return {
        "buckets": [
            {
                "name": DEMO_BUCKET,
                "backend_type": "file",
                "anonymous_access": True,
                "backend_options": {"root": str(root)},
            }
        ],
        "credentials": [
            {
                "access_key_id": DEMO_ACCESS_KEY_ID,
                "secret_access_key": DEMO_SECRET_ACCESS_KEY,
                "principal_name": "demo-user",
                "created_at": "2024-01-01T00:00:00Z",
                "enabled": True,
                "allowed_scopes": [{"bucket": DEMO_BUCKET, "prefixes": [], "actions": ALL_ACTIONS}],
            }
        ],
    }
