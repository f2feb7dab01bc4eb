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
resolved one by one, as before. Each point is still validated field by field by the scenario model
(pydantic), once; its key is its scenario's SHA-256 as :func:`~clustersim.sweep.expand.point_key`
computes it, from the same dump. Tests hold every row equal to ``clustersim estimate --json``'s.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, TypeVar

from clustersim.errors import ClustersimError, ScenarioError
from clustersim.scenario import Scenario

__all__ = ["BatchMemo", "MEMO", "validate_point", "resolve_point", "checks_key", "template_key", "amended",
           "base_fingerprint"]

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
        self.checks: dict[str, tuple[list[Any], list[Any]]] = {}
        self.templates: dict[str, Any] = {}

    @staticmethod
    def put(memo: dict[str, Any], key: str, value: Any) -> None:
        if len(memo) >= MEMO_MAX:
            memo.clear()
        memo[key] = value


#: This process's memo (each worker process has its own).
MEMO = BatchMemo()


def base_fingerprint(base: dict[str, Any]) -> str:
    """SHA-256 of a sweep's base mapping (its ``set:`` applied), once per chunk: part of every memo key."""
    return hashlib.sha256(_SORTED.encode(base).encode("ascii")).hexdigest()


def template_key(fingerprint: str, inputs: dict[str, Any]) -> str:
    """A point's template, from its base and inputs (its mapping is ``apply_inputs(base, inputs)``, and the
    scenario model validates each section on its own, so equal template inputs give equal template
    parts): the inputs less those that set what a template leaves out; of those, whether a key with
    alternatives is null is kept (``pricing.usd_per_gpu_hour`` set drops the base's ``pricing.preset``).
    Inputs written differently for the same scenario only miss the memo."""
    part = []
    for key, value in inputs.items():
        if key.partition(".")[0] in _TEMPLATE_UNREAD_SECTIONS:
            continue
        part.append((key, value is None) if key in _TEMPLATE_UNREAD_KEYS else (key, value))
    return fingerprint + _ENCODER.encode(part)


def checks_key(template: str, scenario: Scenario) -> str:
    """What the cross-field and network checks of a point read: its template (a finer partition, as it
    holds more than they read) and, of the failures section, the preset's name and the trace's path."""
    f = scenario.failures
    return template + ("|-" if f is None else _ENCODER.encode(["|", f.preset, f.trace]))


def validate_point(data: dict[str, Any], template: str, memo: BatchMemo = MEMO,
                   base: dict[str, Any] | None = None) -> tuple[Scenario, dict[str, Any]]:
    """The validated scenario of a point's mapping and its dump: what :func:`clustersim.scenario.load_scenario` gives
    (the same ScenarioError when it refuses), with the cross-field checks memoized by :func:`checks_key`;
    ``template``: the point's :func:`template_key`. With the ``base`` the mapping was made from
    (:func:`~clustersim.sweep.expand.apply_inputs`), the mappings it shares with the base are validated
    once (:func:`clustersim.sweep.shared.validated_scenario`)."""
    from pydantic import ValidationError

    from clustersim.scenario.loader import errors_from_validation, file_checks, network_checks
    from clustersim.scenario.model import cross_checks
    from clustersim.sweep.expand import scenario_dump
    from clustersim.sweep.shared import validated_scenario

    context = {"defer_cross_checks": True}
    try:
        scenario = (Scenario.model_validate(data, context=context) if base is None
                    else validated_scenario(data, base, context))
    except ValidationError as exc:
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
    return scenario, scenario_dump(scenario)


def resolve_point(scenario: Scenario, key: str, memo: BatchMemo = MEMO) -> Any:
    """The point's ResolvedRun (see the module docstring), or the ClustersimError that stops it; ``key``:
    its :func:`template_key`."""
    from clustersim.planning import cluster_for
    from clustersim.reliability import failure_sources
    from clustersim.sweep.tasks import resolved

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
    from clustersim.reliability import job_mtbf_s

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
