"""Exceptions users can act on.

Every failure that comes from user input is a :class:`ClustersimError`; the CLI turns it into a
one-screen message and exit code 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ClustersimError", "ScenarioError", "ErrorItem", "InfeasibleError", "SimulationError", "visible"]


class ClustersimError(Exception):
    """Base class of every error clustersim raises on purpose."""


@dataclass(frozen=True)
class ErrorItem:
    """One problem in one place of a file: where, which field, what was given, what was expected."""

    message: str
    path: str = ""  # dotted field path, e.g. "cluster.nodes"
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    given: str | None = None
    expected: str | None = None
    hint: str | None = None

    def render(self, filename: str | None) -> str:
        where = filename or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        head = f"{where}: "
        if self.path:
            head += f"{self.path}: "
        parts = [head + self.message]
        if self.given is not None:
            parts.append(f"    given: {self.given}")
        if self.expected is not None:
            parts.append(f"    expected: {self.expected}")
        if self.hint:
            parts.append(f"    hint: {self.hint}")
        return "\n".join(parts)


class ScenarioError(ClustersimError):
    """A scenario (or sweep) file is malformed or invalid. Carries every problem found, not just the first."""

    def __init__(self, items: list[ErrorItem] | ErrorItem | str, filename: str | None = None):
        if isinstance(items, str):
            items = [ErrorItem(items)]
        elif isinstance(items, ErrorItem):
            items = [items]
        self.items: list[ErrorItem] = list(items)
        self.filename = filename
        super().__init__(self.render())

    def render(self, max_items: int = 20) -> str:
        shown = self.items[:max_items]
        text = "\n".join(item.render(self.filename) for item in shown)
        if len(self.items) > max_items:
            text += f"\n... and {len(self.items) - max_items} more errors"
        return text

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.render()


class InfeasibleError(ClustersimError):
    """A configuration cannot run (does not fit in memory, no valid parallelism, cannot finish)."""


class SimulationError(ClustersimError):
    """The simulation could not complete as asked (e.g. the job can never finish)."""


# C0 and C1 control characters except tab and newline (ESC starts terminal sequences; CR and BS overwrite
# what was printed), DEL, and the Unicode bidirectional controls that reorder what a terminal shows
# (the "Trojan Source" characters, CVE-2021-42574).
_CONTROL = re.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character written as its escape (ESC as ``\\x1b``): user text printed
    to a terminal shows as itself and cannot move the cursor, recolour or retitle the terminal."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
