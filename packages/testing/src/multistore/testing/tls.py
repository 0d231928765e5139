"""A throwaway certificate authority and a server certificate for 127.0.0.1 / localhost."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
    )
    ca.cert_pem.write_to_path(str(files.ca_cert))
    cert.cert_chain_pems[0].write_to_path(str(files.server_cert))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(files.server_cert), append=True)
    cert.private_key_pem.write_to_path(str(files.server_key))
    return files
