"""Checks made once, in the main process, before any worker starts.

A mistake found here is one ``cannot start:`` line; found in the workers it would be one
traceback per worker.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl

from multistore.server.settings import ServerSettings


class StartupError(Exception):
    """The server cannot start as configured; the message names the value at fault."""


def ssl_context(settings: ServerSettings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


def check_tls_files(settings: ServerSettings) -> None:
    for flag, path in (("--tls-cert", settings.tls_cert), ("--tls-key", settings.tls_key)):
        if path is None:
            continue
        try:
            path.open("rb").close()
        except OSError as exc:
            raise StartupError(f"{flag} {path}: {exc.strerror or exc}") from None
    try:
        ssl_context(settings)
    except ssl.SSLError as exc:
        raise StartupError(
            f"--tls-cert {settings.tls_cert} and --tls-key {settings.tls_key} are not a PEM "
            f"certificate chain and its private key ({exc.reason or exc})"
        ) from None


def check_address_free(host: str, port: int) -> None:
    """Refuse an address that another process is listening on.

    Workers share the port with ``SO_REUSEPORT``, which the kernel would also let a second,
    unrelated gateway of the same user join, splitting the traffic between the two. This
    probe binds without ``SO_REUSEPORT``, which fails while anyone listens there; only once
    it has passed do the workers bind with it.
    """
    try:
        addresses = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise StartupError(f"--listen {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            if os.name == "posix":
                # A connection of an earlier run in TIME_WAIT does not hold the port.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # as asyncio binds
            try:
                probe.bind(address)
            except OSError as exc:
                raise StartupError(listen_failure(host, port, exc)) from None


def listen_failure(host: str, port: int, exc: OSError) -> str:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is already in use by another process"
    return f"cannot listen on {where}: {exc.strerror or exc}"


def preflight(settings: ServerSettings) -> None:
    check_tls_files(settings)
    check_address_free(settings.host, settings.port)
