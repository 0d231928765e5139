"""What middleware (metering) is told about a download the client abandoned midway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web

from multistore.core.gateway import ProxyGateway
from multistore.core.middleware import BaseMiddleware, CompletedRequest
from multistore.server.app import Worker, assemble, create_server, new_backend_pool
from multistore.server.settings import ServerSettings
from multistore.testing.ports import free_port
from multistore.testing.raw_http import connect, read_response_head, request_head

SIZE = 8 << 20


class Recording(BaseMiddleware):
    def __init__(self) -> None:
        self.completed: list[CompletedRequest] = []

    async def after_dispatch(self, completed: CompletedRequest) -> None:
        self.completed.append(completed)


def abandon_download(url: str, keep: int) -> int:
    with connect(url) as sock:
        sock.sendall(request_head("GET", url))
        head, received = read_response_head(sock)
        assert head.startswith(b"HTTP/1.1 200"), head
        while len(received) < keep:
            received += sock.recv(65536)
    return len(received)


async def test_middleware_is_told_the_bytes_actually_sent(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(b"B" * SIZE)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"buckets": [
        {"name": "files", "backend_type": "file", "anonymous_access": True,
         "backend_options": {"root": str(root)}},
    ]}))  # fmt: skip
    built = await assemble(ServerSettings(config=config, stale_upload_age=0))
    recording = Recording()
    gateway = ProxyGateway(
        buckets=built.config,
        credentials=built.config,
        backends=new_backend_pool(built.client),
        middlewares=[recording],
    )
    runner = web.ServerRunner(create_server(Worker(gateway, built.config, built.client)))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url = f"http://127.0.0.1:{port}/files/big.bin"
        received = await asyncio.to_thread(abandon_download, url, 1 << 20)
        for _ in range(200):
            if recording.completed:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
        await built.close()
    (completed,) = recording.completed
    assert completed.status == 200
    assert completed.error_code == "ClientDisconnected"
    assert received <= completed.bytes_out < SIZE
