"""The client's real address behind reverse proxies: ``[server] trusted_proxies``.

``Forwarded`` and ``X-Forwarded-For`` are written by whoever sends the request, so they are
believed only when the connection comes from a trusted proxy. The list is then read right
to left, each hop added by the proxy before it; the first address that is not itself a
trusted proxy is the client. Anything to its left was written by the client and may be a lie.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

_FOR = re.compile(r'(?i)(?:^|;)\s*for\s*=\s*("[^"]*"|[^;,\s]*)')


def _address(hop: str) -> str | None:
    """The IP of one hop (``1.2.3.4``, ``1.2.3.4:80``, ``[::1]:80``, ``::1``), else ``None``."""
    hop = hop.strip().strip('"')
    if hop.startswith("["):
        hop = hop[1:].split("]", 1)[0]
    elif hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None  # "unknown", an obfuscated name (RFC 7239 §6.3), or garbage


def forwarded_hops(headers: Any) -> list[str]:
    """The hops of ``Forwarded`` (preferred, RFC 7239) or else ``X-Forwarded-For``, in order."""
    forwarded = headers.getall("Forwarded", [])
    if forwarded:
        return [m.group(1) for value in forwarded for m in _FOR.finditer(value.replace(",", ";"))]
    return [hop for value in headers.getall("X-Forwarded-For", []) for hop in value.split(",")]


class TrustedProxies:
    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_ip(self, peer: str | None, headers: Any) -> str | None:
        if peer is None or not self.trusts(peer):
            return peer
        client = peer
        for hop in reversed(forwarded_hops(headers)):
            address = _address(hop)
            if address is None:
                break  # unreadable: the nearest hop we could read is the best we know
            client = address
            if not self.trusts(address):
                break
        return client
