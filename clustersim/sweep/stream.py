"""Analytic sweeps, streamed: each point is validated once, where it runs, and the main process only writes.

A worker gets a chunk of points as ``(index, inputs)`` with the base mapping and builds everything
of them (:func:`analytic_chunk`): the point's mapping (copy-on-write, :func:`~clustersim.sweep.expand.
apply_inputs`), its one validation (what :func:`~clustersim.scenario.load_scenario` does, with the
cross-field checks memoized: :func:`~clustersim.sweep.batch.validate_point`), its key (as
:func:`~clustersim.sweep.expand.point_key`, from the same dump), its resolution (one per template:
:func:`~clustersim.sweep.batch.resolve_point`), one vectorized kernel call for the chunk
(:func:`~clustersim.sweep.tasks.estimate_resolved`) and the finished rows, invalid points included. The main process keeps a :class:`Tally` of the keys it has seen (a repeated scenario is
stored once, under its lowest index, whatever order the chunks finish in, so the rows are the same on
any number of workers) and writes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from clustersim.errors import ScenarioError

__all__ = ["analytic_chunk", "row_of", "Tally"]

#: Rows grouped by their columns, each a tuple of SQLite cells (clustersim.sweep.store.prepare_rows).
Groups = dict[tuple[str, ...], list[tuple[Any, ...]]]
#: (base mapping, mode, [(point index, inputs)])
ChunkPayload = tuple[dict[str, Any], str, list[tuple[int, dict[str, Any]]]]


def row_of(index: int, inputs: dict[str, Any], key: str, status: str, error: str | None,
           outputs: dict[str, Any]) -> dict[str, Any]:
    """A store row: the fixed columns, the inputs, then the outputs (an output named like an input is
    the input's, as in the runner's rows)."""
    row: dict[str, Any] = {"point_key": key, "point_index": index, **inputs, "status": status, "error": error}
    if outputs.keys().isdisjoint(inputs):
        row.update(outputs)
        return row
    for name, value in outputs.items():
        if name not in inputs:
            row[name] = value
    return row


def analytic_chunk(payload: ChunkPayload) -> Groups:
    """The finished rows of a chunk of analytic points, ready to insert (worker side; see the module
    docstring): :func:`clustersim.sweep.store.prepare_rows`' shape. Validation and resolution are memoized
    by what they read (:mod:`clustersim.sweep.batch`); the mappings the points share with the base are
    validated once (:mod:`clustersim.sweep.shared`); the kernel runs once on the chunk's stacked inputs."""
    base, mode, items = payload
    with _collector_paused():
        return _rows_of_chunk(base, mode, items)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a chunk runs, as it was after. A chunk keeps every
    point's scenario and resolved run until its rows are built, and each point allocates a few hundred
    containers: the collector's passes, triggered by allocation counts, went over all that is kept, again
    and again (a quarter of a chunk's time on 4,096 points, benchmarks/bench_sweep.py). What a chunk
    frees is freed by reference counts as before; cyclic garbage, if any, waits for the next pass."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rows_of_chunk(base: dict[str, Any], mode: str, items: list[tuple[int, dict[str, Any]]]) -> Groups:
    """:func:`analytic_chunk`'s rows (with the collector paused)."""
    from clustersim.sweep.batch import (
        base_fingerprint,
        point_payload,
        resolve_point,
        template_key,
        validated_point,
    )
    from clustersim.sweep.expand import apply_inputs, describe_problems, invalid_key
    from clustersim.sweep.shared import SharedBase
    from clustersim.sweep.store import prepare_rows
    from clustersim.sweep.tasks import estimate_resolved

    fingerprint = base_fingerprint(base)
    shared = SharedBase(base)
    rows: list[dict[str, Any] | None] = []
    valid: list[tuple[int, tuple[int, dict[str, Any]], str, Any]] = []
    for index, inputs in items:
        template = template_key(fingerprint, inputs)
        payload = point_payload(shared, inputs, template)
        try:
            scenario, key = validated_point(shared, inputs, payload, template, mode)
        except ScenarioError as exc:
            data = apply_inputs(base, inputs)
            rows.append(row_of(index, inputs, invalid_key(data, mode), "invalid", describe_problems(exc.items), {}))
            continue
        valid.append((len(rows), (index, inputs), key, resolve_point(scenario, template)))
        rows.append(None)
    results = estimate_resolved([(key, run) for _, _, key, run in valid])
    for (slot, (index, inputs), key, _), (rkey, status, error, outputs) in zip(valid, results, strict=True):
        if rkey != key:  # pragma: no cover - estimate_resolved answers in order
            raise RuntimeError("estimate_resolved returned its results out of order")
        rows[slot] = row_of(index, inputs, key, status, error, outputs)
    return prepare_rows(r for r in rows if r is not None)


@dataclass
class Tally:
    """What the main process knows of the rows so far: the lowest index of each key, the other indices
    that repeat it, and the keys a previous run stored (``done``: not written again, counted ``skipped``)."""

    done: set[str] = field(default_factory=set)
    first: dict[str, int] = field(default_factory=dict)
    repeats: dict[str, list[int]] = field(default_factory=dict)
    skipped: int = 0
    invalid: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> the row, for the summary
    valid: int = 0

    def keep(self, groups: Groups) -> tuple[Groups, int]:
        """The rows to write, and how many of them are not ``invalid``: new keys, and a repeated key's row
        when it has a lower index than the one written (it replaces it: the store's key is the point
        key); never a key of ``done``."""
        out: Groups = {}
        ran = 0
        for cols, values in groups.items():
            at_key, at_index, at_status = cols.index("point_key"), cols.index("point_index"), cols.index("status")
            kept = out.setdefault(cols, [])
            for value in values:
                key, index, invalid = value[at_key], value[at_index], value[at_status] == "invalid"
                earlier = self.first.get(key)
                if earlier is not None:
                    self.repeats.setdefault(key, []).append(max(index, earlier))
                    if index > earlier:
                        continue
                    self.invalid.pop(earlier, None)
                else:
                    self.valid += not invalid
                    self.skipped += key in self.done and not invalid
                self.first[key] = index
                if invalid:
                    self.invalid[index] = dict(zip(cols, value, strict=True))
                if key not in self.done:
                    kept.append(value)
                    ran += not invalid
        return out, ran

    def duplicates(self) -> list[tuple[int, int]]:
        """(index, the lowest index of the same scenario) for every repeat, by index."""
        return sorted((i, self.first[k]) for k, indices in self.repeats.items() for i in indices)
