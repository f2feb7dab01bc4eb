"""Safe, bounded YAML reading that keeps the line and column of every value.

PyYAML's composer builds a node graph in which an alias is a reference to the anchored node, so
composing a "billion laughs" document is cheap; the blow-up happens only when the graph is turned into
Python objects. We do that construction ourselves with a budget of values, so an alias bomb is refused
quickly, and we record the mark of every key and value (for file:line errors), refuse duplicate keys,
and refuse every tag outside YAML's core schema (so ``!!python/object`` is refused, as with
``yaml.safe_load``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from clustersim.errors import ErrorItem, ScenarioError

__all__ = ["MAX_FILE_BYTES", "MAX_VALUES", "Marks", "read_yaml_bytes"]

#: A scenario is a short hand-written file; 1 MiB is ~20,000 lines. Larger input is refused before parsing.
MAX_FILE_BYTES = 1 << 20
#: Values constructed from one document (aliases count each time they are expanded).
MAX_VALUES = 100_000

_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:timestamp",
}
_MERGE_TAG = "tag:yaml.org,2002:merge"

Path = tuple[str | int, ...]


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2's float syntax so that ``1e9`` and ``15.6e12`` are numbers.

    PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent (``1.0e+9``); YAML 1.2 (the
    version editors and yaml-language-server use) reads ``1e9`` as a float. Users write the latter.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


class Marks:
    """Line/column (1-based) of each value and each key, by path."""

    def __init__(self) -> None:
        self.value: dict[Path, tuple[int, int]] = {}
        self.key: dict[Path, tuple[int, int]] = {}

    def find(self, path: Path, prefer_key: bool = False) -> tuple[int | None, int | None]:
        """The mark of ``path`` or of its longest prefix that has one."""
        for n in range(len(path), -1, -1):
            sub = tuple(path[:n])
            if prefer_key and sub in self.key:
                return self.key[sub]
            if sub in self.value:
                return self.value[sub]
        return None, None


def _pos(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Builder:
    def __init__(self, marks: Marks):
        self.marks = marks
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def _tick(self, node: yaml.Node) -> None:
        self.count += 1
        if self.count > MAX_VALUES:
            line, col = _pos(node.start_mark)
            raise ScenarioError(ErrorItem(
                f"the document expands to more than {MAX_VALUES:,} values (an alias bomb?); refused",
                line=line, column=col))

    def build(self, node: yaml.Node, path: Path) -> Any:
        self._tick(node)
        self.marks.value.setdefault(path, _pos(node.start_mark))
        if node.tag not in _CORE_TAGS:
            line, col = _pos(node.start_mark)
            raise ScenarioError(ErrorItem(
                f"the YAML tag {node.tag!r} is not allowed", path=".".join(map(str, path)), line=line,
                column=col, expected="plain YAML values (strings, numbers, booleans, lists, mappings)"))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:  # e.g. an invalid timestamp
            line, col = _pos(node.start_mark)
            raise ScenarioError(ErrorItem(f"cannot read this value: {exc}", line=line, column=col)) from None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        explicit: set[Any] = set()
        merged: list[dict[Any, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                value = self.build(value_node, path)
                sources = value if isinstance(value, list) else [value]
                for src in sources:
                    if not isinstance(src, dict):
                        line, col = _pos(value_node.start_mark)
                        raise ScenarioError(ErrorItem("a merge key '<<' needs a mapping", line=line, column=col))
                    merged.append(src)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _pos(key_node.start_mark)
                raise ScenarioError(ErrorItem("mapping keys must be plain scalars", line=line, column=col))
            key = self.build(key_node, (*path, "<key>"))
            try:
                hash(key)
            except TypeError:
                line, col = _pos(key_node.start_mark)
                raise ScenarioError(ErrorItem("mapping keys must be plain scalars", line=line, column=col)) from None
            if key in explicit:
                line, col = _pos(key_node.start_mark)
                first = self.marks.key.get((*path, key), (None, None))[0]
                raise ScenarioError(ErrorItem(
                    f"duplicate key {key!r} (first given on line {first})",
                    path=".".join(map(str, (*path, key))), line=line, column=col,
                    expected="each key once per mapping"))
            explicit.add(key)
            key_path: Path = (*path, key)
            self.marks.key[key_path] = _pos(key_node.start_mark)
            out[key] = self.build(value_node, (*path, key))
        for src in reversed(merged):
            for k, v in src.items():
                if k not in explicit:
                    out[k] = v
        self.marks.value.pop((*path, "<key>"), None)
        return out


def read_yaml_bytes(raw: bytes, filename: str | None = None) -> tuple[Any, Marks]:
    """Parse one YAML document from bytes: bounded in size and in expansion, core tags only."""
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(ErrorItem(
            f"the file is {len(raw) / 2**20:.1f} MiB; scenario files are limited to {MAX_FILE_BYTES // 2**20} MiB",
            expected="a hand-written scenario (a few KiB)"), filename)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        bad_col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError(ErrorItem(f"invalid UTF-8 (byte 0x{raw[exc.start]:02x})", line=bad_line, column=bad_col,
                                      expected="a UTF-8 text file"), filename) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    marks = Marks()
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line: int | None = None
        col: int | None = None
        if mark is not None:
            line, col = _pos(mark)
        problem = exc.problem or str(exc)
        if exc.context:
            problem = f"{exc.context}: {problem}"
        raise ScenarioError(ErrorItem(f"YAML syntax error: {problem}", line=line, column=col), filename) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(ErrorItem(f"YAML error: {exc}"), filename) from None
    if node is None:
        raise ScenarioError(ErrorItem("the file is empty", expected="a mapping with model, training and cluster"),
                            filename)
    try:
        data = _Builder(marks).build(node, ())
    except ScenarioError as exc:
        raise ScenarioError(exc.items, filename) from None
    return data, marks
