"""The pass-through proxy a Python developer writes in an hour: the gateway's yardstick.

    python bench/naive_proxy.py --listen 127.0.0.1:9000 --upstream http://127.0.0.1:9001

One pooled ClientSession, bodies streamed both ways with ``iter_chunked``, no auth, no
uvloop, one process.
"""

from __future__ import annotations

import argparse

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "te", "upgrade"}
CHUNK = 64 << 10


async def _body(request: web.Request):  # type: ignore[no-untyped-def]
    async for chunk in request.content.iter_chunked(CHUNK):
        yield chunk


def build_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=0)

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        connector = aiohttp.TCPConnector(limit=256)
        app["session"] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        yield
        await app["session"].close()

    async def proxy(request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        data = _body(request) if request.body_exists else None
        async with app["session"].request(
            request.method,
            upstream + request.path_qs,
            headers=headers,
            data=data,
            allow_redirects=False,
        ) as upstream_response:
            response = web.StreamResponse(status=upstream_response.status)
            for name, value in upstream_response.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in upstream_response.content.iter_chunked(CHUNK):
                await response.write(chunk)
            await response.write_eof()
            return response

    app.cleanup_ctx.append(session_ctx)
    app.router.add_route("*", "/{tail:.*}", proxy)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    web.run_app(
        build_app(args.upstream.rstrip("/")), host=host, port=int(port), access_log=None, print=None
    )


if __name__ == "__main__":
    main()
