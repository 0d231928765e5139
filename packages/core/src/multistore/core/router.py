"""Path router for extension endpoints (STS, OIDC discovery, health checks).

Routes are tried before the S3 pipeline. Precedence: an exact path beats a parameter
pattern (``/prefix/{name}``), which beats a catch-all (``/{*rest}``). A catch-all never
matches ``/``. Registering the same pattern twice is an error at startup, not a surprise
at request time.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol

from multistore.core.http import RequestInfo, Response


class RouteHandler(Protocol):
    """Answers a routed request, or returns ``None`` to hand it to the S3 pipeline."""

    def __call__(self, request: RequestInfo) -> Awaitable[Response | None]: ...


class DuplicateRouteError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Pattern:
    pattern: str
    segments: tuple[str, ...]
    catch_all: str | None  # name of the trailing catch-all parameter, if any

    @classmethod
    def parse(cls, pattern: str) -> _Pattern:
        if not pattern.startswith("/"):
            raise ValueError(f"route pattern must start with '/': {pattern!r}")
        parts = pattern[1:].split("/") if pattern != "/" else []
        catch_all = None
        if parts and parts[-1].startswith("{*") and parts[-1].endswith("}"):
            catch_all = parts.pop()[2:-1]
        for part in parts:
            if part.startswith("{*"):
                raise ValueError(f"catch-all must be the last segment: {pattern!r}")
        return cls(pattern, tuple(parts), catch_all)

    @property
    def shape(self) -> tuple[str, ...]:
        """The pattern with parameter names erased, to detect conflicting routes."""
        norm = tuple("{}" if _is_param(p) else p for p in self.segments)
        return (*norm, "{*}") if self.catch_all is not None else norm

    def match(self, path: str) -> dict[str, str] | None:
        parts = path[1:].split("/") if path != "/" else []
        if self.catch_all is None and len(parts) != len(self.segments):
            return None
        if self.catch_all is not None and len(parts) <= len(self.segments):
            return None
        params: dict[str, str] = {}
        for expected, actual in zip(self.segments, parts, strict=False):
            if _is_param(expected):
                if not actual:
                    return None
                params[expected[1:-1]] = actual
            elif expected != actual:
                return None
        if self.catch_all is not None:
            rest = "/".join(parts[len(self.segments) :])
            if not rest:
                return None
            params[self.catch_all] = rest
        return params


def _precedence(item: tuple[_Pattern, RouteHandler]) -> tuple[bool, int]:
    pattern = item[0]
    return (pattern.catch_all is not None, -len(pattern.segments))


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}") and not segment.startswith("{*")


@dataclass(slots=True)
class Router:
    """Maps request paths to :class:`RouteHandler` objects."""

    _exact: dict[str, RouteHandler] = field(default_factory=dict)
    _patterns: list[tuple[_Pattern, RouteHandler]] = field(default_factory=list)
    _shapes: set[tuple[str, ...]] = field(default_factory=set)

    def route(self, pattern: str, handler: RouteHandler) -> Router:
        parsed = _Pattern.parse(pattern)
        if parsed.shape in self._shapes:
            raise DuplicateRouteError(f"route {pattern!r} conflicts with an existing route")
        self._shapes.add(parsed.shape)
        is_exact = parsed.catch_all is None and not any(_is_param(p) for p in parsed.segments)
        if is_exact:
            self._exact[pattern] = handler
        else:
            self._patterns.append((parsed, handler))
            # Parameters before catch-alls; within a kind, more literal segments first.
            self._patterns.sort(key=_precedence)
        return self

    def __len__(self) -> int:
        return len(self._exact) + len(self._patterns)

    def patterns(self) -> list[str]:
        return sorted([*self._exact, *(p.pattern for p, _ in self._patterns)])

    def match(self, path: str) -> tuple[RouteHandler, dict[str, str]] | None:
        handler = self._exact.get(path)
        if handler is not None:
            return handler, {}
        for pattern, candidate in self._patterns:
            params = pattern.match(path)
            if params is not None:
                return candidate, params
        return None

    async def dispatch(self, request: RequestInfo) -> Response | None:
        """Run the matching handler; ``None`` means "not mine, continue with S3"."""
        if not (self._exact or self._patterns):
            return None
        found = self.match(request.path)
        if found is None:
            return None
        return await self.answer(found, request)

    async def answer(
        self, route: tuple[RouteHandler, dict[str, str]], request: RequestInfo
    ) -> Response | None:
        """Run a route :meth:`match` found for ``request`` (``None``: not its request)."""
        handler, params = route
        request.params = params
        return await handler(request)
