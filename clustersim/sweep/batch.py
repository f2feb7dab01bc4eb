"""Analytic sweep points in batches: what the points of a sweep share is checked and resolved once.

The points of a sweep differ in a few keys; most of what validating and resolving a point costs
depends on keys they share. A worker keeps two memos (bounded, per process), each keyed by what
determines everything the memoized function reads:

* a *template* is the scenario less its name, token count, inline price, failures, checkpoint and
  simulation sections, keyed by the sweep's base and the point's other inputs (:func:`template_key`).
  The resolution (:func:`clustersim.resolve.resolve_run`: architecture, GPU,
  network and fabric tiers, the kernel's inputs) is done in full for the first point of each template;
  a later point of the same template takes the template's run with its own scenario, its own tokens and
  price (:meth:`Scenario.tokens`, :meth:`Scenario.price`; the kernel inputs ``tokens`` and
  ``usd_per_gpu_hour`` replaced) and its own failure sources and job MTBF
  (:func:`clustersim.reliability.failure_sources`), which is what ``resolve_run`` gives it;
* the cross-field checks (:func:`clustersim.scenario.model.cross_checks` and the network's own checks,
  the costly part of validation: catalog look-ups and the layout rule set) read the template's fields
  and, of the failures section, only a preset's name and a trace's path: they are memoized by the
  template and those two (a failure trace file is still checked for each point, as files change).

Points with ``parallelism: auto`` (their layout comes from a search) or a calibration profile are
resolved one by one, as before. Each point is validated once by the scenario model (pydantic), from
:func:`point_payload`: the mappings it shares with the base are the base's already-validated models
(:class:`clustersim.sweep.shared.SharedBase`), and the top-level sections its template determines
(:func:`template_sections`) are the models of the template's first valid point, so only what the point
sets itself is validated field by field. Its key is its scenario's SHA-256 as
:func:`~clustersim.sweep.expand.point_key` computes it, composed from the cached canonical JSON of the
shared and template sections plus a dump of the rest (:func:`composed_key`: the same text, so the same
key). Tests hold every row equal to ``clustersim estimate --json``'s and the chunk rows bit-identical to
the plain per-point path (tests/test_sweep_fast.py).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, TypeVar

from pydantic import ValidationError

from clustersim.errors import ClustersimError, ScenarioError
from clustersim.planning import cluster_for
from clustersim.reliability import failure_sources, job_mtbf_s
from clustersim.scenario import Scenario
from clustersim.scenario.loader import errors_from_validation, file_checks, network_checks
from clustersim.scenario.model import cross_checks
from clustersim.sweep.expand import apply_inputs, canonical_json, dump_json, key_of_dump, scenario_dump
from clustersim.sweep.shared import SharedBase, model_at
from clustersim.sweep.tasks import resolved

__all__ = ["BatchMemo", "MEMO", "point_payload", "validated_point", "composed_key", "template_sections",
           "resolve_point", "checks_key", "template_key", "amended", "base_fingerprint"]

_T = TypeVar("_T")

#: Entries kept per memo (a sweep has a few distinct check keys and templates; a capacity plan hundreds).
MEMO_MAX = 4096

#: What a template leaves out, as the input keys that set it: whole sections, and keys (each point derives
#: what they set itself, see the module docstring).
_TEMPLATE_UNREAD_SECTIONS = frozenset({"name", "checkpoint", "simulation", "failures"})
_TEMPLATE_UNREAD_KEYS = frozenset({"training.tokens", "pricing.usd_per_gpu_hour"})

#: The memo keys' JSON writer (one encoder, not one per call as json.dumps builds), and the base's.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str)
_SORTED = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str, sort_keys=True)


class BatchMemo:
    """The worker's memos: cross-field problems and resolved templates, by key (bounded)."""

    def __init__(self) -> None:
        self.checks: dict[tuple[Any, ...], tuple[list[Any], list[Any]]] = {}
        self.templates: dict[tuple[Any, ...], Any] = {}
        #: template -> {top-level section: (its model, the canonical JSON of its dump)}
        self.sections: dict[tuple[Any, ...], dict[str, tuple[Any, str]]] = {}

    @staticmethod
    def put(memo: dict[Any, Any], key: Any, value: Any) -> None:
        if len(memo) >= MEMO_MAX:
            memo.clear()
        memo[key] = value


#: This process's memo (each worker process has its own).
MEMO = BatchMemo()


def base_fingerprint(base: dict[str, Any]) -> str:
    """SHA-256 of a sweep's base mapping (its ``set:`` applied), once per chunk: part of every memo key."""
    return hashlib.sha256(_SORTED.encode(base).encode("ascii")).hexdigest()


def template_key(fingerprint: str, inputs: dict[str, Any]) -> tuple[Any, ...]:
    """A point's template, from its base and inputs (its mapping is ``apply_inputs(base, inputs)``, and the
    scenario model validates each section on its own, so equal template inputs give equal template
    parts): the base's fingerprint and the inputs less those that set what a template leaves out; of
    those, whether a key with alternatives is null is kept (``pricing.usd_per_gpu_hour`` set drops the
    base's ``pricing.preset``). Each value is kept with its type (1, 1.0 and True are three templates), a
    float by its bits (``float.hex``: -0.0 is not 0.0), anything but a plain value as JSON text. Inputs
    written differently for the same scenario only miss the memo."""
    part: list[Any] = [fingerprint]
    for key, value in inputs.items():
        if key.partition(".")[0] in _TEMPLATE_UNREAD_SECTIONS:
            continue
        if key in _TEMPLATE_UNREAD_KEYS:
            part.append((key, value is None))
            continue
        kind = type(value)
        if kind is float:
            part.append((key, kind, value.hex()))
        elif kind in _PLAIN_KEYS:
            part.append((key, kind, value))
        else:
            part.append((key, None, _ENCODER.encode(value)))
    return tuple(part)


#: Input types kept as they are in a template key (hashable, equal only to themselves once typed).
_PLAIN_KEYS = frozenset({str, int, bool, type(None)})


def checks_key(template: tuple[Any, ...], scenario: Scenario) -> tuple[Any, ...]:
    """What the cross-field and network checks of a point read: its template (a finer partition, as it
    holds more than they read) and, of the failures section, the preset's name and the trace's path."""
    f = scenario.failures
    return (template, None) if f is None else (template, f.preset, f.trace)


def template_sections(inputs: dict[str, Any]) -> tuple[str, ...]:
    """The top-level sections a point's template determines among those its inputs set: a section is its
    base's section with the point's inputs in it applied (``apply_inputs`` changes a section only by keys
    in it), so two points of one template have equal such sections unless the template leaves out the
    section or one of its keys (``training.tokens``, ``pricing.usd_per_gpu_hour``)."""
    keys = tuple(inputs)
    found = _SECTIONS.get(keys)
    if found is None:
        touched = dict.fromkeys(key.partition(".")[0] for key in keys)
        left_out = {key.partition(".")[0] for key in keys if key in _TEMPLATE_UNREAD_KEYS}
        found = tuple(s for s in touched if s not in _TEMPLATE_UNREAD_SECTIONS and s not in left_out)
        if len(_SECTIONS) >= MEMO_MAX:
            _SECTIONS.clear()
        _SECTIONS[keys] = found
    return found


_SECTIONS: dict[tuple[str, ...], tuple[str, ...]] = {}

#: Validation's context: the cross-field checks run apart (memoized, see below).
_CONTEXT = {"defer_cross_checks": True}


def point_payload(shared: SharedBase, inputs: dict[str, Any], template: tuple[Any, ...], memo: BatchMemo = MEMO) -> dict[str, Any]:
    """What a point's scenario is validated from: its mapping (``apply_inputs``, with the same ScenarioError
    when a key cannot be set), with the mappings it shares with the base as their models
    (:meth:`SharedBase.source`) and the sections its template determines as the template's models (the
    template's first valid point's: :func:`template_sections`)."""
    payload = apply_inputs(shared.source(inputs), inputs)
    sections = memo.sections.get(template)
    if sections:
        for name, (model, _) in sections.items():
            payload[name] = model  # (apply_inputs' top level is the point's own copy)
    return payload


def validated_point(shared: SharedBase, inputs: dict[str, Any], payload: dict[str, Any], template: tuple[Any, ...],
                    mode: str,
                    memo: BatchMemo = MEMO) -> tuple[Scenario, str]:
    """A point's validated scenario and its key: what :func:`clustersim.scenario.load_scenario` and
    :func:`~clustersim.sweep.expand.point_key` give for ``apply_inputs(shared.base, inputs)`` (the same
    ScenarioError when it refuses), validated from :func:`point_payload`'s ``payload`` with the cross-field
    checks memoized by :func:`checks_key`; ``template``: the point's :func:`template_key`. The key is
    composed from the sections' canonical JSON where the base or the template gave the section
    (:func:`composed_key`); the first point of each has its scenario dumped whole, and what it shares is
    learned from it."""
    try:
        scenario = Scenario.model_validate(payload, context=_CONTEXT)
    except ValidationError as exc:
        data = apply_inputs(shared.base, inputs)
        raise ScenarioError(errors_from_validation(exc, data, None), None) from None
    key = checks_key(template, scenario)
    found = memo.checks.get(key)
    if found is None:
        cross = cross_checks(scenario)
        found = (cross, [] if cross else network_checks(scenario))
        memo.put(memo.checks, key, found)
    cross, network = found
    problems = cross or (file_checks(scenario) + network)  # the loader's order; a trace file checked each time
    if problems:
        raise ScenarioError(list(problems), None)
    texts = shared.texts(inputs)
    sections = memo.sections.get(template)
    if texts is not None and sections is not None:
        if sections:
            texts = {**texts, **{name: text for name, (_, text) in sections.items()}}
        return scenario, composed_key(scenario, texts, mode)
    dump = scenario_dump(scenario)
    if texts is None:
        shared.learn(inputs, scenario, dump)
    if sections is None:
        learned = {}
        for name in template_sections(inputs):
            model = model_at(scenario, (name,))
            if model is not None and name in dump:
                learned[name] = (model, dump_json(dump[name]))
        memo.put(memo.sections, template, learned)
    return scenario, key_of_dump(dump, scenario.simulation.seed, mode)


#: The point key's JSON, by top-level field of Scenario (none has an alias, see composed_key).
_QUOTED = {name: canonical_json(name) for name in Scenario.model_fields}
_EXCLUDED: dict[frozenset[str], set[str]] = {}


def composed_key(scenario: Scenario, texts: dict[str, str], mode: str) -> str:
    """:func:`clustersim.sweep.expand.point_key` of ``scenario``, with the canonical JSON of the top-level
    sections in ``texts`` given (each that of the section's dump in the scenario's dump): the other
    sections are dumped and encoded, and the text is put together as :func:`~clustersim.sweep.expand.
    canonical_json` writes a mapping (keys sorted, ``,`` and ``:`` without spaces), so the text and its
    SHA-256 are the same."""
    names = frozenset(texts)
    exclude = _EXCLUDED.get(names)
    if exclude is None:
        exclude = _EXCLUDED[names] = {*names, "name"}
    rest = scenario.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=exclude)
    parts = [_QUOTED[name] + ":" + (texts[name] if name in texts else dump_json(rest[name]))
             for name in sorted((*rest, *texts))]
    text = (f'{{"mode":{dump_json(mode)},"scenario":{{{",".join(parts)}}},'
            f'"seed":{dump_json(scenario.simulation.seed)}}}')
    return hashlib.sha256(text.encode("ascii")).hexdigest()


if any(f.alias is not None for f in Scenario.model_fields.values()):  # pragma: no cover - a guard
    raise RuntimeError("composed_key assumes the dump's top-level keys are Scenario's field names")


def resolve_point(scenario: Scenario, key: tuple[Any, ...], memo: BatchMemo = MEMO) -> Any:
    """The point's ResolvedRun (see the module docstring), or the ClustersimError that stops it; ``key``:
    its :func:`template_key`."""
    if scenario.calibration is not None or scenario.training.parallelism == "auto":
        return resolved(scenario)
    template = memo.templates.get(key)
    if template is None:
        run = resolved(scenario)
        if not isinstance(run, ClustersimError):
            memo.put(memo.templates, key, run)
        return run
    try:
        price, price_source = scenario.price()
        tokens = scenario.tokens()
        network = template.network
        sources = tuple(failure_sources(scenario, spines=lambda: len(cluster_for(network).spines()),
                                        gpus=scenario.cluster.nodes * template.gpus_per_node))
    except ClustersimError as exc:
        return exc
    inputs = template.inputs
    if inputs.tokens != tokens or inputs.usd_per_gpu_hour != (price or 0.0):
        inputs = amended(inputs, tokens=tokens, usd_per_gpu_hour=price or 0.0)
    return amended(template, scenario=scenario, usd_per_gpu_hour=price, price_source=price_source, tokens=tokens,
                   sources=sources, job_mtbf_s=_job_mtbf_s(sources), inputs=inputs)


def _job_mtbf_s(sources: tuple[Any, ...]) -> float | None:
    """:func:`clustersim.reliability.job_mtbf_s` (1 / sum(units_i / mtbf_i) over the sources that stop
    the job, reference.md D.8) without numpy for fewer than 8 sources: numpy sums fewer than 8 values
    one after the other from 0, as this loop does, so the result is the same float; otherwise, or for a
    value that function refuses, the function itself."""
    stopping = [src for src in sources if src["effect"] != "fabric"]
    if not stopping:
        return None
    if len(stopping) >= 8:
        return job_mtbf_s(sources)
    rate = 0.0
    for src in stopping:
        units, mtbf = src["units"], src["mtbf_s"]
        if not (mtbf > 0 and units >= 0):
            return job_mtbf_s(sources)
        rate += units / mtbf
    return math.inf if rate == 0 else 1.0 / rate


def amended(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace(obj, **changes)`` for a frozen dataclass whose ``__post_init__`` (if any) only
    converts or checks fields other than those changed: a copy of its fields with the changes, without
    running ``__init__`` again (KernelInputs' converts its name codes, already converted in ``obj``;
    ResolvedRun has none). Tests hold the rows so built equal to ``estimate --json``'s."""
    new = object.__new__(type(obj))
    fields = new.__dict__
    fields.update(obj.__dict__)
    fields.update(changes)
    return new
