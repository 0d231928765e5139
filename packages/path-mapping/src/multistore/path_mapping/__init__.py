"""Hierarchical addresses (``/{account}/{product}/{key}``) over flat virtual buckets."""

from __future__ import annotations

from multistore.path_mapping.mapper import PathMapper
from multistore.path_mapping.mapping import MappedPath, PathMapping, RewrittenRequest
from multistore.path_mapping.plugin import create, mapping_from_options
from multistore.path_mapping.registry import MappedRegistry

__all__ = [
    "MappedPath",
    "MappedRegistry",
    "PathMapper",
    "PathMapping",
    "RewrittenRequest",
    "create",
    "mapping_from_options",
]
