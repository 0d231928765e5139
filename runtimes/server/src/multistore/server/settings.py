"""Server settings: command line flags, each also readable from a ``MULTISTORE_*`` variable."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_LISTEN = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    config: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    domain: str | None = None
    workers: int = 1
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: str = "INFO"
    max_object_size: int | None = None
    data_dir: Path = Path("multistore-data")
    shutdown_timeout: float = 30.0
    debug_errors: bool = False
    cors_origins: tuple[str, ...] = ()
    """The config's ``[server] cors_origins``: for buckets that set none of their own."""
    header_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    body_timeout: float = 60.0
    max_connections: int = 1024
    """Per worker."""
    log_format: str = "text"
    """``text`` or ``json`` (one object per line), for the access and application logs."""
    metrics_dir: Path | None = None
    """Set by the supervisor for its workers: where they share their metrics snapshots."""
    path_mapping: bool = False
    """``--path-mapping``: hierarchical addresses even without a ``[path_mapping]`` table."""

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--listen must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def parse_size(value: str) -> int:
    """``5368709120``, ``5GiB``, ``100MiB``, ``1G`` → bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    text = value.strip().lower().removesuffix("ib").removesuffix("b")
    factor = units.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in units else text
    if not number.isdigit():
        raise argparse.ArgumentTypeError(f"not a size: {value!r}")
    return int(number) * factor


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    def default(name: str, fallback: str | None = None) -> str | None:
        return env.get(f"MULTISTORE_{name}", fallback)

    parser = argparse.ArgumentParser(
        prog="multistore-server",
        description="S3-compatible gateway. Every flag can also be set as MULTISTORE_<FLAG>.",
    )
    parser.add_argument(
        "--config",
        default=default("CONFIG"),
        help="TOML or JSON config file; "
        "without one the gateway serves a demo bucket from --data-dir",
    )
    parser.add_argument("--listen", default=default("LISTEN"), help=f"HOST:PORT ({DEFAULT_LISTEN})")
    parser.add_argument(
        "--domain",
        default=default("DOMAIN"),
        help="base domain for virtual-hosted bucket addressing",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(default("WORKERS") or 0) or None,
        help="worker processes sharing the port (0 = one per CPU)",
    )
    parser.add_argument("--tls-cert", default=default("TLS_CERT"))
    parser.add_argument("--tls-key", default=default("TLS_KEY"))
    parser.add_argument("--log-level", default=default("LOG_LEVEL", env.get("LOG_LEVEL")))
    parser.add_argument(
        "--max-object-size",
        type=parse_size,
        default=default("MAX_OBJECT_SIZE"),
        help="largest accepted upload, e.g. 5GiB",
    )
    parser.add_argument(
        "--data-dir",
        default=default("DATA_DIR", "multistore-data"),
        help="directory of the demo bucket when no --config is given",
    )
    parser.add_argument(
        "--path-mapping",
        action="store_true",
        default=default("PATH_MAPPING", "") in ("1", "true"),
        help="serve /{account}/{product}/{key} over buckets named account--product "
        "(needs multistore-path-mapping; options in the config's [path_mapping] table)",
    )
    parser.add_argument(
        "--shutdown-timeout", type=float, default=float(default("SHUTDOWN_TIMEOUT", "30") or 30)
    )
    _add_connection_flags(parser, default)
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=default("LOG_FORMAT", "text"),
        help="text lines (the default) or one JSON object per line",
    )
    return parser


def _add_connection_flags(
    parser: argparse.ArgumentParser, default: Callable[[str, str], str | None]
) -> None:
    """Per-connection limits (docs/deployment.md, Connections and timeouts)."""
    group = parser.add_argument_group("connections")
    group.add_argument(
        "--header-timeout",
        type=float,
        default=default("HEADER_TIMEOUT", "30"),
        help="seconds for a client to send a complete request head (30)",
    )
    group.add_argument(
        "--keepalive-timeout",
        type=float,
        default=default("KEEPALIVE_TIMEOUT", "75"),
        help="seconds an idle kept-alive connection stays open (75)",
    )
    group.add_argument(
        "--body-timeout",
        type=float,
        default=default("BODY_TIMEOUT", "60"),
        help="seconds an upload may send nothing before it is cut off (60)",
    )
    group.add_argument(
        "--max-connections",
        type=int,
        default=default("MAX_CONNECTIONS", "1024"),
        help="open client connections per worker; more are refused with 503 (1024)",
    )


def load_settings(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> ServerSettings:
    """Flags win over ``MULTISTORE_*`` variables, which win over the config's ``[server]``."""
    env = os.environ if env is None else env
    parser = build_parser(env)
    args = parser.parse_args(argv)
    table = _server_table(Path(args.config)) if args.config else None

    def pick(flag: object, name: str) -> Any:
        return flag if flag is not None else getattr(table, name, None)

    host, port = parse_listen(pick(args.listen, "listen") or DEFAULT_LISTEN)
    tls_cert, tls_key = pick(args.tls_cert, "tls_cert"), pick(args.tls_key, "tls_key")
    if bool(tls_cert) != bool(tls_key):
        parser.error("--tls-cert and --tls-key go together")
    max_size = pick(args.max_object_size, "max_object_size")
    if isinstance(max_size, str):
        max_size = parse_size(max_size)
    workers = pick(args.workers, "workers") or os.cpu_count() or 1
    if args.log_format not in ("text", "json"):  # from MULTISTORE_LOG_FORMAT: not checked
        parser.error(f"--log-format must be text or json, got {args.log_format!r}")
    return ServerSettings(
        config=Path(args.config) if args.config else None,
        host=host,
        port=port,
        domain=pick(args.domain, "domain") or None,
        workers=workers,
        tls_cert=Path(tls_cert) if tls_cert else None,
        tls_key=Path(tls_key) if tls_key else None,
        log_level=str(pick(args.log_level, "log_level") or "INFO").upper(),
        max_object_size=max_size,
        data_dir=Path(args.data_dir),
        shutdown_timeout=args.shutdown_timeout,
        debug_errors=env.get("MULTISTORE_DEBUG_ERRORS", "") == "1",
        cors_origins=tuple(getattr(table, "cors_origins", None) or ()),
        header_timeout=float(args.header_timeout),
        keepalive_timeout=float(args.keepalive_timeout),
        body_timeout=float(args.body_timeout),
        max_connections=int(args.max_connections),
        log_format=args.log_format,
        path_mapping=args.path_mapping,
    )


def _server_table(path: Path) -> Any:
    """The ``[server]`` table of the config file, or ``None`` if it cannot be read here.

    A broken file is reported properly when the gateway loads it; settings only need what
    can be read.
    """
    from multistore.static_config import ConfigError, load_config

    try:
        return load_config(path).server
    except (ConfigError, OSError):
        return None
