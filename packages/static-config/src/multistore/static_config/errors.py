"""The single exception a config file can raise: every problem found, in one message."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """The configuration is invalid.

    All problems are collected before raising, so one run of the gateway tells the operator
    everything that is wrong. Messages name paths and ids, never secret values.
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("; ".join(self.problems))
