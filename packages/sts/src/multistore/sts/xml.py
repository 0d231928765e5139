"""STS response documents, shaped as AWS STS (API version 2011-06-15) shapes them.

boto3 and aws-cli parse these with the STS query protocol: the result element is
``<{Action}Result>`` inside ``<{Action}Response>``, errors are ``<ErrorResponse><Error>``.
Every text node is escaped: claims such as ``sub`` are chosen by the token's holder and
end up in messages.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from multistore.core.config import TemporaryCredentials
from multistore.sts.errors import StsError
from multistore.sts.token_key import format_expiration

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
CONTENT_TYPE = "text/xml"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _element(name: str, text: str) -> str:
    return f"<{name}>{escape(text)}</{name}>"


def _response(action: str, result: str, request_id: str) -> bytes:
    return (
        f'{_DECLARATION}<{action}Response xmlns="{STS_NAMESPACE}">'
        f"<{action}Result>{result}</{action}Result>"
        f"<ResponseMetadata>{_element('RequestId', request_id)}</ResponseMetadata>"
        f"</{action}Response>"
    ).encode()


def assume_role_with_web_identity_xml(
    *,
    credentials: TemporaryCredentials,
    sealed_session_token: str,
    subject: str,
    audience: str,
    provider: str,
    request_id: str,
) -> bytes:
    role_id = credentials.assumed_role_id
    result = (
        "<Credentials>"
        + _element("AccessKeyId", credentials.access_key_id)
        + _element("SecretAccessKey", credentials.secret_access_key)
        + _element("SessionToken", sealed_session_token)
        + _element("Expiration", format_expiration(credentials.expiration))
        + "</Credentials>"
        + _element("SubjectFromWebIdentityToken", subject)
        + "<AssumedRoleUser>"
        + _element("AssumedRoleId", role_id)
        + _element("Arn", role_id)
        + "</AssumedRoleUser>"
        + _element("Provider", provider)
        + _element("Audience", audience)
    )
    return _response("AssumeRoleWithWebIdentity", result, request_id)


def get_caller_identity_xml(*, arn: str, user_id: str, account: str, request_id: str) -> bytes:
    result = _element("Arn", arn) + _element("UserId", user_id) + _element("Account", account)
    return _response("GetCallerIdentity", result, request_id)


def error_xml(error: StsError, *, request_id: str) -> bytes:
    return (
        f'{_DECLARATION}<ErrorResponse xmlns="{STS_NAMESPACE}"><Error>'
        f"{_element('Type', error.fault)}{_element('Code', error.code)}"
        f"{_element('Message', error.public_message)}</Error>"
        f"{_element('RequestId', request_id)}</ErrorResponse>"
    ).encode()
