"""Server settings: command line flags, each also readable from a ``MULTISTORE_*`` variable.

Values are checked here, before any worker starts, so a mistake is one ``cannot start:`` line
that names the flag (or variable) and the value, never a traceback per worker.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:8080"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """A flag, variable or ``[server]`` value the server cannot start with."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    config: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    domain: str | None = None
    workers: int = 1
    """Without a flag, variable or ``[server] workers``: one per CPU (load_settings)."""
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: str = "INFO"
    max_object_size: int | None = None
    data_dir: Path = Path("multistore-data")
    shutdown_timeout: float = 30.0
    debug_errors: bool = False
    cors_origins: tuple[str, ...] = ()
    """The config's ``[server] cors_origins``: for buckets that set none of their own."""
    trusted_proxies: tuple[str, ...] = ()
    """The config's ``[server] trusted_proxies``: peers whose forwarding headers are believed."""
    header_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    body_timeout: float = 60.0
    max_connections: int = 1024
    """Per worker."""
    stale_upload_age: float = 7 * 86400.0
    """Seconds after which an unfinished multipart upload of a ``file`` bucket is removed."""
    log_format: str = "text"
    """``text`` or ``json`` (one object per line), for the access and application logs."""
    shared_dir: Path | None = None
    """Set by the supervisor for its workers: metrics snapshots, the housekeeping lock."""
    path_mapping: bool = False
    """``--path-mapping``: hierarchical addresses even without a ``[path_mapping]`` table."""
    announce: bool = True
    """This process logs what it loaded and the config's warnings. The supervisor clears it
    for every worker but the first, so each such line appears once."""

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def server_version() -> str:
    try:
        return version("multistore-server")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"must be HOST:PORT (e.g. 127.0.0.1:8080 or :8080), got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def parse_size(value: str) -> int:
    """``5368709120``, ``5GiB``, ``100MiB``, ``1G`` → bytes."""
    from multistore.static_config.sizes import parse_size as parse

    try:
        return parse(value)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def parse_duration(value: str) -> float:
    """``604800``, ``7d``, ``12h``, ``30m``, ``45s`` → seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = value.strip().lower()
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    try:
        seconds = float(number) * factor
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses NaN
        raise SettingsError(f"must be a duration such as 7d, 12h, 30m or 45s, got {value!r}")
    return seconds


def _parse_workers(value: str) -> int:
    if not value.strip().isdigit():
        raise SettingsError(f"must be a whole number (0 = one per CPU), got {value!r}")
    return int(value) or os.cpu_count() or 1


def _parse_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # also refuses NaN
        raise SettingsError(f"must be a number of seconds, got {value!r}")
    return seconds


def _parse_count(value: str) -> int:
    if not value.strip().isdigit() or int(value) < 1:
        raise SettingsError(f"must be a whole number of at least 1, got {value!r}")
    return int(value)


def _parse_log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise SettingsError(f"must be {' or '.join(LOG_FORMATS)}, got {value!r}")
    return value


def _parse_log_level(value: str) -> str:
    if value.upper() not in LOG_LEVELS:
        raise SettingsError(f"must be one of {', '.join(LOG_LEVELS)} (any case), got {value!r}")
    return value.upper()


def build_parser() -> argparse.ArgumentParser:
    """Every flag defaults to ``None`` so that load_settings can tell "not given" apart and
    fall back to the variable, then the config's ``[server]`` table, then the default shown."""
    parser = argparse.ArgumentParser(
        prog="multistore-server",
        description="S3-compatible gateway. Every flag can also be set as MULTISTORE_<FLAG> "
        "(e.g. MULTISTORE_LISTEN); a flag wins over the variable, which wins over the "
        "config file's [server] table.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {server_version()}")
    flag = parser.add_argument
    flag(
        "--config",
        metavar="PATH",
        help="TOML config file, or JSON when the name ends in .json (default: none, demo "
        "mode: serves the bucket 'demo' from --data-dir)",
    )
    flag(
        "--listen",
        metavar="HOST:PORT",
        help=f"address to bind; ':8080' is every IPv4 interface, '[::]:8080' IPv6 "
        f"(default: {DEFAULT_LISTEN})",
    )
    flag(
        "--domain",
        metavar="DOMAIN",
        help="also accept virtual-hosted requests, Host: BUCKET.DOMAIN (default: none)",
    )
    flag(
        "--workers",
        metavar="N",
        help="worker processes sharing the port; 0 = one per CPU (default: one per CPU)",
    )
    flag(
        "--tls-cert",
        metavar="FILE",
        help="PEM certificate chain; serves HTTPS together with --tls-key (default: none)",
    )
    flag("--tls-key", metavar="FILE", help="PEM private key of --tls-cert (default: none)")
    flag(
        "--log-level",
        metavar="LEVEL",
        help=f"one of {', '.join(LOG_LEVELS)}; also read from LOG_LEVEL (default: INFO)",
    )
    flag(
        "--max-object-size",
        metavar="SIZE",
        help="largest accepted PutObject/UploadPart body, e.g. 5GiB (default: no limit)",
    )
    flag(
        "--data-dir",
        metavar="DIR",
        help="demo mode's data directory, unused with --config (default: multistore-data)",
    )
    flag(
        "--path-mapping",
        action="store_true",
        help="serve /{account}/{product}/{key} over buckets named account--product (needs "
        "multistore-path-mapping; options in the config's [path_mapping] table) (default: off)",
    )
    flag(
        "--shutdown-timeout",
        metavar="SECONDS",
        help="how long SIGTERM waits for in-flight requests to finish (default: 30)",
    )
    flag(
        "--stale-upload-age",
        metavar="AGE",
        help="remove unfinished multipart uploads of file buckets this old, e.g. 7d, 12h; "
        "0 = never (default: 7d)",
    )
    flag(
        "--log-format",
        metavar="FORMAT",
        help="text lines, or json: one JSON object per line (default: text)",
    )
    _add_connection_flags(parser)
    return parser


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """Per-connection limits (docs/deployment.md, Connections and timeouts)."""
    group = parser.add_argument_group("connections")
    flag = group.add_argument
    flag(
        "--header-timeout",
        metavar="SECONDS",
        help="seconds for a client to send a complete request head (default: 30)",
    )
    flag(
        "--keepalive-timeout",
        metavar="SECONDS",
        help="seconds an idle kept-alive connection stays open (default: 75)",
    )
    flag(
        "--body-timeout",
        metavar="SECONDS",
        help="seconds an upload may send nothing before it is cut off (default: 60)",
    )
    flag(
        "--max-connections",
        metavar="N",
        help="open client connections per worker; more are refused with 503 (default: 1024)",
    )


def load_settings(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> ServerSettings:
    """Flags win over ``MULTISTORE_*`` variables, which win over the config's ``[server]``.

    Raises ``SettingsError`` naming the flag (or variable) and the value it cannot use, and
    for a config file that cannot be loaded (so workers never start with it).
    """
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)

    def given(name: str, fallback_variable: str | None = None) -> tuple[str | None, str]:
        """The value from the command line or the environment, and where it came from."""
        flag = getattr(args, name.replace("-", "_"))
        if flag is not None:
            return flag, f"--{name}"
        for variable in (f"MULTISTORE_{name.replace('-', '_').upper()}", fallback_variable):
            if variable and env.get(variable):
                return env[variable], variable
        return None, f"--{name}"

    def checked(name: str, parse: Any, fallback_variable: str | None = None) -> Any:
        value, source = given(name, fallback_variable)
        if value is None:
            return None
        try:
            return parse(value)
        except SettingsError as exc:
            raise SettingsError(f"{source} {exc}") from None

    config_text, _ = given("config")
    config = Path(config_text).absolute() if config_text else None
    table = _server_table(config) if config else None

    def pick(value: Any, name: str) -> Any:
        return value if value is not None else getattr(table, name, None)

    listen = checked("listen", parse_listen)
    host, port = listen or parse_listen(getattr(table, "listen", None) or DEFAULT_LISTEN)
    tls_cert = pick(given("tls-cert")[0], "tls_cert")
    tls_key = pick(given("tls-key")[0], "tls_key")
    if bool(tls_cert) != bool(tls_key):
        raise SettingsError("--tls-cert and --tls-key go together: give both or neither")
    log_level = checked("log-level", _parse_log_level, "LOG_LEVEL")
    data_dir, _ = given("data-dir")
    timeout = checked("shutdown-timeout", _parse_seconds)

    def seconds(name: str, default: float, parse: Any = _parse_seconds) -> float:
        value = checked(name, parse)
        return default if value is None else float(value)

    return ServerSettings(
        config=config,
        host=host,
        port=port,
        domain=pick(given("domain")[0], "domain") or None,
        workers=pick(checked("workers", _parse_workers), "workers") or os.cpu_count() or 1,
        tls_cert=Path(tls_cert) if tls_cert else None,
        tls_key=Path(tls_key) if tls_key else None,
        log_level=log_level or str(getattr(table, "log_level", None) or "INFO").upper(),
        max_object_size=pick(checked("max-object-size", parse_size), "max_object_size"),
        data_dir=Path(data_dir or "multistore-data"),
        shutdown_timeout=30.0 if timeout is None else timeout,
        debug_errors=env.get("MULTISTORE_DEBUG_ERRORS", "") == "1",
        cors_origins=tuple(getattr(table, "cors_origins", None) or ()),
        trusted_proxies=tuple(getattr(table, "trusted_proxies", None) or ()),
        header_timeout=seconds("header-timeout", 30.0),
        keepalive_timeout=seconds("keepalive-timeout", 75.0),
        body_timeout=seconds("body-timeout", 60.0),
        max_connections=checked("max-connections", _parse_count) or 1024,
        log_format=checked("log-format", _parse_log_format) or "text",
        path_mapping=args.path_mapping
        or env.get("MULTISTORE_PATH_MAPPING", "").lower() in ("1", "true"),
        stale_upload_age=seconds("stale-upload-age", 7 * 86400.0, parse_duration),
    )


def _server_table(path: Path) -> Any:
    """The ``[server]`` table of the config file.

    A file that cannot be loaded stops startup here, once, before any worker exists. Its
    warnings (unknown keys) are left to the load that serves it, so they appear once.
    """
    from multistore.static_config import ConfigError, load_config

    try:
        with config_warnings_muted():
            return load_config(path).server
    except ConfigError as exc:
        raise SettingsError(f"{path}: {exc}") from None


def _drop_warnings(record: logging.LogRecord) -> bool:
    return record.levelno > logging.WARNING


def mute_config_warnings() -> None:
    """For the workers that do not announce: the first worker reports config warnings."""
    logging.getLogger("multistore.static_config").addFilter(_drop_warnings)


@contextmanager
def config_warnings_muted() -> Iterator[None]:
    config_logger = logging.getLogger("multistore.static_config")
    drop_warnings = _drop_warnings
    config_logger.addFilter(drop_warnings)
    try:
        yield
    finally:
        config_logger.removeFilter(drop_warnings)
