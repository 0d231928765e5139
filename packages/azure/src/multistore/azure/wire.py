"""One Azure container on the wire: URLs, authentication, sending, and error answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote, urlsplit

from multistore.azure.auth import Anonymous, Authenticator, SasToken, SharedKey
from multistore.azure.errors import log_level, logger, s3_error
from multistore.core.backends.base import BackendServices
from multistore.core.backends.credentials import AUTH_TYPE_OPTION
from multistore.core.config import BucketConfig
from multistore.core.errors import ServiceUnavailable
from multistore.core.http import HttpTransport, OutboundBody, TransportError, TransportResponse
from multistore.core.s3.keys import encode_wire_path, strip_backend_prefix

API_VERSION = "2021-12-02"
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
MAX_ERROR_BODY = 64 << 10


def _query_string(query: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query)


class AzureWire:
    """Where the container is, how requests to it are authenticated, and how they go out."""

    def __init__(self, config: BucketConfig, services: BackendServices) -> None:
        options = config.backend_options
        self.config = config
        self.account_name = options.get("account_name", "")
        self.container_name = options.get("container_name", "")
        if options.get(AUTH_TYPE_OPTION):
            # Credentials obtained at run time (auth_type = "oidc") are AWS credentials; an
            # Azure bucket never silently goes out without the ones it was configured with.
            raise ValueError(f"bucket {config.name!r}: the azure backend takes no auth_type")
        if not self.account_name or not self.container_name:
            raise ValueError(
                f"bucket {config.name!r}: the azure backend needs account_name and container_name"
            )
        endpoint = options.get("endpoint") or f"https://{self.account_name}.blob.core.windows.net"
        parts = urlsplit(endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"bucket {config.name!r}: endpoint must be an http(s) URL")
        self.endpoint = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._container_path = f"{parts.path}/{encode_wire_path(self.container_name)}"
        if services.transport is None:
            raise ValueError("the azure backend needs an HTTP transport from the runtime")
        self._transport: HttpTransport = services.transport
        self._user_agent = services.user_agent
        self.authenticator = _authenticator(config.name, options)

    # --- addresses -------------------------------------------------------------------------

    def blob_path(self, key: str) -> str:
        return f"{self._container_path}/{_encode_blob_name(key)}"

    def container_path(self) -> str:
        return self._container_path

    def blob_url(self, key: str) -> str:
        """The absolute URL of a blob, with the SAS token when the bucket uses one (the
        source of a server-side copy)."""
        url = f"{self._origin}{self.blob_path(key)}"
        if isinstance(self.authenticator, SasToken):
            url += "?" + _query_string(self.authenticator.parameters)
        return url

    def same_account(self, other: AzureWire) -> bool:
        return (
            self.endpoint == other.endpoint
            and self.account_name == other.account_name
            and type(self.authenticator) is type(other.authenticator)
        )

    def client_resource(self, key: str | None) -> str:
        """``<Resource>`` as the caller knows it: virtual bucket, key without backend_prefix."""
        if key is None:
            return f"/{self.config.name}"
        return f"/{self.config.name}/{strip_backend_prefix(self.config.backend_prefix, key)}"

    # --- requests --------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        body: OutboundBody = None,
    ) -> TransportResponse:
        """Authenticate and send one request; ``path`` must already be wire-encoded."""
        out = {name.lower(): value for name, value in (headers or {}).items()}
        out["x-ms-version"] = API_VERSION
        out["user-agent"] = self._user_agent
        if isinstance(body, bytes):
            out["content-length"] = str(len(body))
        elif body is None and method in ("PUT", "POST"):
            out["content-length"] = "0"
        sent_query = self.authenticator.authenticate(method, path, list(query or ()), out)
        url = f"{self._origin}{path}"
        if sent_query:
            url += "?" + _query_string(sent_query)
        # One retry when nothing is lost by it: an idempotent method and a body in memory.
        # A pooled connection the store closed while idle fails on reuse.
        attempts = 2 if method in _IDEMPOTENT and not isinstance(body, AsyncIterator) else 1
        for attempt in range(attempts):
            try:
                return await self._transport.request(method, url, headers=out, body=body)
            except TransportError as exc:
                if attempt + 1 == attempts:
                    raise ServiceUnavailable(f"azure {self.endpoint} unreachable: {exc}") from exc
                logger.info("retrying %s on %s after: %s", method, self.endpoint, exc)
        raise AssertionError("unreachable")  # the loop either returns or raises

    async def raise_for_status(self, response: TransportResponse, key: str | None) -> None:
        """Translate an Azure error answer into the S3Error the client should see."""
        status = response.status
        if status < 300 or status == 304:
            return
        code = response.headers.get("x-ms-error-code", "")
        try:
            detail = await response.read(MAX_ERROR_BODY)
        except Exception:  # an unreadable error body changes nothing about the outcome
            detail = b""
        finally:
            await response.release()
        logger.log(
            log_level(status),
            "azure %s answered %s %s for bucket %s: %s",
            self.endpoint,
            status,
            code or "-",
            self.config.name,
            detail[:500].decode("utf-8", "replace") or "-",
        )
        raise s3_error(status, code, resource=self.client_resource(key), has_key=key is not None)

    async def close(self) -> None:
        return None


def _encode_blob_name(key: str) -> str:
    """The wire form of a blob name: everything but unreserved characters and ``/`` encoded,
    and ``.``/``..`` segments encoded too, so no HTTP stack on the way normalises them away."""
    encoded = encode_wire_path(key)
    if "." not in encoded:
        return encoded
    segments = encoded.split("/")
    return "/".join(s.replace(".", "%2E") if s in (".", "..") else s for s in segments)


def _authenticator(bucket: str, options: Mapping[str, str]) -> Authenticator:
    if options.get("skip_signature", "false") == "true":
        return Anonymous()
    sas = options.get("sas_token", "")
    key = options.get("access_key", "")
    if not sas and "sig=" in key:
        sas, key = key, ""  # SPEC §6: access_key may hold a SAS token
    if sas:
        return SasToken(sas)
    if key:
        try:
            return SharedKey(options.get("account_name", ""), key)
        except ValueError as exc:
            raise ValueError(f"bucket {bucket!r}: {exc}") from exc
    return Anonymous()


__all__ = ["API_VERSION", "AzureWire"]
