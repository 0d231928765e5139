"""The optional ``[server]`` table: runtime settings that command-line flags override.

Every field is optional; ``None`` means "not set here", so the runtime can layer
flags > environment > this table > built-in defaults without guessing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from multistore.static_config._reader import TableReader, quote

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")

SERVER_KEYS = frozenset(
    {
        "listen",
        "domain",
        "workers",
        "tls_cert",
        "tls_key",
        "max_object_size",
        "trusted_proxies",
        "cors_origins",
        "log_level",
    }
)


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Runtime settings from the config file; command-line flags win over every field."""

    listen: str | None = None
    """``HOST:PORT`` to bind (``[::1]:8080`` for IPv6, ``:8080`` for every interface)."""
    domain: str | None = None
    """Enables virtual-hosted-style addressing: ``Host: {bucket}.{domain}``."""
    workers: int | None = None
    """Number of worker processes sharing the listening socket."""
    tls_cert: str | None = None
    """Path of a PEM certificate chain; TLS is on when both it and ``tls_key`` are set."""
    tls_key: str | None = None
    """Path of the PEM private key for ``tls_cert``."""
    max_object_size: int | None = None
    """Largest request body accepted for one object or part, in bytes."""
    trusted_proxies: tuple[str, ...] | None = None
    """Peers (IP addresses or CIDR networks) whose ``X-Forwarded-*``/``Forwarded`` are believed."""
    cors_origins: tuple[str, ...] | None = None
    """Origins allowed for every bucket that sets no ``cors_origins`` of its own."""
    log_level: str | None = None
    """One of ``debug``, ``info``, ``warning``, ``error``, ``critical`` (lower case)."""


def parse_server_settings(table: TableReader | None) -> ServerSettings:
    if table is None:
        return ServerSettings()
    table.warn_unknown(SERVER_KEYS)
    listen = table.optional_str("listen")
    if listen is not None and not _is_host_port(listen):
        table.problem(
            f"{table.path_of('listen')}: {quote(listen)} is not HOST:PORT "
            '(e.g. "0.0.0.0:8080" or "[::]:8080")'
        )
    trusted_proxies = _networks(table, "trusted_proxies")
    log_level = table.optional_str("log_level")
    if log_level is not None:
        log_level = log_level.lower()
        if log_level not in LOG_LEVELS:
            table.field_problem("log_level", f"must be one of {', '.join(LOG_LEVELS)}")
    tls_cert = table.optional_str("tls_cert")
    tls_key = table.optional_str("tls_key")
    if (tls_cert is None) != (tls_key is None):
        table.problem(f"{table.path or 'server'}: tls_cert and tls_key must be given together")
    return ServerSettings(
        listen=listen,
        domain=table.optional_str("domain"),
        workers=table.optional_int("workers", minimum=1),
        tls_cert=tls_cert,
        tls_key=tls_key,
        max_object_size=table.optional_int("max_object_size", minimum=1),
        trusted_proxies=trusted_proxies,
        cors_origins=table.origins("cors_origins"),
        log_level=log_level,
    )


def _is_host_port(text: str) -> bool:
    # An empty host (":8080") means every interface, as for the --listen flag.
    host, separator, port = text.rpartition(":")
    if not separator or not port.isdigit():
        return False
    if host.startswith("[") != host.endswith("]"):
        return False
    return 0 <= int(port) <= 65535


def _networks(table: TableReader, key: str) -> tuple[str, ...] | None:
    if not table.has(key):
        return None
    entries = table.indexed_strs(key, table.raw(key))
    for index, entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            table.problem(
                f"{table.path_of(key)}[{index}]: {quote(entry)} is not an IP address or network"
            )
    return tuple(entry for _, entry in entries)
