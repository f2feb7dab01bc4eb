"""Analytic sweep points in batches: what the points of a sweep share is checked and resolved once.

The points of a sweep differ in a few keys; most of what validating and resolving a point costs
depends on keys they share. A worker keeps two memos (bounded, per process), each keyed by a part of
the point's validated scenario that holds everything the memoized function reads:

* a *template* is the scenario less its name, token count, inline price, failures, checkpoint and
  simulation sections. The resolution (:func:`clustersim.resolve.resolve_run`: architecture, GPU,
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

import json
from typing import Any, TypeVar

from clustersim.errors import ClustersimError, ScenarioError
from clustersim.scenario import Scenario

__all__ = ["BatchMemo", "MEMO", "validate_point", "resolve_point", "checks_key", "template_key", "amended"]

_T = TypeVar("_T")

#: Entries kept per memo (a sweep has a few distinct check keys and templates; a capacity plan hundreds).
MEMO_MAX = 4096

#: The failures keys the cross-field checks read (a preset's name is looked up; a trace file is checked).
_CHECKS_FAILURES = frozenset({"preset", "trace"})
#: What a template leaves out: each point derives these itself (see the module docstring).
_TEMPLATE_UNREAD: dict[str, frozenset[str] | None] = {
    "name": None, "checkpoint": None, "simulation": None, "failures": None,
    "training": frozenset({"tokens"}), "pricing": frozenset({"usd_per_gpu_hour"}),
}


#: The memo keys' JSON writer (one encoder, not one per call as json.dumps builds).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str)


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


def _key(dump: dict[str, Any], unread: dict[str, frozenset[str] | None]) -> str:
    """The dump less what is unread, as JSON text in the model's field order (deterministic: a dump's
    order is its model's; two equal parts written in another order only miss the memo)."""
    part: dict[str, Any] = {}
    for section, value in dump.items():
        if section in unread:
            keys = unread[section]
            if keys is None:
                continue
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if k not in keys}
        part[section] = value
    return _ENCODER.encode(part)


def checks_key(dump: dict[str, Any]) -> str:
    """What the cross-field and network checks of a scenario read, from its dump."""
    return _checks_key(template_key(dump), dump)


def _checks_key(template: str, dump: dict[str, Any]) -> str:
    """The template key (a finer partition: it also holds what the checks do not read) and the failure
    keys the checks read."""
    key = template
    failures = dump.get("failures")
    if isinstance(failures, dict):
        key += _ENCODER.encode({k: failures[k] for k in sorted(_CHECKS_FAILURES & set(failures))})
    return key


def template_key(dump: dict[str, Any]) -> str:
    """What a point shares with the other points of its resolution template, from its dump."""
    return _key(dump, _TEMPLATE_UNREAD)


def validate_point(data: dict[str, Any], memo: BatchMemo = MEMO) -> tuple[Scenario, dict[str, Any], str]:
    """The validated scenario of a point's mapping and its dump: what
    :func:`clustersim.scenario.load_scenario` gives (the same ScenarioError when it refuses), with the
    cross-field checks memoized by :func:`checks_key`; and its :func:`template_key`."""
    from pydantic import ValidationError

    from clustersim.scenario.loader import errors_from_validation, file_checks, network_checks
    from clustersim.scenario.model import cross_checks
    from clustersim.sweep.expand import scenario_dump

    try:
        scenario = Scenario.model_validate(data, context={"defer_cross_checks": True})
    except ValidationError as exc:
        raise ScenarioError(errors_from_validation(exc, data, None), None) from None
    dump = scenario_dump(scenario)
    template = template_key(dump)
    key = _checks_key(template, dump)
    found = memo.checks.get(key)
    if found is None:
        cross = cross_checks(scenario)
        found = (cross, [] if cross else network_checks(scenario))
        memo.put(memo.checks, key, found)
    cross, network = found
    problems = cross or (file_checks(scenario) + network)  # the loader's order; a trace file checked each time
    if problems:
        raise ScenarioError(list(problems), None)
    return scenario, dump, template


def resolve_point(scenario: Scenario, key: str, memo: BatchMemo = MEMO) -> Any:
    """The point's ResolvedRun (see the module docstring), or the ClustersimError that stops it; ``key``:
    its :func:`template_key`."""
    from clustersim.planning import cluster_for
    from clustersim.reliability import failure_sources, job_mtbf_s
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
                   sources=sources, job_mtbf_s=job_mtbf_s(sources), inputs=inputs)


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
