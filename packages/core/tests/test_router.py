"""Router precedence: exact > parameter > catch-all; duplicates fail at registration."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from multistore.core.http import RequestInfo, Response
from multistore.core.router import DuplicateRouteError, Router


def handler(name: str):  # type: ignore[no-untyped-def]
    async def respond(request: RequestInfo) -> Response | None:
        return Response(200, CIMultiDict({"x-route": name, "x-params": repr(request.params)}))

    return respond


async def declining(request: RequestInfo) -> Response | None:
    return None


def request(path: str) -> RequestInfo:
    return RequestInfo(method="GET", raw_path=path, raw_query="", headers=CIMultiDict())


@pytest.fixture
def router() -> Router:
    return (
        Router()
        .route("/.sts", handler("exact"))
        .route("/.well-known/{name}", handler("param"))
        .route("/.well-known/jwks.json", handler("exact-jwks"))
        .route("/{*rest}", handler("catch-all"))
    )


@pytest.mark.parametrize(
    ("path", "route", "params"),
    [
        ("/.sts", "exact", "{}"),
        ("/.well-known/jwks.json", "exact-jwks", "{}"),
        ("/.well-known/openid-configuration", "param", "{'name': 'openid-configuration'}"),
        ("/bucket/key/with/slashes", "catch-all", "{'rest': 'bucket/key/with/slashes'}"),
        ("/.well-known/a/b", "catch-all", "{'rest': '.well-known/a/b'}"),
    ],
)
async def test_precedence(router: Router, path: str, route: str, params: str) -> None:
    response = await router.dispatch(request(path))
    assert response is not None
    assert response.headers["x-route"] == route
    assert response.headers["x-params"] == params


async def test_catch_all_does_not_match_root(router: Router) -> None:
    assert await router.dispatch(request("/")) is None
    router.route("/", handler("root"))
    response = await router.dispatch(request("/"))
    assert response is not None
    assert response.headers["x-route"] == "root"


async def test_declining_handler_falls_through() -> None:
    router = Router().route("/.sts", declining)
    assert await router.dispatch(request("/.sts")) is None
    assert await router.dispatch(request("/elsewhere")) is None


@pytest.mark.parametrize(
    ("first", "second"),
    [("/.sts", "/.sts"), ("/a/{x}", "/a/{y}"), ("/{*a}", "/{*b}")],
)
def test_conflicting_routes_are_rejected(first: str, second: str) -> None:
    router = Router().route(first, declining)
    with pytest.raises(DuplicateRouteError):
        router.route(second, declining)


def test_matching_uses_the_decoded_path() -> None:
    router = Router().route("/.sts", declining)
    assert router.match(request("/%2Ests").path) is not None
