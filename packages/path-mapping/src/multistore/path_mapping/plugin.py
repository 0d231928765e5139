"""The ``multistore.request_mappers`` entry point: ``[path_mapping]`` options → ``PathMapper``."""

from __future__ import annotations

from collections.abc import Mapping

from multistore.core.registry import BucketRegistry
from multistore.path_mapping.mapper import PathMapper
from multistore.path_mapping.mapping import PathMapping

OPTION_KEYS = frozenset(
    {"enabled", "bucket_segments", "bucket_separator", "display_bucket_segments"}
)


def mapping_from_options(options: Mapping[str, object]) -> PathMapping:
    """Read a ``[path_mapping]`` table; every problem is reported at once as a ``ValueError``."""
    problems = [
        f"[path_mapping] has an unknown key {key!r}" for key in options if key not in OPTION_KEYS
    ]
    values: dict[str, object] = {}
    for key in ("bucket_segments", "display_bucket_segments"):
        if key in options:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"[path_mapping] {key} must be an integer, got {value!r}")
            else:
                values[key] = value
    if "bucket_separator" in options:
        separator = options["bucket_separator"]
        if not isinstance(separator, str):
            problems.append(f"[path_mapping] bucket_separator must be a string, got {separator!r}")
        else:
            values["bucket_separator"] = separator
    if problems:
        raise ValueError("; ".join(problems))
    try:
        return PathMapping(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ValueError(f"[path_mapping] {exc}") from None


def create(options: Mapping[str, object], buckets: BucketRegistry) -> PathMapper:
    """Entry point: the mapper (and its ``MappedRegistry``) over the configured buckets."""
    return PathMapper(mapping_from_options(options), buckets)


__all__ = ["OPTION_KEYS", "create", "mapping_from_options"]
