"""Fenced blocks of a Markdown page: find them, and rewrite one block's body in place.

A fence is a line starting with three backticks; its *info string* is the language word followed by
optional ``key=value`` attributes, e.g. ````` ```console exit=2 ````` or ````` ```yaml file=my.yaml `````.
GitHub highlights by the first word and ignores the rest, so the attributes cost readers nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Block", "parse_blocks", "replace_bodies"]

_FENCE = re.compile(r"^(?P<indent> {0,3})```(?P<info>[^`]*)$")
_SKIP_MARK = "<!-- docs: no-run -->"


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, attributes, body lines and where it sits in the file."""

    path: Path
    lang: str
    attrs: dict[str, str] = field(default_factory=dict)
    body: tuple[str, ...] = ()
    start: int = 0  # index of the opening fence line
    end: int = 0  # index of the closing fence line
    skip: bool = False  # preceded by <!-- docs: no-run -->

    @property
    def where(self) -> str:
        """``path:line`` of the opening fence (1-based), for error messages."""
        return f"{self.path}:{self.start + 1}"


def _info(text: str) -> tuple[str, dict[str, str]]:
    words = text.split()
    if not words:
        return "", {}
    attrs = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        attrs[key] = value if sep else "true"
    return words[0], attrs


def _previous_nonblank(lines: list[str], i: int) -> str:
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    return lines[j].strip() if j >= 0 else ""


def parse_blocks(path: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown file, in order (an unclosed fence is an error)."""
    lines = (text if text is not None else path.read_text(encoding="utf-8")).split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, attrs = _info(m.group("info"))
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        if j >= len(lines):
            raise ValueError(f"{path}:{i + 1}: unclosed ``` fence")
        skip = _previous_nonblank(lines, i) == _SKIP_MARK
        blocks.append(Block(path, lang, attrs, tuple(lines[i + 1:j]), i, j, skip))
        i = j + 1
    return blocks


def replace_bodies(text: str, new_bodies: dict[int, list[str]]) -> str:
    """The page with the body of each block (keyed by its opening-fence line index) replaced."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    blocks = {b.start: b for b in parse_blocks(Path("<page>"), text)}
    while i < len(lines):
        if i in new_bodies and i in blocks:
            out.append(lines[i])
            out.extend(new_bodies[i])
            out.append(lines[blocks[i].end])
            i = blocks[i].end + 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)
