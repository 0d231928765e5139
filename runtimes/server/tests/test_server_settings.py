"""Where server settings come from: flags, then MULTISTORE_* variables, then [server]."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multistore.server.settings import load_settings, parse_size


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(
        '[server]\nlisten = "127.0.0.1:9001"\ndomain = "s3.example"\nworkers = 3\n'
        "max_object_size = 1048576\n"
    )
    return path


def test_config_table_applies_when_nothing_else_says(tmp_path: Path) -> None:
    settings = load_settings(["--config", str(write_config(tmp_path))], env={})
    assert (settings.host, settings.port) == ("127.0.0.1", 9001)
    assert settings.domain == "s3.example"
    assert settings.workers == 3
    assert settings.max_object_size == 1 << 20


def test_environment_beats_config_and_flags_beat_both(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    env = {"MULTISTORE_LISTEN": "127.0.0.1:9002", "MULTISTORE_WORKERS": "2"}
    from_env = load_settings(["--config", config], env=env)
    assert (from_env.port, from_env.workers) == (9002, 2)
    from_flags = load_settings(
        ["--config", config, "--listen", "0.0.0.0:9003", "--workers", "1"], env=env
    )
    assert (from_flags.host, from_flags.port, from_flags.workers) == ("0.0.0.0", 9003, 1)


def test_defaults_without_config() -> None:
    settings = load_settings([], env={})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.workers >= 1
    assert settings.config is None
    assert settings.log_level == "INFO"


def test_sizes() -> None:
    assert parse_size("5GiB") == 5 << 30
    assert parse_size("100MiB") == 100 << 20
    assert parse_size("1024") == 1024


def test_one_worker_per_cpu_unless_asked() -> None:
    assert load_settings([], env={}).workers == (os.cpu_count() or 1)
    assert load_settings(["--workers", "0"], env={}).workers == (os.cpu_count() or 1)
    assert load_settings(["--workers", "1"], env={}).workers == 1


def test_a_relative_config_is_resolved_where_the_server_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(tmp_path)
    monkeypatch.chdir(tmp_path)
    settings = load_settings(["--config", "gateway.toml"], env={})
    assert settings.config == tmp_path / "gateway.toml"
    assert settings.port == 9001


def test_operational_limits_and_log_format_from_variables_and_flags() -> None:
    defaults = load_settings([], env={})
    assert (defaults.header_timeout, defaults.keepalive_timeout, defaults.body_timeout) == (
        30.0, 75.0, 60.0,
    )  # fmt: skip
    assert (defaults.max_connections, defaults.log_format) == (1024, "text")
    env = {
        "MULTISTORE_HEADER_TIMEOUT": "5", "MULTISTORE_KEEPALIVE_TIMEOUT": "10",
        "MULTISTORE_BODY_TIMEOUT": "20", "MULTISTORE_MAX_CONNECTIONS": "7",
        "MULTISTORE_LOG_FORMAT": "json",
    }  # fmt: skip
    from_env = load_settings([], env=env)
    assert (from_env.header_timeout, from_env.keepalive_timeout, from_env.body_timeout) == (
        5.0, 10.0, 20.0,
    )  # fmt: skip
    assert (from_env.max_connections, from_env.log_format) == (7, "json")
    from_flags = load_settings(["--max-connections", "9", "--log-format", "text"], env=env)
    assert (from_flags.max_connections, from_flags.log_format) == (9, "text")


def test_stale_upload_age() -> None:
    assert load_settings([], env={}).stale_upload_age == 7 * 86400
    assert load_settings(["--stale-upload-age", "12h"], env={}).stale_upload_age == 43200
    assert load_settings([], env={"MULTISTORE_STALE_UPLOAD_AGE": "0"}).stale_upload_age == 0
