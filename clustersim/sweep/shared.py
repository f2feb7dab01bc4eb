"""What the points of a chunk share with its base, validated once.

A point's mapping is its base with a few keys set, copy-on-write (:func:`clustersim.sweep.expand.
apply_inputs`): every mapping off the set keys' paths is the base's own object. The scenario model
validates a nested mapping on its own (no model of the scenario format has a ``before`` validator that
rewrites its children; an ``after`` validator only checks), so the validated model of such a shared
mapping is the same for every point. pydantic takes a model instance where a model is expected without
validating it again (``revalidate_instances='never'``, the default), so :func:`validated_scenario`
validates the chunk's first point in full, keeps the models of its shared mappings (by path, with the
mapping they came from), and hands them to the next points' validation in place of their mappings:
those points validate only what they set. Invalid points raise the same errors (a shared mapping is
only replaced by a model it validated to).

Tests hold the scenarios equal to a full validation's on sweeps of every kind.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from clustersim.scenario import Scenario

__all__ = ["SharedMemo", "SHARED", "validated_scenario"]

Path = tuple[str, ...]


class SharedMemo:
    """This process's models of shared mappings: one entry per path, with the mapping it came from; an entry
    is used only for that very mapping (the same chunk's base)."""

    def __init__(self) -> None:
        self.models: dict[Path, tuple[dict[str, Any], BaseModel]] = {}


#: This process's memo (each worker process has its own).
SHARED = SharedMemo()


def _substituted(node: dict[str, Any], base: dict[str, Any], path: Path, memo: SharedMemo,
                 misses: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """``node`` with each mapping it shares with ``base`` replaced by its validated model where the memo has
    it (a shallow copy; ``node`` is not changed); the shared mappings it lacks go to ``misses``."""
    out: dict[str, Any] | None = None
    for key, value in node.items():
        if type(value) is not dict:
            continue
        other = base.get(key)
        at = (*path, key)
        if value is other:
            hit = memo.models.get(at)
            if hit is not None and hit[0] is value:
                if out is None:
                    out = dict(node)
                out[key] = hit[1]
            else:
                misses.append((at, node[key]))
        elif type(other) is dict:
            sub = _substituted(value, other, at, memo, misses)
            if sub is not value:
                if out is None:
                    out = dict(node)
                out[key] = sub
    return node if out is None else out


def _model_at(scenario: Scenario, path: Path) -> BaseModel | None:
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


def validated_scenario(data: dict[str, Any], base: dict[str, Any], context: dict[str, Any],
                       memo: SharedMemo = SHARED) -> Scenario:
    """``Scenario.model_validate(data, context=context)`` (the same scenario, the same ValidationError),
    with the mappings ``data`` shares with ``base`` given as the models they validated to (see the module
    docstring)."""
    misses: list[tuple[Path, dict[str, Any]]] = []
    payload = _substituted(data, base, (), memo, misses) if type(data) is dict else data
    scenario = Scenario.model_validate(payload, context=context)
    for path, source in misses:
        model = _model_at(scenario, path)
        if model is not None:
            memo.models[path] = (source, model)
    return scenario
