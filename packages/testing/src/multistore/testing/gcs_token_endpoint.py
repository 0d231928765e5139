"""A service account and its OAuth2 token endpoint on 127.0.0.1, for the GCS backend's auth.

The GCS emulator accepts any bearer token, so this endpoint is what proves the gateway's
service-account flow: it answers the JWT-bearer grant (RFC 7523) only for an assertion
signed by the account's private key, addressed to this endpoint and carrying the storage
scope, and it counts the tokens it issued.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(slots=True)
class TokenEndpoint:
    """Issues access tokens to one service account; ``key_file`` is its JSON key."""

    key_file: Path
    token_uri: str
    public_key: Any
    issued: list[str] = field(default_factory=list)
    # The User-Agent of each exchange, in the order of ``issued``: tells callers apart.
    issued_to: list[str] = field(default_factory=list)
    refused_to: list[str] = field(default_factory=list)  # the User-Agent of each refusal
    lifetime: int = 3600

    @property
    def refused(self) -> int:
        return len(self.refused_to)


class _Handler(BaseHTTPRequestHandler):
    endpoint: TokenEndpoint
    account: str

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        try:
            if form.get("grant_type") != [GRANT_TYPE]:
                raise jwt.InvalidTokenError("wrong grant type")
            claims = jwt.decode(
                form["assertion"][0],
                self.endpoint.public_key,
                algorithms=["RS256"],
                audience=self.endpoint.token_uri,
                issuer=self.account,
            )
            if "devstorage" not in str(claims.get("scope")):
                raise jwt.InvalidTokenError("no storage scope")
        except (jwt.InvalidTokenError, KeyError):
            self.endpoint.refused_to.append(self.headers.get("User-Agent") or "")
            self._answer(400, {"error": "invalid_grant"})
            return
        token = f"ya29.test-{secrets.token_hex(12)}"
        self.endpoint.issued.append(token)
        self.endpoint.issued_to.append(self.headers.get("User-Agent") or "")
        self._answer(
            200,
            {"access_token": token, "expires_in": self.endpoint.lifetime, "token_type": "Bearer"},
        )

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def running_token_endpoint(workdir: Path) -> Iterator[TokenEndpoint]:
    """A fresh RSA service account, its JSON key file, and its token endpoint."""
    workdir.mkdir(parents=True, exist_ok=True)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = "gateway@multistore-test.iam.gserviceaccount.com"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    token_uri = f"http://127.0.0.1:{server.server_address[1]}/token"
    key_file = workdir / "service-account.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": account,
                "private_key_id": secrets.token_hex(20),
                "private_key": pem,
                "token_uri": token_uri,
            }
        )
    )
    endpoint = TokenEndpoint(key_file, token_uri, private_key.public_key())
    handler = type("Handler", (_Handler,), {"endpoint": endpoint, "account": account})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
