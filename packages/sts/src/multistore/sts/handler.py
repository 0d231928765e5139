"""The STS endpoint: ``AssumeRoleWithWebIdentity`` and ``GetCallerIdentity``.

Served at ``/.sts`` and at ``/`` (SDKs configured with ``AWS_ENDPOINT_URL_STS`` post to the
root). Parameters come from the query *or* from a form-encoded POST body, never both merged:
a query carrying ``Action`` wins. At ``/`` anything that is not an STS call returns ``None``
and goes on to the S3 pipeline untouched (``GET /`` stays ListBuckets; the runtime passes
the same body bytes on).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from multidict import CIMultiDict

from multistore.core.auth.identity import IdentityResolver
from multistore.core.config import RoleConfig
from multistore.core.errors import S3Error
from multistore.core.http import RequestInfo, Response
from multistore.core.registry import CredentialRegistry
from multistore.sts.errors import (
    CallerAuthenticationFailed,
    InternalFailure,
    InvalidAction,
    InvalidIdentityToken,
    InvalidParameterValue,
    MalformedPolicyDocument,
    MissingAuthenticationToken,
    StsError,
)
from multistore.sts.minting import mint_credentials
from multistore.sts.token_key import TokenKey
from multistore.sts.trust import ScopeTemplateError, session_duration
from multistore.sts.web_identity import WebIdentityVerifier
from multistore.sts.xml import (
    CONTENT_TYPE,
    assume_role_with_web_identity_xml,
    error_xml,
    get_caller_identity_xml,
)

logger = logging.getLogger("multistore.sts")

API_VERSION = "2011-06-15"
# The gateway has no AWS account; ARNs and GetCallerIdentity carry this placeholder.
ACCOUNT_ID = "000000000000"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

# S3 authentication errors from core, renamed to what STS calls them.
_CALLER_ERROR_CODES = {
    "InvalidAccessKeyId": "InvalidClientTokenId",
    "AccessDenied": "InvalidClientTokenId",
    "AuthorizationHeaderMalformed": "IncompleteSignature",
    "AuthorizationQueryParametersError": "IncompleteSignature",
}


@dataclass(frozen=True, slots=True)
class StsService:
    """The STS route handlers; one per process, shared by every request."""

    credentials: CredentialRegistry
    token_key: TokenKey
    verifier: WebIdentityVerifier
    identities: IdentityResolver

    async def handle_sts_path(self, request: RequestInfo) -> Response | None:
        """``/.sts``: an STS call, or ``None`` when the request carries no ``Action``."""
        return await self._handle(request, at_root=False)

    async def handle_root(self, request: RequestInfo) -> Response | None:
        """``/``: only STS calls; every S3 request (ListBuckets above all) falls through."""
        # Checked first and cheaply: every ListBuckets passes through here.
        if "Action" not in request.raw_query and request.method != "POST":
            return None
        return await self._handle(request, at_root=True)

    async def _handle(self, request: RequestInfo, *, at_root: bool) -> Response | None:
        try:
            params = sts_parameters(request, at_root=at_root)
            if params is None:
                return None
            return await self._dispatch(request, params)
        except StsError as error:
            return self._error(request, error)
        except Exception as exc:
            logger.exception("request %s: STS call failed", request.request_id)
            return self._error(request, InternalFailure(repr(exc)))

    async def _dispatch(self, request: RequestInfo, params: Mapping[str, str]) -> Response:
        action = params.get("Action", "")
        if action == "AssumeRoleWithWebIdentity":
            return await self.assume_role_with_web_identity(request, params)
        if action == "GetCallerIdentity":
            return await self.get_caller_identity(request)
        raise InvalidAction(f"Could not find operation {action[:100]} for version {API_VERSION}")

    async def assume_role_with_web_identity(
        self, request: RequestInfo, params: Mapping[str, str]
    ) -> Response:
        role_arn = params.get("RoleArn", "")
        token = params.get("WebIdentityToken", "")
        if not role_arn:
            raise InvalidParameterValue("missing RoleArn")
        if not token:
            raise InvalidParameterValue("missing WebIdentityToken")
        requested = _duration_parameter(params.get("DurationSeconds"))
        role = await self._find_role(role_arn)
        verified = await self.verifier.verify(token, role)
        try:
            credentials = mint_credentials(
                role, verified, duration_seconds=session_duration(role, requested)
            )
        except ScopeTemplateError as exc:
            raise InvalidIdentityToken(str(exc)) from exc
        logger.info(
            "request %s: issued %s for role %s to subject %r, expiring %s",
            request.request_id, credentials.access_key_id, role.role_id, verified.subject,
            credentials.expiration.isoformat(),
        )  # fmt: skip
        body = assume_role_with_web_identity_xml(
            credentials=credentials,
            sealed_session_token=self.token_key.seal(credentials),
            subject=verified.subject,
            audience=verified.audience,
            provider=verified.issuer,
            request_id=request.request_id,
        )
        return _xml_response(200, body, request.request_id)

    async def get_caller_identity(self, request: RequestInfo) -> Response:
        try:
            authentication = await self.identities.authenticate(request)
        except S3Error as error:
            code = _CALLER_ERROR_CODES.get(error.code, error.code)
            raise CallerAuthenticationFailed(
                code, error.public_message, status=error.status
            ) from error
        identity = authentication.identity
        if identity.is_anonymous:
            raise MissingAuthenticationToken()
        principal = identity.principal or ""
        if identity.role_id is not None:
            arn = f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{identity.role_id}/{principal}"
            user_id = f"{identity.role_id}:{principal}"
        else:
            arn = f"arn:aws:iam::{ACCOUNT_ID}:user/{principal}"
            user_id = identity.access_key_id or principal
        body = get_caller_identity_xml(
            arn=arn, user_id=user_id, account=ACCOUNT_ID, request_id=request.request_id
        )
        return _xml_response(200, body, request.request_id)

    async def _find_role(self, role_arn: str) -> RoleConfig:
        role = await self.credentials.get_role(role_arn)
        if role is None and role_arn.startswith("arn:"):
            # SDKs insist on an ARN; the role id is its last path segment
            # (arn:aws:iam::123456789012:role/path/ci-role → ci-role).
            role = await self.credentials.get_role(role_arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
        if role is None:
            raise MalformedPolicyDocument(f"role not found: {role_arn[:200]}")
        return role

    def _error(self, request: RequestInfo, error: StsError) -> Response:
        if error.status >= 500:
            logger.error("request %s: STS %s: %s", request.request_id, error.code, error.message)
        else:
            logger.info("request %s: STS %s: %s", request.request_id, error.code, error.message)
        return _xml_response(error.status, error_xml(error, request_id=request.request_id),
                             request.request_id)  # fmt: skip


def sts_parameters(request: RequestInfo, *, at_root: bool) -> Mapping[str, str] | None:
    """The STS parameters of ``request``, or ``None`` when it is not an STS call.

    Raises :class:`InvalidParameterValue` for a form POST whose body the runtime did not
    collect (over 64 KiB, or no declared length): it may be an STS call we cannot read.
    At ``/`` only a bare ``POST /`` counts as such: a virtual-hosted S3 POST to ``/``
    always has a sub-resource query (``?delete``, ``?uploads``) and must reach S3 intact.
    """
    if "Action" in request.raw_query and "Action" in request.query:
        return request.query
    if request.form_body is not None:
        form = dict(parse_qsl(request.form_body.decode("utf-8", "replace"), keep_blank_values=True))
        return form if "Action" in form else None
    if request.method == "POST" and _is_form(request) and not (at_root and request.raw_query):
        raise InvalidParameterValue(
            "form body too large or unreadable: STS form bodies must declare a "
            "Content-Length of at most 64 KiB"
        )
    return None


def _is_form(request: RequestInfo) -> bool:
    content_type = request.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE


def _duration_parameter(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise InvalidParameterValue(
            f"DurationSeconds must be a number of seconds, got {value[:40]!r}"
        )
    return int(value)


def _xml_response(status: int, body: bytes, request_id: str) -> Response:
    headers = CIMultiDict({"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": request_id})
    return Response(status, headers, body)
