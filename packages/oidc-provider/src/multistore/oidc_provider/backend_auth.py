"""Backend credentials for ``auth_type = "oidc"`` buckets (upstream's ``AwsBackendAuth``).

The s3 backend asks for credentials before each request; this source answers from the
:class:`~multistore.oidc_provider.cache.CredentialCache` and, when they need renewing,
mints a token as the gateway's issuer and exchanges it with ``AssumeRoleWithWebIdentity``.

Bucket options (``backend_options``):

==============================  =============================================================
``auth_type``                   ``"oidc"``
``oidc_role_arn``               the role to assume (required)
``oidc_subject``                the token's ``sub`` and, sanitised, the session name
                                (default ``s3-proxy``, upstream's)
``oidc_audience``               the token's ``aud`` (default ``sts.amazonaws.com``)
``oidc_sts_endpoint``           where to exchange it (default ``https://sts.{region}.amazonaws.com``)
``oidc_session_duration_secs``  ``DurationSeconds`` to ask for (default: STS's, one hour on AWS)
==============================  =============================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from multistore.core.auth.signing import SigningCredentials
from multistore.core.config import BucketConfig
from multistore.core.errors import AccessDenied, BackendAuthenticationFailed, ServiceUnavailable
from multistore.core.http import HttpTransport
from multistore.oidc_provider.aws_sts import (
    IssuedCredentials,
    StsAccessDenied,
    StsError,
    StsUnavailable,
    WebIdentityRequest,
    assume_role_with_web_identity,
    check_endpoint,
    session_name_for,
)
from multistore.oidc_provider.cache import CredentialCache
from multistore.oidc_provider.issuer import GatewayIssuer

logger = logging.getLogger("multistore.oidc_provider")

DEFAULT_SUBJECT = "s3-proxy"
DEFAULT_AUDIENCE = "sts.amazonaws.com"
MIN_SESSION_SECONDS = 900
MAX_SESSION_SECONDS = 43200


class StsExchangeFailed(BackendAuthenticationFailed):
    """502 whose message names STS's error code (and only that): enough for an operator to
    know where to look, nothing about the role, the endpoint or STS's own message."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.sts_code = code

    @property
    def public_message(self) -> str:
        return f"{self.default_message.rstrip('.')} (STS error: {self.sts_code})."


@dataclass(frozen=True, slots=True)
class ExchangeTarget:
    """Everything that decides which credentials come back: the cache key."""

    endpoint: str
    role_arn: str
    subject: str
    audience: str
    duration_seconds: int | None

    def describe(self) -> str:
        return f"role {self.role_arn} (subject {self.subject!r}, STS {self.endpoint})"


def exchange_target(config: BucketConfig) -> ExchangeTarget:
    """The bucket's OIDC options, checked; ``ValueError`` names the bucket and the option."""
    options = config.backend_options
    name = config.name
    if config.backend_type != "s3":
        raise ValueError(
            f'bucket {name!r}: auth_type = "oidc" needs backend_type = "s3", '
            f"not {config.backend_type!r}"
        )
    role_arn = options.get("oidc_role_arn", "").strip()
    if not role_arn:
        raise ValueError(f'bucket {name!r}: auth_type = "oidc" needs backend_options.oidc_role_arn')
    if options.get("access_key_id") or options.get("secret_access_key"):
        raise ValueError(
            f'bucket {name!r}: auth_type = "oidc" obtains credentials itself; remove '
            "access_key_id/secret_access_key"
        )
    region = options.get("region") or config.region or "us-east-1"
    endpoint = options.get("oidc_sts_endpoint") or f"https://sts.{region}.amazonaws.com"
    try:
        endpoint = check_endpoint(endpoint)
    except ValueError as exc:
        raise ValueError(f"bucket {name!r}: backend_options.oidc_sts_endpoint: {exc}") from exc
    return ExchangeTarget(
        endpoint=endpoint,
        role_arn=role_arn,
        subject=options.get("oidc_subject") or DEFAULT_SUBJECT,
        audience=options.get("oidc_audience") or DEFAULT_AUDIENCE,
        duration_seconds=_duration(name, options),
    )


def _duration(bucket: str, options: Mapping[str, str]) -> int | None:
    raw = options.get("oidc_session_duration_secs", "")
    if not raw:
        return None
    if not raw.isdigit() or not MIN_SESSION_SECONDS <= int(raw) <= MAX_SESSION_SECONDS:
        raise ValueError(
            f"bucket {bucket!r}: backend_options.oidc_session_duration_secs must be a whole "
            f"number of seconds from {MIN_SESSION_SECONDS} to {MAX_SESSION_SECONDS}, got {raw!r}"
        )
    return int(raw)


@dataclass(slots=True)
class OidcCredentialSource:
    """The ``oidc`` credential source: one per process, shared by every oidc bucket."""

    issuer: GatewayIssuer
    transport: HttpTransport
    user_agent: str = "multistore-oidc-provider"
    cache: CredentialCache = field(default_factory=CredentialCache)
    exchanges: int = 0  # how many exchanges this process made (for logs and tests)

    def for_bucket(self, config: BucketConfig) -> OidcBucketCredentials:
        return OidcBucketCredentials(self, exchange_target(config))

    async def credentials(self, target: ExchangeTarget) -> SigningCredentials:
        try:
            return await self.cache.get(target, lambda: self.exchange(target))
        except StsAccessDenied as exc:
            raise AccessDenied(
                "Access Denied: the storage backend's STS does not let this gateway assume "
                "the bucket's role"
            ) from exc
        except StsUnavailable as exc:
            raise ServiceUnavailable(f"backend credentials unavailable: {exc.reason}") from exc
        except StsError as exc:
            raise StsExchangeFailed(exc.reason, code=exc.code) from exc

    async def exchange(self, target: ExchangeTarget) -> IssuedCredentials:
        """One ``AssumeRoleWithWebIdentity`` with a freshly minted token."""
        self.exchanges += 1
        started = time.perf_counter()
        request = WebIdentityRequest(
            endpoint=target.endpoint,
            role_arn=target.role_arn,
            session_name=session_name_for(target.subject),
            token=self.issuer.mint(subject=target.subject, audience=target.audience),
            duration_seconds=target.duration_seconds,
        )
        try:
            issued = await assume_role_with_web_identity(
                self.transport, request, user_agent=self.user_agent
            )
        except StsError as exc:
            logger.warning(
                "AssumeRoleWithWebIdentity for %s failed after %.1f ms: %s",
                target.describe(), (time.perf_counter() - started) * 1000, exc.reason,
            )  # fmt: skip
            raise
        logger.info(
            "backend credentials for %s: %s, valid %.0f s (until %s); exchange took %.1f ms",
            target.describe(), issued.credentials.access_key_id, issued.valid_for,
            issued.expiration.isoformat(), (time.perf_counter() - started) * 1000,
        )  # fmt: skip
        return issued


@dataclass(frozen=True, slots=True)
class OidcBucketCredentials:
    """What the s3 backend of one bucket holds (core's ``BucketCredentials``)."""

    source: OidcCredentialSource
    target: ExchangeTarget

    async def current(self) -> SigningCredentials:
        return await self.source.credentials(self.target)
