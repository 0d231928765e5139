"""Fixtures shared by the file-backend tests: a fresh root directory and a backend on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from multistore.core.backends.base import BackendServices
from multistore.core.backends.file import FileBackend
from multistore.core.config import BucketConfig


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "bucket"
    path.mkdir()
    return path


@pytest.fixture
async def backend(root: Path) -> AsyncIterator[FileBackend]:
    config = BucketConfig(name="files", backend_type="file", backend_options={"root": str(root)})
    store = FileBackend(config, BackendServices())
    yield store
    await store.close()
