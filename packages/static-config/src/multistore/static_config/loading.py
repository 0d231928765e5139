"""Reading a config file or string: TOML by default, JSON for a ``.json`` file."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from multistore.static_config._reader import quote
from multistore.static_config.errors import ConfigError
from multistore.static_config.model import StaticConfig
from multistore.static_config.schema import parse_config


def load_config(path: str | Path) -> StaticConfig:
    """Read, parse and validate a config file (``.json`` → JSON, anything else → TOML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"cannot read config file {path}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"config file {path} is not valid UTF-8"]) from None
    if path.suffix == ".json":
        return from_json(text)
    return from_toml(text)


def from_toml(text: str) -> StaticConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message gives line and column, never the offending text; the
        # exception is not chained so the document (and its secrets) is not kept alive.
        raise ConfigError([f"invalid TOML: {exc}"]) from None
    return parse_config(data)


def from_json(text: str) -> StaticConfig:
    try:
        data = json.loads(text, object_pairs_hook=_object_without_duplicate_keys)
    except json.JSONDecodeError as exc:
        # JSONDecodeError carries the whole document in `.doc`; do not chain it.
        raise ConfigError(
            [f"invalid JSON: {exc.msg} (at line {exc.lineno}, column {exc.colno})"]
        ) from None
    except _DuplicateKeyError as exc:
        raise ConfigError([f"invalid JSON: duplicate key {quote(exc.key)}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(["the configuration must be a JSON object"])
    return parse_config(data)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # json.loads keeps the last of two equal keys; TOML rejects them, and so do we, because
    # a second "buckets" silently replacing the first is never what the author meant.
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result
