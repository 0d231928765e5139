"""How the gateway authenticates to Azure Blob Storage: Shared Key, SAS token, or nothing.

Shared Key is an HMAC-SHA256 over a canonical form of the request (the "2009-09-19 and
later" string-to-sign). It is small enough to own: a few string joins and one HMAC per
request (bench/azure_signing.py measures it), where the vendor SDK would bring its own HTTP
stack and several megabytes of dependencies (packages/azure/README.md has the figures).
A SAS token is appended to every request's query; an anonymous container needs neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, MutableMapping
from email.utils import formatdate
from typing import Protocol
from urllib.parse import parse_qsl

# The headers of the string-to-sign, in order, before the canonicalized x-ms-* headers.
_STANDARD_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)


class Authenticator(Protocol):
    def authenticate(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: MutableMapping[str, str],
    ) -> list[tuple[str, str]]:
        """Add what proves the request to ``headers``; returns the query to send."""
        ...


class Anonymous:
    """A public container: requests go out as they are."""

    def authenticate(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: MutableMapping[str, str],
    ) -> list[tuple[str, str]]:
        return query


class SasToken:
    """A shared access signature: its parameters ride along on every request's query."""

    def __init__(self, token: str) -> None:
        self.parameters = parse_qsl(token.lstrip("?"), keep_blank_values=True)
        if not any(name == "sig" for name, _ in self.parameters):
            raise ValueError("a SAS token must contain a sig= parameter")

    def authenticate(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: MutableMapping[str, str],
    ) -> list[tuple[str, str]]:
        return [*query, *self.parameters]


class SharedKey:
    """Shared Key authorization with the account's base64 access key."""

    def __init__(self, account_name: str, access_key: str) -> None:
        try:
            self._key = base64.b64decode(access_key, validate=True)
        except ValueError as exc:
            raise ValueError("access_key must be the account key in base64") from exc
        self.account_name = account_name

    def authenticate(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: MutableMapping[str, str],
    ) -> list[tuple[str, str]]:
        if "x-ms-date" not in headers:
            headers["x-ms-date"] = formatdate(usegmt=True)
        headers["authorization"] = self.authorization(method, path, query, headers)
        return query

    def authorization(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        headers: Mapping[str, str],
    ) -> str:
        signature = hmac.new(
            self._key, string_to_sign(self.account_name, method, path, query, headers).encode(),
            hashlib.sha256,
        ).digest()  # fmt: skip
        return f"SharedKey {self.account_name}:{base64.b64encode(signature).decode()}"


def string_to_sign(
    account_name: str,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    headers: Mapping[str, str],
) -> str:
    """The Shared Key string-to-sign. ``path`` is the wire (percent-encoded) path, ``query``
    the decoded parameters and ``headers`` use lower-case names."""
    lines = [method]
    for name in _STANDARD_HEADERS:
        value = headers.get(name, "")
        # Since version 2015-02-21 a zero Content-Length is signed as the empty string.
        lines.append("" if name == "content-length" and value == "0" else value)
    ms_headers = sorted(
        (name, " ".join(value.split()))
        for name, value in headers.items()
        if name.startswith("x-ms-")
    )
    lines.extend(f"{name}:{value}" for name, value in ms_headers)
    resource = f"/{account_name}{path}"
    grouped: dict[str, list[str]] = {}
    for name, value in query:
        grouped.setdefault(name.lower(), []).append(value)
    resource += "".join(
        f"\n{name}:{','.join(sorted(values))}" for name, values in sorted(grouped.items())
    )
    lines.append(resource)
    return "\n".join(lines)
