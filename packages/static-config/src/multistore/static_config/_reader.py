"""Typed access to one table of a decoded TOML/JSON document, collecting problems by path.

Every accessor records what is wrong (with the dotted path of the offending value) and
returns a harmless placeholder, so parsing carries on and the operator sees every problem
at once. Problem messages never contain the value of a secret field.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import TypeGuard
from urllib.parse import urlsplit

from multistore.core.config import SECRET_OPTION_NAMES

logger = logging.getLogger("multistore.static_config")

# RFC 3339 date-time. Fractions may carry more than the six digits Python keeps: chrono
# (the Rust gateway) writes nanoseconds.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def quote(text: str) -> str:
    """Quote a name the way upstream's messages do (``"name"``, escapes visible)."""
    return json.dumps(text, ensure_ascii=False)


class Problems:
    """The problems found so far, in document order."""

    __slots__ = ("messages",)

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        self.messages.append(message)


class TableReader:
    """Reads fields of one table; ``path`` locates the table in the document."""

    __slots__ = ("_path", "_problems", "_table")

    def __init__(self, table: Mapping[str, object], path: str, problems: Problems) -> None:
        self._table = table
        self._path = path
        self._problems = problems

    @property
    def path(self) -> str:
        return self._path

    def path_of(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        return self._table.get(key) is not None

    def raw(self, key: str) -> object:
        """The undecoded value, ``None`` when absent.

        JSON ``null`` counts as absent, as it did for upstream's optional fields.
        """
        return self._table.get(key)

    def problem(self, message: str) -> None:
        self._problems.add(message)

    def field_problem(self, key: str, message: str) -> None:
        self._problems.add(f"{self.path_of(key)} {message}")

    def keys(self) -> list[str]:
        return list(self._table)

    def warn_unknown(self, known: frozenset[str]) -> None:
        """Log keys nobody reads: almost always a typo that would otherwise go unnoticed."""
        unknown = sorted(key for key in self._table if key not in known)
        if unknown:
            where = self._path or "the top level"
            logger.warning("ignoring unknown config keys at %s: %s", where, ", ".join(unknown))

    def required_str(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            self.field_problem(key, "is required")
            return None
        if not isinstance(value, str):
            self.field_problem(key, "must be a string")
            return None
        return value

    def optional_str(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.field_problem(key, "must be a string")
            return None
        return value

    def required_bool(self, key: str) -> bool:
        value = self.raw(key)
        if value is None:
            self.field_problem(key, "is required")
            return False
        return self._as_bool(key, value)

    def bool_with_default(self, key: str, *, default: bool) -> bool:
        value = self.raw(key)
        return default if value is None else self._as_bool(key, value)

    def _as_bool(self, key: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.field_problem(key, "must be a boolean (true or false)")
            return False
        return value

    def optional_int(self, key: str, *, minimum: int) -> int | None:
        value = self.raw(key)
        if value is None:
            return None
        # bool is an int subclass in Python; `true` is not a number in a config file.
        if not isinstance(value, int) or isinstance(value, bool):
            self.field_problem(key, "must be an integer")
            return None
        if value < minimum:
            self.field_problem(key, f"must be at least {minimum}")
            return None
        return value

    def str_list(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self.raw(key)
        if value is None:
            if required:
                self.field_problem(key, "is required (it may be an empty list)")
            return ()
        return self.as_str_list(key, value)

    def as_str_list(self, key: str, value: object) -> tuple[str, ...]:
        return tuple(item for _, item in self.indexed_strs(key, value))

    def indexed_strs(self, key: str, value: object) -> list[tuple[int, str]]:
        """The strings of a list with their positions, so later messages point at the item."""
        if not is_list(value):
            self.field_problem(key, "must be a list of strings")
            return []
        items: list[tuple[int, str]] = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                items.append((index, item))
            else:
                self.problem(f"{self.path_of(key)}[{index}] must be a string")
        return items

    def origins(self, key: str) -> tuple[str, ...] | None:
        """CORS origins: ``"*"`` or ``scheme://host[:port]``, compared verbatim with ``Origin``."""
        value = self.raw(key)
        if value is None:
            return None
        origins = self.indexed_strs(key, value)
        for index, origin in origins:
            if origin != "*" and not _is_origin(origin):
                self.problem(
                    f"{self.path_of(key)}[{index}]: {quote(origin)} is not an origin "
                    '(expected "*" or scheme://host[:port] with no path or trailing slash)'
                )
        return tuple(origin for _, origin in origins)

    def tables(self, key: str) -> list[TableReader]:
        """An array of tables (``[[buckets]]`` in TOML, a list of objects in JSON)."""
        value = self.raw(key)
        if value is None:
            return []
        if not is_list(value):
            self.field_problem(key, "must be a list of tables")
            return []
        readers: list[TableReader] = []
        for index, item in enumerate(value):
            item_path = f"{self.path_of(key)}[{index}]"
            if isinstance(item, Mapping):
                readers.append(TableReader(item, item_path, self._problems))
            else:
                self.problem(f"{item_path} must be a table")
        return readers

    def table(self, key: str) -> TableReader | None:
        value = self.raw(key)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.field_problem(key, "must be a table")
            return None
        return TableReader(value, self.path_of(key), self._problems)

    def string_map(self, key: str) -> dict[str, str]:
        """A table whose values must all be strings (upstream's ``HashMap<String, String>``)."""
        value = self.raw(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.field_problem(key, "must be a table of strings")
            return {}
        result: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, str):
                result[str(name)] = item
            else:
                self.problem(
                    f"{self.path_of(key)}.{name} must be a string{_quoting_hint(str(name), item)}"
                )
        return result

    def timestamp(self, key: str) -> datetime | None:
        """An RFC 3339 timestamp with an offset, as a string or a native TOML datetime."""
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                self.field_problem(key, "must include a timezone offset (e.g. Z)")
                return None
            return value
        if isinstance(value, str):
            parsed = parse_rfc3339(value)
            if parsed is None:
                self.problem(
                    f"{self.path_of(key)}: {quote(value)} is not an RFC 3339 timestamp "
                    '(e.g. "2024-01-01T00:00:00Z")'
                )
            return parsed
        self.field_problem(key, 'must be an RFC 3339 timestamp (e.g. "2024-01-01T00:00:00Z")')
        return None


def is_list(value: object) -> TypeGuard[Sequence[object]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def _is_origin(text: str) -> bool:
    # A browser's Origin header never has a path, so "https://example.com/" would never match.
    parts = urlsplit(text)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not parts.path
        and not parts.query
        and not parts.fragment
        and "@" not in parts.netloc
    )


def _quoting_hint(name: str, value: object) -> str:
    """Tell the user how to write a scalar as a string; TOML users write `= true` by habit."""
    if name in SECRET_OPTION_NAMES:
        return ""
    if isinstance(value, bool):
        return f' (write "{str(value).lower()}")'
    if isinstance(value, int | float):
        return f' (write "{value}")'
    return ""


def parse_rfc3339(text: str) -> datetime | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction, zulu, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10, 11)
    microsecond = int((fraction or "")[:6].ljust(6, "0"))
    if zulu:
        tz: timezone = UTC
    else:
        offset = timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
    except ValueError:  # e.g. February 30th or second 60
        return None
