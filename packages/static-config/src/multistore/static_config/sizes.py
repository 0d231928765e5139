"""Byte sizes as operators write them, shared by every runtime's settings."""

from __future__ import annotations

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(value: str) -> int:
    """``5368709120``, ``5GiB``, ``100MiB``, ``1G`` → bytes; ValueError for anything else."""
    text = value.strip().lower().removesuffix("ib").removesuffix("b")
    factor = _UNITS.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in _UNITS else text
    if not number.isdigit() or int(number) == 0:
        raise ValueError(f"must be a size such as 1048576, 100MiB or 5GiB, got {value!r}")
    return int(number) * factor
