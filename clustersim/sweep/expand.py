"""From a sweep file to points: grid x zip x samples, dotted-key overrides, validation, stable keys.

Every point is the base scenario's mapping with the sweep's ``set:`` and the point's own values
applied at their dotted keys (the same descent rules as ``--set``: a preset name becomes
``{preset: name}`` when a field below it is set, ``auto`` becomes a mapping), then validated by
:func:`clustersim.scenario.load_scenario`. Invalid points are kept with their reason. A simulated
sweep validates every point (:func:`plan_sweep`) before anything runs; an analytic one validates each
point once where it runs (:mod:`clustersim.sweep.stream`), from :func:`expand_inputs`.

Only each point's inputs and key are kept after validation (a few hundred bytes, not the ~8 KiB of a
Scenario object), so a million-point sweep fits in memory; workers rebuild a point's scenario from the
base mapping and its inputs with :func:`build_scenario`, the same code path that validated it.

A point's key is the SHA-256 of the canonical JSON of its validated scenario (every default filled
in, the free-text ``name`` left out), its seed and the sweep's mode: the same what-if gets the same key
in any sweep, in any order, on any machine, which is what ``--resume`` relies on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

import numpy as np

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.rng import stream
from clustersim.scenario import Scenario, load_scenario
from clustersim.scenario.loader import read_scenario_mapping, set_dotted
from clustersim.sweep.spec import SampleRange, SamplesSpec, SweepFile

__all__ = ["Point", "ValidPoint", "InvalidPoint", "Plan", "plan_sweep", "expand_points", "sample_values",
           "set_dotted", "point_key", "key_of_dump", "dump_json", "scenario_dump", "expand_inputs", "invalid_key", "base_with_set", "canonical_json", "base_mapping", "describe_problems", "build_scenario",
           "apply_inputs", "set_replacing", "mode_warnings", "ALTERNATIVES", "CLOSED_FORM_BLIND"]


@dataclass(frozen=True)
class Point:
    index: int
    inputs: dict[str, Any]
    data: dict[str, Any]


@dataclass(frozen=True)
class ValidPoint:
    index: int
    inputs: dict[str, Any]
    key: str


@dataclass(frozen=True)
class InvalidPoint:
    index: int
    inputs: dict[str, Any]
    reason: str
    key: str


@dataclass(frozen=True)
class Plan:
    """A sweep expanded and validated: what will run, what cannot, and what repeats an earlier point."""

    sweep: SweepFile
    input_keys: list[str]
    base: dict[str, Any]  # the base scenario's mapping with the sweep's set: applied
    valid: list[ValidPoint]
    invalid: list[InvalidPoint]
    duplicates: list[tuple[int, int]]  # (index, index of the earlier identical point)

    @property
    def mode(self) -> str:
        return self.sweep.spec.mode

    @property
    def total(self) -> int:
        return len(self.valid) + len(self.invalid) + len(self.duplicates)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, ASCII, no NaN: the same text for the same value on every machine."""
    return _CANONICAL.encode(obj)


#: json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str)
#: builds this encoder per call; one is enough.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str)


def dump_json(obj: Any) -> str:
    """:func:`canonical_json` of a scenario's dump, or of a part of it (JSON types only, no cycles): the same
    text, written by the standard library's C encoder made once with canonical_json's settings, where
    ``JSONEncoder.encode`` makes one per call (``json.encoder``: ``iterencode``) and checks for cycles,
    which a pydantic dump cannot have."""
    if _C_CANONICAL is None:  # pragma: no cover - CPython has the C encoder
        return canonical_json(obj)
    if type(obj) is str:
        return encode_basestring_ascii(obj)  # (as JSONEncoder.encode writes a str)
    return "".join(_C_CANONICAL(obj, 0))


_C_CANONICAL = (None if c_make_encoder is None else
                c_make_encoder(None, str, encode_basestring_ascii, None, ":", ",", True, False, False))


def point_key(scenario: Scenario, mode: str) -> str:
    """SHA-256 of the canonical JSON of the expanded scenario (less its name), its seed and the mode."""
    return key_of_dump(scenario_dump(scenario), scenario.simulation.seed, mode)


def scenario_dump(scenario: Scenario) -> dict[str, Any]:
    """The validated scenario as :func:`point_key` reads it (every default filled in, None left out)."""
    return scenario.model_dump(mode="json", by_alias=True, exclude_none=True)


def key_of_dump(dump: dict[str, Any], seed: int, mode: str) -> str:
    """:func:`point_key` from the scenario's :func:`scenario_dump` (not changed: the name is left out here)."""
    text = dump_json({"scenario": {k: v for k, v in dump.items() if k != "name"}, "seed": seed, "mode": mode})
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def invalid_key(data: dict[str, Any], mode: str) -> str:
    text = canonical_json({"invalid": data, "mode": mode})
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def base_mapping(path: Path) -> dict[str, Any]:
    """The base scenario as written, not yet validated (:func:`clustersim.scenario.loader.read_scenario_mapping`)."""
    return read_scenario_mapping(path)


def _to_value(rng_u: float, spec: SampleRange) -> Any:
    """Map u in [0, 1) to the range: linear, log-uniform, integer, or one of the choices."""
    if spec.choices is not None:
        k = len(spec.choices)
        return spec.choices[min(int(rng_u * k), k - 1)]
    lo = spec.low if spec.low is not None else 0.0  # SampleRange requires both without choices
    hi = spec.high if spec.high is not None else lo
    if spec.integer:
        top = hi + 1.0  # each integer in [lo, hi] gets an equal share of [lo, hi + 1)
        if spec.log:
            value = math.exp(math.log(lo) + rng_u * (math.log(top) - math.log(lo)))
        else:
            value = lo + rng_u * (top - lo)
        return int(min(max(math.floor(value), lo), hi))
    if spec.log:
        return float(math.exp(math.log(lo) + rng_u * (math.log(hi) - math.log(lo))))
    return float(lo + rng_u * (hi - lo))


def sample_values(samples: SamplesSpec, seed: int) -> list[dict[str, Any]]:
    """The ``n`` sampled points, each a {dotted key: value}.

    Each input has its own keyed stream (:func:`clustersim.rng.stream` with the sweep's seed and the
    name ``sweep.samples.<method>.<key>``), so adding an input leaves the others' values unchanged.
    Latin hypercube (McKay, Beckman & Conover 1979, Technometrics 21(2), Sec. 2): each input's range is
    cut into n equal-probability strata, one uniform draw per stratum, strata shuffled independently
    per input: u_ij = (pi_j(i) + U_ij) / n.
    """
    n = samples.n
    columns: dict[str, list[Any]] = {}
    for key, spec in samples.ranges.items():
        rng = stream(seed, 0, f"sweep.samples.{samples.method}.{key}")
        if samples.method == "lhs":
            u = (rng.permutation(n) + rng.random(n)) / n
        else:
            u = rng.random(n)
        columns[key] = [_to_value(float(x), spec) for x in np.asarray(u)]
    return [{key: columns[key][i] for key in columns} for i in range(n)]


def base_with_set(sweep: SweepFile) -> dict[str, Any]:
    data = base_mapping(sweep.base_path)
    for key, value in sweep.spec.set.items():
        set_replacing(data, key, value)
    return data


#: Keys of the scenario format that are alternatives to each other (the format accepts one of each
#: group): a swept or ``set:`` key replaces the others of its group in the base, as a user means it.
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "failures": ("node_mtbf_hours", "preset", "sources"),
    "pricing": ("usd_per_gpu_hour", "preset"),
    "training": ("global_batch_seqs", "global_batch_tokens"),
}


def set_replacing(data: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted``, after removing the alternatives the key replaces (``failures.node_mtbf_hours``
    drops the base's ``failures.preset`` and ``failures.sources``). A null value only removes."""
    _drop_alternatives(data, key, value)
    set_dotted(data, key, value)


def _drop_alternatives(data: dict[str, Any], key: str, value: Any) -> None:
    section, _, leaf = key.partition(".")
    group = ALTERNATIVES.get(section, ())
    if leaf in group and isinstance(data.get(section), dict) and value is not None:
        for other in group:
            if other != leaf:
                data[section].pop(other, None)


def apply_inputs(base: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with each ``{dotted key: value}`` set, in order (replacing alternatives).

    Copy-on-write, not a deep copy: only the mappings on the path of a set key are copied (the point's
    own, once each), the rest is shared with ``base``, which is never written to (validation reads its
    input; a set value itself is deep-copied by ``set_dotted``).
    """
    data = dict(base)
    owned = {id(data)}
    for key, value in inputs.items():
        parts, leaf, alternatives = _path_of(key)
        node = _own_path(data, parts, owned)
        if node is not None and (value is None or type(value) in _IMMUTABLE):
            # every mapping on the way exists (and is this point's own): set_dotted would only walk the same
            # path and copy an immutable value
            if alternatives:
                _drop_alternatives(data, key, value)
            node[leaf] = value
        else:
            set_replacing(data, key, value)
            owned.clear()  # (set_dotted may have made new mappings: own the way again)
            owned.add(id(data))
    return data


_PATHS: dict[str, tuple[tuple[str, ...], str, bool]] = {}


def _path_of(key: str) -> tuple[tuple[str, ...], str, bool]:
    """(the mappings on the way, the last part, whether the key has alternatives) of a dotted key."""
    found = _PATHS.get(key)
    if found is None:
        parts = key.split(".")
        found = (tuple(parts[:-1]), parts[-1], parts[0] in ALTERNATIVES)
        if len(_PATHS) < 4096:
            _PATHS[key] = found
    return found


#: Values that need no copy when set (set_dotted deep-copies the others).
_IMMUTABLE = frozenset({int, float, str, bool})


def _own_path(data: dict[str, Any], parts: tuple[str, ...], owned: set[int]) -> dict[str, Any] | None:
    """Replace each mapping on the way (``parts``) by a shallow copy unless it is one already (``owned``),
    so that setting the key writes only copies; returns the mapping that holds the key's last part (None
    when the way is not all mappings)."""
    node = data
    for part in parts:
        child = node.get(part)
        if not isinstance(child, dict):
            return None
        if id(child) not in owned:
            child = dict(child)
            node[part] = child
            owned.add(id(child))
        node = child
    return node


def build_scenario(base: dict[str, Any], inputs: dict[str, Any], *, planned: bool = False) -> Scenario:
    """The validated scenario of one point, rebuilt where it runs.

    ``planned=True`` for a point :func:`plan_sweep` has validated: the fields are validated again by the
    model, but the cross-field checks (the costly part, they resolve catalog entries) are not repeated.
    """
    data = apply_inputs(base, inputs)
    if planned:
        return Scenario.model_validate(data, context={"defer_cross_checks": True})
    return load_scenario(data)


def expand_points(sweep: SweepFile, base: dict[str, Any] | None = None) -> Iterator[Point]:
    """Every point of the sweep, in a fixed order (grid, last key fastest; then zip; then samples).

    ``base`` is the base mapping with ``set:`` applied (read from the sweep's base file when omitted).
    """
    data0 = base if base is not None else base_with_set(sweep)
    for index, inputs in expand_inputs(sweep):
        yield Point(index, inputs, apply_inputs(data0, inputs))


def expand_inputs(sweep: SweepFile) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, {dotted key: value}) of every point, in :func:`expand_points`' order, without the mappings."""
    spec = sweep.spec
    grid_keys = list(spec.grid)
    grid_rows: Sequence[tuple[Any, ...]] = list(itertools.product(*(spec.grid[k] for k in grid_keys)))
    zip_keys = list(spec.zip)
    zip_rows = list(zip(*(spec.zip[k] for k in zip_keys), strict=True)) if zip_keys else [()]
    sample_rows = sample_values(spec.samples, spec.seed) if spec.samples is not None else [{}]
    index = 0
    for g in grid_rows:
        for z in zip_rows:
            for s in sample_rows:
                inputs = dict(zip(grid_keys, g, strict=True))
                inputs.update(zip(zip_keys, z, strict=True))
                inputs.update(s)
                yield index, inputs
                index += 1


def describe_problems(items: Sequence[ErrorItem]) -> str:
    """One line per problem: ``path: message (given ..., expected ...)``."""
    lines = []
    for item in items:
        text = f"{item.path}: {item.message}" if item.path else item.message
        extra = [f"given {item.given}"] if item.given is not None else []
        if item.expected is not None:
            extra.append(f"expected {item.expected}")
        if extra:
            text += f" ({'; '.join(extra)})"
        lines.append(text)
    return "; ".join(lines)


#: Inputs whose effect the closed form (estimate mode: Daly 2006) cannot see: it restarts at once after
#: every failure, so spares, repairs and elasticity change only the bill, never the expected days.
CLOSED_FORM_BLIND = ("failures.spare_nodes", "failures.repair_hours", "failures.repair_distribution",
                     "failures.max_concurrent_repairs", "failures.elastic", "failures.stragglers",
                     "failures.maintenance")


def mode_warnings(sweep: SweepFile) -> list[str]:
    """What the sweep's mode cannot answer about the inputs it varies (e.g. spares in estimate mode)."""
    if sweep.spec.mode != "estimate":
        return []
    blind = [k for k in sweep.spec.swept_keys() if any(k == b or k.startswith(b + ".") for b in CLOSED_FORM_BLIND)]
    if not blind:
        return []
    return [f"estimate mode cannot see what {', '.join(blind)} change{'s' if len(blind) == 1 else ''}: the closed "
            "form (Daly 2006) restarts at once after every failure, so a spare node only adds to the bill and "
            "never saves a wait for repair; it ranks the fewest spares cheapest. Use mode: simulate to compare them."]


def plan_sweep(sweep: SweepFile, on_point: Callable[[], None] | None = None) -> Plan:
    """Expand and validate every point; nothing runs here (``on_point`` is called after each, for progress)."""
    mode = sweep.spec.mode
    valid: list[ValidPoint] = []
    invalid: list[InvalidPoint] = []
    duplicates: list[tuple[int, int]] = []
    first: dict[str, int] = {}
    base = base_with_set(sweep)
    for point in expand_points(sweep, base):
        if on_point is not None:
            on_point()
        try:
            scenario = load_scenario(point.data)
        except ScenarioError as exc:
            key = invalid_key(point.data, mode)
            if key in first:
                duplicates.append((point.index, first[key]))
            else:
                first[key] = point.index
                invalid.append(InvalidPoint(point.index, point.inputs, describe_problems(exc.items), key))
            continue
        key = point_key(scenario, mode)
        if key in first:
            duplicates.append((point.index, first[key]))
            continue
        first[key] = point.index
        valid.append(ValidPoint(point.index, point.inputs, key))
    return Plan(sweep, sweep.spec.swept_keys(), base, valid, invalid, duplicates)
