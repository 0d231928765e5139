"""STS errors: the codes and statuses AWS STS answers with, rendered in :mod:`multistore.sts.xml`.

STS is a query API with its own error document (``<ErrorResponse>``), not S3's ``<Error>``,
so it has its own small hierarchy. A 4xx message is meant for the caller; a 5xx message is
logged and replaced by a generic text.
"""

from __future__ import annotations

from typing import ClassVar


class StsError(Exception):
    # Plain class attributes (not ClassVar) so one generic subclass can set them per instance.
    code: str = "InternalFailure"
    status: int = 500
    default_message: ClassVar[str] = "An internal error occurred."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    @property
    def public_message(self) -> str:
        return self.default_message if self.status >= 500 else self.message

    @property
    def fault(self) -> str:
        """AWS's ``<Type>``: who is to blame."""
        return "Receiver" if self.status >= 500 else "Sender"


class InvalidParameterValue(StsError):
    code, status = "InvalidParameterValue", 400
    default_message = "An invalid or out-of-range value was supplied for the input parameter."


class InvalidAction(StsError):
    code, status = "InvalidAction", 400
    default_message = "The action or operation requested is invalid."


class MalformedPolicyDocument(StsError):
    """Upstream's (and so our) answer for a ``RoleArn`` that names no configured role."""

    code, status = "MalformedPolicyDocument", 400
    default_message = "The role does not exist."


class InvalidIdentityToken(StsError):
    code, status = "InvalidIdentityToken", 400
    default_message = "The web identity token that was passed could not be validated."


class AccessDenied(StsError):
    """The token is valid but the role's trust conditions refuse its subject: what AWS STS
    answers when a trust policy's ``sub`` condition does not hold (SDKs do not retry it)."""

    code, status = "AccessDenied", 403
    default_message = "Not authorized to perform sts:AssumeRoleWithWebIdentity"


class ExpiredTokenException(StsError):
    code, status = "ExpiredTokenException", 400
    default_message = "The web identity token that was passed is expired."


class IdpCommunicationError(StsError):
    """The issuer's discovery document or JWKS could not be fetched.

    AWS uses this code for an unreachable identity provider, and botocore retries it.
    """

    code, status = "IDPCommunicationError", 400
    default_message = "The identity provider could not be reached."


class MissingAuthenticationToken(StsError):
    code, status = "MissingAuthenticationToken", 403
    default_message = "Request is missing Authentication Token"


class CallerAuthenticationFailed(StsError):
    """A signed STS call (GetCallerIdentity) whose signature or credentials are refused."""

    def __init__(self, code: str, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class InternalFailure(StsError):
    """Anything the caller cannot fix (a misconfigured role, a bug); details are logged."""
