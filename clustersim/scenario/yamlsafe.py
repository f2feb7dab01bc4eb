"""Safe, bounded YAML reading that keeps the line and column of every value.

The document is composed from the parser's event stream by :func:`_compose`, a loop with an explicit
stack (no recursion on user data), so nesting deeper than :data:`MAX_DEPTH` is refused at the line
where it happens, and an alias inside the collection it names (``loop: &l [*l]``, a cycle) is refused
instead of building an infinite structure. The events come from libyaml when PyYAML was built with it
(``yaml.CSafeLoader``; about ten times faster) and from PyYAML's pure-Python parser otherwise; both give
the same events and marks, and everything after the events is the same code.

Python values are then built by :class:`_Builder` with a budget of values, so an alias bomb ("billion
laughs") is refused quickly; it records the mark of every key and value (for file:line errors),
refuses duplicate keys, refuses every tag outside YAML's core schema (so ``!!python/object`` is
refused, as with ``yaml.safe_load``), and turns a core-tagged value that cannot be read
(``!!bool maybe``, ``!!int abc``, a 5,000-digit integer) into a located error.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)

from clustersim.errors import ErrorItem, ScenarioError

__all__ = ["MAX_FILE_BYTES", "MAX_VALUES", "MAX_DEPTH", "LIBYAML", "Marks", "read_yaml_bytes", "read_file_bytes"]

#: A scenario is a short hand-written file; 1 MiB is ~20,000 lines. Larger input is refused before parsing.
MAX_FILE_BYTES = 1 << 20
#: Values constructed from one document (aliases count each time they are expanded).
MAX_VALUES = 100_000
#: Nesting levels of mappings and lists (with aliases expanded); a scenario uses at most five.
MAX_DEPTH = 32
#: Whether the events come from libyaml (PyYAML's C extension) rather than the pure-Python parser.
LIBYAML = bool(getattr(yaml, "__with_libyaml__", False)) and hasattr(yaml, "CSafeLoader")

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
_TAG_NAMES = {t: "!!" + t.rsplit(":", 1)[1] for t in _CORE_TAGS}

Path = tuple[str | int, ...]

#: YAML 1.2's float syntax, so that ``1e9`` and ``15.6e12`` are numbers. PyYAML follows YAML 1.1, where a
#: float needs a dot and a signed exponent (``1.0e+9``); YAML 1.2 (the version editors and
#: yaml-language-server use) reads ``1e9`` as a float. Users write the latter.
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")


class _PyLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader with YAML 1.2 floats (used for its parser and resolver only)."""


_PyLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))
_Loader: type[Any] = _PyLoader

if LIBYAML:
    class _CLoader(yaml.CSafeLoader):  # type: ignore[misc,name-defined]
        """libyaml's parser with PyYAML's resolver and YAML 1.2 floats (used for its events only)."""

    _CLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))
    _Loader = _CLoader


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


def _error(message: str, mark: Any, path: Path = (), expected: str | None = None) -> ScenarioError:
    line, col = _pos(mark) if mark is not None else (None, None)
    return ScenarioError(ErrorItem(message, path=".".join(map(str, path)), line=line, column=col, expected=expected))


def _too_deep(mark: Any) -> ScenarioError:
    return _error(f"mappings and lists are nested more than {MAX_DEPTH} levels deep; refused", mark,
                  expected="a scenario's few levels of nesting")


def _span(event: Any) -> tuple[Any, Any]:
    """An event's start and end marks (libyaml's and PyYAML's mark types alike)."""
    return event.start_mark, event.end_mark


class _Open:
    """A collection being composed: its node, its anchor, a mapping's key awaiting its value, and the
    values and nesting depth of its children with aliases expanded (what building it will cost)."""

    __slots__ = ("node", "anchor", "key", "values", "depth")

    def __init__(self, node: yaml.Node, anchor: str | None):
        self.node = node
        self.anchor = anchor
        self.key: yaml.Node | None = None
        self.values = 1
        self.depth = 0


def _bomb(mark: Any) -> ScenarioError:
    return _error(f"the document expands to more than {MAX_VALUES:,} values (an alias bomb?); refused", mark)


def _compose(text: str) -> yaml.Node | None:
    """The document's node graph, built from parser events with an explicit stack (see the module doc)."""
    loader = _Loader(text)
    try:
        return _compose_events(loader)
    finally:
        loader.dispose()


def _compose_events(loader: Any) -> yaml.Node | None:
    anchors: dict[str, yaml.Node] = {}
    stack: list[_Open] = []
    root: yaml.Node | None = None
    documents = 0
    # values and depth of each finished collection with aliases expanded: an alias names a finished
    # node, so an alias bomb or a deep chain of aliases is refused here, before anything is built
    cost: dict[int, tuple[int, int]] = {}

    def count(node: yaml.Node, mark: Any) -> None:
        if not stack:
            return
        values, depth = cost.get(id(node), (1, 0))
        top = stack[-1]
        top.values += values
        top.depth = max(top.depth, depth)
        if top.values > MAX_VALUES:
            raise _bomb(mark)

    def attach(node: yaml.Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        top = stack[-1]
        if isinstance(top.node, yaml.SequenceNode):
            top.node.value.append(node)
        elif top.key is None:
            top.key = node
        else:
            top.node.value.append((top.key, node))
            top.key = None

    def anchor(event: Any, node: yaml.Node) -> None:
        if event.anchor is None:
            return
        if event.anchor in anchors:
            raise _error(f"the anchor &{event.anchor} is defined twice", event.start_mark,
                         expected="each anchor name once")
        anchors[event.anchor] = node

    while True:
        event = loader.get_event()
        if isinstance(event, StreamEndEvent):
            return root
        if isinstance(event, DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _error("the file holds more than one YAML document", event.start_mark,
                             expected="one document (no second '---')")
        elif isinstance(event, AliasEvent):
            if any(o.anchor == event.anchor for o in stack):
                raise _error(f"the alias *{event.anchor} is inside the collection it names (a recursive "
                             "structure); refused", event.start_mark)
            if event.anchor not in anchors:
                raise _error(f"the alias *{event.anchor} names no anchor defined before it", event.start_mark)
            attach(anchors[event.anchor])
            count(anchors[event.anchor], event.start_mark)
        elif isinstance(event, ScalarEvent):
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            node: yaml.Node = yaml.ScalarNode(tag, event.value, *_span(event), style=event.style)
            anchor(event, node)
            attach(node)
            count(node, event.start_mark)
        elif isinstance(event, CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _too_deep(event.start_mark)
            kind = yaml.MappingNode if isinstance(event, MappingStartEvent) else yaml.SequenceNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = loader.resolve(kind, None, event.implicit)
            node = kind(tag, [], *_span(event), flow_style=event.flow_style)
            anchor(event, node)
            attach(node)
            stack.append(_Open(node, event.anchor))
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            done = stack.pop()
            if done.depth + 1 > MAX_DEPTH:
                raise _too_deep(event.start_mark)
            cost[id(done.node)] = (done.values, done.depth + 1)
            count(done.node, event.start_mark)
        # StreamStart, DocumentEnd: nothing to do


class _Builder:
    def __init__(self, marks: Marks):
        self.marks = marks
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def _tick(self, node: yaml.Node) -> None:
        self.count += 1
        if self.count > MAX_VALUES:  # a backstop: _compose_events refuses such documents before building
            raise _bomb(node.start_mark)

    def build(self, node: yaml.Node, path: Path, depth: int = 0) -> Any:
        self._tick(node)
        if depth > MAX_DEPTH:  # aliases inside aliases can nest deeper than the text does
            raise _too_deep(node.start_mark)
        self.marks.value.setdefault(path, _pos(node.start_mark))
        if node.tag not in _CORE_TAGS:
            raise _error(f"the YAML tag {node.tag!r} is not allowed", node.start_mark, path,
                         expected="plain YAML values (strings, numbers, booleans, lists, mappings)")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i), depth + 1) for i, child in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception:  # noqa: BLE001 - any failure to read a core scalar is the file's, e.g. !!bool maybe
            shown = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            raise _error(f"cannot read {shown!r} as {_TAG_NAMES.get(node.tag, node.tag)}", node.start_mark, path,
                         expected=_EXPECTED.get(node.tag)) from None

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        explicit: set[Any] = set()
        merged: list[dict[Any, Any]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                value = self.build(value_node, path, depth + 1)
                sources = value if isinstance(value, list) else [value]
                for src in sources:
                    if not isinstance(src, dict):
                        raise _error("a merge key '<<' needs a mapping", value_node.start_mark)
                    merged.append(src)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise _error("mapping keys must be plain scalars", key_node.start_mark)
            key = self.build(key_node, (*path, "<key>"), depth + 1)
            try:
                hash(key)
            except TypeError:
                raise _error("mapping keys must be plain scalars", key_node.start_mark) from None
            if key in explicit:
                first = self.marks.key.get((*path, key), (None, None))[0]
                raise _error(f"duplicate key {key!r} (first given on line {first})", key_node.start_mark,
                             (*path, key), expected="each key once per mapping")
            explicit.add(key)
            key_path: Path = (*path, key)
            self.marks.key[key_path] = _pos(key_node.start_mark)
            out[key] = self.build(value_node, key_path, depth + 1)
        for src in reversed(merged):
            for k, v in src.items():
                if k not in explicit:
                    out[k] = v
        self.marks.value.pop((*path, "<key>"), None)
        return out


_EXPECTED = {
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:int": "an integer of at most 4,300 digits",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null or ~",
    "tag:yaml.org,2002:timestamp": "a date such as 2024-05-01",
}


def _code(character: int | str) -> int:
    return ord(character) if isinstance(character, str) else int(character)


def _offset_position(text: str, position: int) -> tuple[int, int]:
    """1-based line and column of a reader error's offset: bytes of UTF-8 for libyaml, characters otherwise."""
    if _Loader is not _PyLoader:
        position = len(text.encode("utf-8")[:position].decode("utf-8", "ignore"))
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def read_file_bytes(path: pathlib.Path, kind: str) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes of a user's file (``kind``: "a fleet file", ...), with located
    refusals for a directory, a missing file or an unreadable one; the caller refuses an oversized file."""
    try:
        if path.is_dir():
            raise ScenarioError(ErrorItem(f"is a directory, not {kind}"), str(path))
        with open(path, "rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(ErrorItem("no such file"), str(path)) from None
    except OSError as exc:
        raise ScenarioError(ErrorItem(f"cannot read the file: {exc.strerror}"), str(path)) from None


def read_yaml_bytes(raw: bytes, filename: str | None = None) -> tuple[Any, Marks]:
    """Parse one YAML document from bytes: bounded in size, depth and expansion, core tags only."""
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
        node = _compose(text)
        if node is None:
            raise ScenarioError(ErrorItem("the file is empty", expected="a mapping with model, training and cluster"))
        data = _Builder(marks).build(node, ())
    except ScenarioError as exc:
        raise ScenarioError(exc.items, filename) from None
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
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (a control character)
        line, col = _offset_position(text, exc.position)
        raise ScenarioError(ErrorItem(f"YAML error: the character U+{_code(exc.character):04X} is not allowed",
                                      line=line, column=col, expected="printable text (write \\e in a quoted "
                                      "string for an escape character)"), filename) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(ErrorItem(f"YAML error: {exc}"), filename) from None
    return data, marks
