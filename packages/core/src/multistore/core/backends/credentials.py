"""Backend credentials that are obtained at run time instead of read from the config.

A bucket whose ``backend_options`` name an ``auth_type`` (e.g. ``"oidc"``) gets its signing
credentials from the *credential source* registered under that name: a plugin found through
the ``multistore.backend_credentials`` entry-point group. Core only knows this protocol, so
how the credentials are obtained (an OIDC token exchange, a cloud metadata service, a vault)
stays in the plugin.
"""

from __future__ import annotations

from typing import Protocol

from multistore.core.auth.signing import SigningCredentials
from multistore.core.config import BucketConfig

AUTH_TYPE_OPTION = "auth_type"


class BucketCredentials(Protocol):
    """Signing credentials for one bucket's backend, renewed by the plugin as needed."""

    async def current(self) -> SigningCredentials:
        """Credentials valid for at least the next request.

        Called before every backend request, so it must be cheap when nothing needs
        renewing. Failures are raised as :class:`~multistore.core.errors.S3Error`
        subclasses (the status the client should see).
        """
        ...


class BackendCredentialSource(Protocol):
    """What a ``multistore.backend_credentials`` plugin installs for its ``auth_type``."""

    def for_bucket(self, config: BucketConfig) -> BucketCredentials:
        """Credentials for ``config``'s backend; raises ``ValueError`` naming the bucket when
        its options are unusable (checked at startup, when the backend is built)."""
        ...
