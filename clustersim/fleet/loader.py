"""Reading a fleet file: strict YAML, every error with file:line:column, pool and scenario references checked.

The file is read with the scenario loader's safe, bounded reader (:mod:`clustersim.scenario.yamlsafe`) and
validated by :class:`~clustersim.fleet.spec.FleetSpec`; pydantic's errors go through the scenario loader's
:func:`~clustersim.scenario.loader.errors_from_validation`, with the valid keys of the fleet format
suggested for an unknown key. References that pydantic cannot check (a job's pool, a scenario file) are
checked here and located too. Nothing is simulated before the whole file is valid.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.fleet.spec import FleetSpec
from clustersim.scenario.loader import _model_at, errors_from_validation
from clustersim.scenario.yamlsafe import Marks, read_file_bytes, read_yaml_bytes

__all__ = ["FleetFile", "load_fleet", "parse_fleet"]


@dataclasses.dataclass(frozen=True)
class FleetFile:
    """A validated fleet: the spec, the folder its scenario paths are relative to, and its name."""

    spec: FleetSpec
    path: Path | None
    root: Path

    @property
    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        return self.path.stem if self.path is not None else "fleet"

    def scenario_path(self, text: str) -> Path:
        p = Path(text)
        return p if p.is_absolute() else self.root / p


def _fix_unknown_keys(items: list[ErrorItem]) -> list[ErrorItem]:
    """The scenario loader suggests scenario keys for an unknown key; suggest the fleet file's instead."""
    out = []
    for item in items:
        if item.message.startswith("unknown key"):
            parts = [int(p) if p.isdigit() else p for p in item.path.split(".")]
            model = _model_at(FleetSpec, tuple(parts[:-1]))
            if model is not None:
                valid = [f.alias or n for n, f in model.model_fields.items()]
                close = difflib.get_close_matches(str(parts[-1]), valid, n=1, cutoff=0.6)
                item = dataclasses.replace(item, expected="one of " + ", ".join(valid),
                                           hint=f"did you mean `{close[0]}`?" if close else None)
        out.append(item)
    return out


def _at(marks: Marks | None, *loc: str | int) -> tuple[int | None, int | None]:
    return marks.find(tuple(loc)) if marks is not None else (None, None)


def _reference_errors(spec: FleetSpec, root: Path, marks: Marks | None) -> list[ErrorItem]:
    pools = [p.name for p in spec.pools]
    items: list[ErrorItem] = []

    def check_pool(name: str | None, *loc: str | int) -> None:
        if name is not None and name not in pools:
            close = difflib.get_close_matches(name, pools, n=1, cutoff=0.6)
            line, col = _at(marks, *loc)
            items.append(ErrorItem("no pool of that name", path=".".join(map(str, loc)), line=line, column=col,
                                   given=name, expected="one of " + ", ".join(pools),
                                   hint=f"did you mean `{close[0]}`?" if close else None))

    for i, job in enumerate(spec.workload.jobs):
        check_pool(job.pool, "workload", "jobs", i, "pool")
        if job.pool is None and job.scenario is None and len(pools) > 1:
            line, col = _at(marks, "workload", "jobs", i)
            items.append(ErrorItem("a job without a scenario needs a pool when there are several",
                                   path=f"workload.jobs.{i}.pool", line=line, column=col,
                                   expected="one of " + ", ".join(pools)))
        if job.scenario is not None:
            p = Path(job.scenario)
            p = p if p.is_absolute() else root / p
            if not p.is_file():
                line, col = _at(marks, "workload", "jobs", i, "scenario")
                items.append(ErrorItem("the scenario file does not exist", path=f"workload.jobs.{i}.scenario",
                                       line=line, column=col, given=job.scenario, expected=f"a file (looked for {p})"))
    gen = spec.workload.generated
    if gen is not None:
        check_pool(gen.pool, "workload", "generated", "pool")
        if gen.pool is None and len(pools) > 1:
            line, col = _at(marks, "workload", "generated")
            items.append(ErrorItem("a generated workload needs a pool when there are several",
                                   path="workload.generated.pool", line=line, column=col,
                                   expected="one of " + ", ".join(pools)))
    return items


def parse_fleet(data: Any, marks: Marks | None = None, filename: str | None = None,
                root: Path | None = None) -> FleetFile:
    """Validate a fleet mapping (``marks`` locate its errors); raise ScenarioError with every problem."""
    if not isinstance(data, dict):
        raise ScenarioError(ErrorItem(f"the top level is a {type(data).__name__}", line=1 if marks else None,
                                      column=1 if marks else None, expected="a mapping with pools and workload"),
                            filename)
    try:
        spec = FleetSpec.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_fix_unknown_keys(errors_from_validation(exc, data, marks)), filename) from None
    path = Path(filename) if filename else None
    root = root or (path.parent if path is not None else Path.cwd())
    problems = _reference_errors(spec, root, marks)
    if problems:
        raise ScenarioError(problems, filename)
    return FleetFile(spec=spec, path=path, root=root)


def load_fleet(source: str | os.PathLike[str] | Mapping[str, Any] | FleetSpec | FleetFile) -> FleetFile:
    """A validated fleet from a YAML path, a mapping or a spec (scenario paths relative to the file)."""
    if isinstance(source, FleetFile):
        return source
    if isinstance(source, FleetSpec):
        return FleetFile(spec=source, path=None, root=Path.cwd())
    if isinstance(source, Mapping):
        return parse_fleet(dict(source))
    p = Path(source)
    data, marks = read_yaml_bytes(read_file_bytes(p, "a fleet file"), str(p))
    return parse_fleet(data, marks, str(p))
