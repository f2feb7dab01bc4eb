"""What the points of a chunk share with its base, validated once.

A point's mapping is its base with a few keys set, copy-on-write (:func:`clustersim.sweep.expand.
apply_inputs`): every mapping off the set keys' paths is the base's own object, and which mappings those
are depends only on the keys a point sets (a sweep's points all set the same keys). The scenario model
validates a nested mapping on its own (no model of the scenario format has a ``before`` validator that
rewrites its children; an ``after`` validator only checks), so the validated model of such a shared
mapping is the same for every point. pydantic takes a model instance where a model is expected without
validating it again (``revalidate_instances='never'``, the default), so :class:`SharedBase`, once a point
of a set of keys has validated, keeps a copy of the base with each mapping off those keys' paths replaced
by the model it validated to (:meth:`SharedBase.source`); the next points with those keys are made from
that copy (the same ``apply_inputs``) and validate only what they set. Invalid points raise the same
errors (a shared mapping is only replaced by a model it validated to). The canonical JSON of each such
top-level section (:func:`clustersim.sweep.expand.canonical_json` of the scenario dump's section) is kept
too, for the point keys (:func:`clustersim.sweep.batch.composed_key`).

Tests hold the scenarios equal to a full validation's on sweeps of every kind.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from clustersim.scenario import Scenario

__all__ = ["SharedBase", "model_at"]

Path = tuple[str, ...]


def model_at(scenario: Scenario, path: Path) -> BaseModel | None:
    """The validated model at ``path`` (field names without aliases, each a model), else None."""
    obj: Any = scenario
    for key in path:
        field = type(obj).model_fields.get(key)
        if field is None or field.alias is not None:
            return None
        obj = getattr(obj, key)
        if not isinstance(obj, BaseModel):
            return None
    return obj


def shared_paths(base: dict[str, Any], keys: tuple[str, ...]) -> list[Path]:
    """The mappings of ``base`` that a point setting ``keys`` shares with it (``apply_inputs`` copies only
    the mappings on a key's way, never below a key it sets): each a path, outermost only."""
    ways: set[Path] = set()
    ends: set[Path] = set()
    for key in keys:
        parts = tuple(key.split("."))
        ways.update(parts[:i] for i in range(len(parts)))
        ends.add(parts)
    out: list[Path] = []

    def walk(node: dict[str, Any], path: Path) -> None:
        for name, value in node.items():
            at = (*path, name)
            if type(value) is not dict or at in ends:
                continue
            if at in ways:
                walk(value, at)
            else:
                out.append(at)

    walk(base, ())
    return out


class _Keys:
    """What :class:`SharedBase` knows for one set of input keys."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self.source: dict[str, Any] | None = None  # the base with the shared mappings' models
        self.texts: dict[str, str] = {}  # top-level section -> the canonical JSON of its dump


class SharedBase:
    """A chunk's base and, per set of input keys, the models of the mappings its points share with it (see
    the module docstring). The base is never written to."""

    def __init__(self, base: dict[str, Any]):
        self.base = base
        self._by_keys: dict[tuple[str, ...], _Keys] = {}

    def _of(self, inputs: dict[str, Any]) -> _Keys:
        keys = tuple(inputs)
        found = self._by_keys.get(keys)
        if found is None:
            found = self._by_keys[keys] = _Keys(shared_paths(self.base, keys))
        return found

    def source(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The mapping to apply a point's inputs to: the base, with its shared mappings' models once a point
        with the same keys has validated (:meth:`learn`)."""
        found = self._of(inputs).source
        return self.base if found is None else found

    def texts(self, inputs: dict[str, Any]) -> dict[str, str] | None:
        """The canonical JSON of the top-level sections a point with these keys shares with the base, by
        section (None before :meth:`learn`)."""
        found = self._of(inputs)
        return None if found.source is None else found.texts

    def learn(self, inputs: dict[str, Any], scenario: Scenario, dump: dict[str, Any]) -> None:
        """Keep the models of the shared mappings of a validated point made from :meth:`source`, and the
        canonical JSON of the top-level ones from its :func:`~clustersim.sweep.expand.scenario_dump`."""
        from clustersim.sweep.expand import dump_json

        found = self._of(inputs)
        if found.source is not None:
            return
        source = dict(self.base)
        copied = {id(source)}
        for path in found.paths:
            model = model_at(scenario, path)
            if model is None:
                continue
            node = source
            for part in path[:-1]:  # (copies of the mappings on the way, each once)
                child = node[part]
                if id(child) not in copied:
                    child = dict(child)
                    node[part] = child
                    copied.add(id(child))
                node = child
            node[path[-1]] = model
            if len(path) == 1 and path[0] in dump:
                found.texts[path[0]] = dump_json(dump[path[0]])
        found.source = source
