"""Temporary backend credentials, shared by every request and renewed before they expire.

Per key (STS endpoint, role, subject, audience, duration):

- credentials with more than the refresh margin left are served as they are;
- inside the margin the first caller starts **one** renewal in the background and every
  caller — that one included — keeps using the current credentials, so no request waits
  for STS while the old credentials are still good;
- credentials with less than ``min_validity`` (5 s) left are never served: callers wait for
  the renewal in flight (or start it), as do the first callers for a key. Concurrent
  waiters share one exchange (single flight), so a burst of cold requests costs one call.

A failed background renewal is logged and retried no sooner than ``retry_interval`` later,
while the current credentials last; a failed exchange that callers are waiting for reaches
all of them, and nothing is cached, so the next caller tries again.

The refresh margin is capped at half the credentials' lifetime: with a role whose sessions
last less than the margin, a fixed margin would renew on every request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from multistore.core.auth.signing import SigningCredentials
from multistore.oidc_provider.aws_sts import IssuedCredentials, StsRejected

logger = logging.getLogger("multistore.oidc_provider")

DEFAULT_REFRESH_MARGIN = 60.0
MIN_VALIDITY = 5.0
DEFAULT_RETRY_INTERVAL = 5.0

Fetch = Callable[[], Awaitable[IssuedCredentials]]


@dataclass(frozen=True, slots=True)
class CacheSettings:
    refresh_margin: float = DEFAULT_REFRESH_MARGIN
    min_validity: float = MIN_VALIDITY
    retry_interval: float = DEFAULT_RETRY_INTERVAL


@dataclass(slots=True)
class _Entry:
    credentials: SigningCredentials | None = None
    expires_at: float = -math.inf  # on the cache's (monotonic) clock
    refresh_at: float = -math.inf
    renewal: asyncio.Task[SigningCredentials] | None = None
    retry_after: float = -math.inf


@dataclass(slots=True)
class CredentialCache:
    settings: CacheSettings = CacheSettings()
    clock: Callable[[], float] = time.monotonic
    _entries: dict[Hashable, _Entry] = field(default_factory=dict)

    async def get(self, key: Hashable, fetch: Fetch) -> SigningCredentials:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        now = self.clock()
        if entry.credentials is not None and now < entry.expires_at - self.settings.min_validity:
            if now >= entry.refresh_at and entry.renewal is None and now >= entry.retry_after:
                self._start_renewal(key, entry, fetch, background=True)
            return entry.credentials
        task = entry.renewal or self._start_renewal(key, entry, fetch, background=False)
        # The renewal belongs to every waiter: one caller going away must not cancel it.
        return await asyncio.shield(task)

    def _start_renewal(
        self, key: Hashable, entry: _Entry, fetch: Fetch, *, background: bool
    ) -> asyncio.Task[SigningCredentials]:
        task = asyncio.ensure_future(self._renew(key, entry, fetch))
        task.add_done_callback(_retrieve_outcome)
        entry.renewal = task
        if background:
            logger.debug("renewing backend credentials for %s ahead of expiry", _describe(key))
        return task

    async def _renew(self, key: Hashable, entry: _Entry, fetch: Fetch) -> SigningCredentials:
        try:
            issued = await fetch()
        except asyncio.CancelledError:
            entry.renewal = None  # shutting down; nobody is left to tell
            raise
        except Exception as exc:
            entry.renewal = None
            now = self.clock()
            entry.retry_after = now + self.settings.retry_interval
            if entry.credentials is not None and now < entry.expires_at:
                logger.warning(
                    "renewing backend credentials for %s failed (%s); the current ones stay "
                    "in use for %.0f s more",
                    _describe(key), exc, entry.expires_at - now,
                )  # fmt: skip
            raise
        now = self.clock()
        entry.renewal = None
        lifetime = issued.valid_for
        if lifetime <= self.settings.min_validity:
            entry.retry_after = now + self.settings.retry_interval
            raise StsRejected(
                f"credentials for {_describe(key)} arrived with only {lifetime:.1f} s of "
                "validity; check the clocks of this machine and of the STS endpoint",
                code="CredentialsExpireTooSoon",
            )
        entry.credentials = issued.credentials
        entry.expires_at = now + lifetime
        entry.refresh_at = entry.expires_at - min(self.settings.refresh_margin, lifetime / 2)
        entry.retry_after = -math.inf
        return issued.credentials

    def clear(self) -> None:
        self._entries.clear()


def _describe(key: Hashable) -> str:
    describe = getattr(key, "describe", None)
    return str(describe()) if callable(describe) else repr(key)


def _retrieve_outcome(task: asyncio.Task[SigningCredentials]) -> None:
    # A background renewal has no waiter; its failure is logged, not lost.
    if not task.cancelled():
        task.exception()
