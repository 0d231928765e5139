"""Test-only Router extension: proves that runtimes discover routes through entry points.

It answers ``GET /.example/ping`` and declines to install when the runtime settings
contain ``MULTISTORE_EXAMPLE_DISABLED=1``, exercising both outcomes of an extension.
"""

from __future__ import annotations

from multidict import CIMultiDict

from multistore.core.http import RequestInfo, Response
from multistore.core.plugins import ExtensionContext
from multistore.core.router import Router


async def ping(request: RequestInfo) -> Response | None:
    if request.method != "GET":
        return None  # anything else falls through to the S3 pipeline
    return Response(200, CIMultiDict({"Content-Type": "text/plain"}), b"pong\n")


def install(router: Router, context: ExtensionContext) -> bool:
    if context.settings.get("MULTISTORE_EXAMPLE_DISABLED") == "1":
        return False
    router.route("/.example/ping", ping)
    return True
