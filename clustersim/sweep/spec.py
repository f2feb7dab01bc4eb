"""The sweep file: a base scenario and the what-ifs to expand from it, validated with file:line errors.

A sweep file is YAML, read with the same safe, bounded reader as scenarios
(:func:`clustersim.scenario.yamlsafe.read_yaml_bytes`) and validated by a frozen pydantic model whose
unknown keys are errors. Every dotted key it sweeps (``cluster.nodes``, ``failures.node_mtbf_hours``)
is checked against the scenario format before anything is expanded, so a typo is reported at its line
with the closest valid key, never as a thousand invalid points.

```yaml
name: capacity plan
base: ../quickstart.yaml          # relative to this file
mode: estimate                    # estimate | simulate
seed: 0                           # keys the random streams of `samples:`
set:                              # fixed overrides applied to every point
  training.parallelism: auto
grid:                             # cartesian product
  cluster.gpu: [h100-sxm-80gb, h200-sxm-141gb]
  cluster.nodes: [8, 16, 32]
zip:                              # parallel lists (one point per position)
  model: [llama3-8b, llama3-70b]
  training.tokens: [1.0e12, 2.0e12]
samples:                          # n seeded random or Latin-hypercube points over ranges
  n: 16
  method: lhs                     # lhs | random
  ranges:
    failures.node_mtbf_hours: {low: 1000, high: 20000, log: true}
    cluster.nodes: {low: 4, high: 32, integer: true}
    checkpoint.async: {choices: [true, false]}
objective: cost_usd               # the column the best points are ranked by
```

The points are the product grid x zip x samples (an absent section counts as a single empty point).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.scenario.loader import errors_from_validation
from clustersim.scenario.model import Scenario
from clustersim.scenario.spec import Strict
from clustersim.scenario.yamlsafe import Marks, read_file_bytes, read_yaml_bytes

__all__ = ["SweepSpec", "SamplesSpec", "SampleRange", "SweepFile", "read_sweep", "parse_sweep",
           "check_dotted_key", "MAX_POINTS"]

#: Upper bound on the points one sweep file may expand to. A documented safety limit (not a model
#: figure): planning holds ~1.1 KiB per point (its inputs and key) and the store ~1 KiB per row, so
#: 2 million points is a few GB, far past any capacity-planning question.
MAX_POINTS = 2_000_000
#: Points evaluated per kernel call in estimate mode: large enough that the per-call overhead is
#: amortised (the kernel's cost per point is flat past a few thousand), small enough that a killed
#: sweep loses at most one chunk of work and the progress bar moves.
DEFAULT_CHUNK_SIZE = 2048


class SampleRange(Strict):
    """One sampled input: a range ``[low, high]`` (optionally log-uniform or integer) or a list of choices."""

    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="uniform in log(value) (for rates, MTBFs, bandwidths)")
    integer: bool = Field(False, description="integers in [low, high], each equally likely")
    choices: list[Any] | None = Field(None, min_length=1, description="pick one of these values")

    @model_validator(mode="after")
    def _shape(self) -> SampleRange:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log or self.integer:
                raise ValueError("give either choices or low/high (with log/integer), not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give low and high (or choices)")
        if not self.low <= self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.integer and (self.low != math.floor(self.low) or self.high != math.floor(self.high)):
            raise ValueError("an integer range needs whole-number low and high")
        return self


class SamplesSpec(Strict):
    n: Annotated[int, Field(gt=0, le=MAX_POINTS)] = Field(description="number of sampled points")
    method: Literal["lhs", "random"] = Field(
        "lhs", description="lhs = Latin hypercube (McKay, Beckman & Conover 1979); random = independent uniform")
    ranges: dict[str, SampleRange] = Field(min_length=1)


class SweepSpec(Strict):
    """A sweep file's content (paths are as written; :func:`read_sweep` resolves ``base``)."""

    name: str = ""
    description: str = ""
    base: str = Field(description="the scenario file every point starts from, relative to the sweep file")
    mode: Literal["estimate", "simulate"] = "estimate"
    seed: Annotated[int, Field(ge=0)] = Field(0, description="keys the random streams of samples:")
    set: dict[str, Any] = Field(default_factory=dict, description="overrides applied to every point")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="cartesian product over dotted keys")
    zip: dict[str, list[Any]] = Field(default_factory=dict, description="parallel lists of equal length")
    samples: SamplesSpec | None = None
    objective: str | None = Field(None, description="column the best points are ranked by")
    chunk_size: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        DEFAULT_CHUNK_SIZE, description="estimate mode: points per vectorized kernel call")

    @model_validator(mode="after")
    def _lists(self) -> SweepSpec:
        for key, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{key} is an empty list (the product would be empty)")
        lengths = {key: len(values) for key, values in self.zip.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise ValueError(f"zip lists must have equal lengths (got {shown})")
        if any(n == 0 for n in lengths.values()):
            raise ValueError("zip lists must not be empty")
        return self

    def swept_keys(self) -> list[str]:
        """The inputs that vary, in file order: grid, then zip, then samples."""
        keys = list(self.grid) + list(self.zip)
        if self.samples is not None:
            keys += list(self.samples.ranges)
        return keys

    def point_count(self) -> int:
        n = math.prod(len(v) for v in self.grid.values())
        if self.zip:
            n *= len(next(iter(self.zip.values())))
        if self.samples is not None:
            n *= self.samples.n
        return n


@dataclasses.dataclass(frozen=True)
class SweepFile:
    """A validated sweep: the spec, where it came from, and the base scenario's resolved path."""

    spec: SweepSpec
    path: Path | None
    base_path: Path
    sha256: str

    @property
    def name(self) -> str:
        if self.spec.name:
            return self.spec.name
        return self.path.stem if self.path is not None else "sweep"


# -- dotted keys against the scenario format ---------------------------------------------------------

def _models_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """(the pydantic model inside an annotation, whether it is a free-form dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    if origin is dict:
        return None, True
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            model, free = _models_in(arg)
            if model is not None or free:
                return model, free
    return None, False


def check_dotted_key(key: str) -> str | None:
    """None when ``key`` names a scenario field (``cluster.network.oversubscription``), else why not."""
    parts = key.split(".")
    if any(not p for p in parts):
        return f"`{key}` has an empty part"
    model: type[BaseModel] | None = Scenario
    for i, part in enumerate(parts):
        if model is None:
            return f"`{'.'.join(parts[:i])}` is not a mapping, so `{key}` cannot be set"
        fields = {(f.alias or name): f for name, f in model.model_fields.items()}
        field = fields.get(part)
        if field is None:
            close = difflib.get_close_matches(part, list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean `{'.'.join([*parts[:i], close[0]])}`?" if close else ""
            where = ".".join(parts[:i]) or "the top level"
            return f"unknown key `{part}` under {where} (valid: {', '.join(fields)}){hint}"
        model, free = _models_in(field.annotation)
        if free:
            return None  # e.g. cluster.gpu.peak_tflops.bf16: the dict's own validation checks the rest
    return None


# -- reading ---------------------------------------------------------------------------------------

_SECTIONS_WITH_KEYS = ("set", "grid", "zip")


def _key_errors(data: dict[str, Any], marks: Marks) -> list[ErrorItem]:
    items: list[ErrorItem] = []
    seen: dict[str, str] = {}
    sections: list[tuple[tuple[str, ...], Any]] = [((s,), data.get(s)) for s in _SECTIONS_WITH_KEYS]
    samples = data.get("samples")
    if isinstance(samples, dict):
        sections.append((("samples", "ranges"), samples.get("ranges")))
    for where, section in sections:
        if not isinstance(section, dict):
            continue
        for key in section:
            path = (*where, key)
            line, col = marks.key.get(path, (None, None))
            dotted = ".".join(map(str, path))
            if not isinstance(key, str):
                items.append(ErrorItem("keys must be dotted scenario paths", path=dotted, line=line, column=col))
                continue
            problem = check_dotted_key(key)
            if problem:
                items.append(ErrorItem(problem, path=dotted, line=line, column=col,
                                       expected="a dotted path into the scenario, e.g. cluster.nodes"))
            elif key in seen:
                items.append(ErrorItem(f"`{key}` is already given in {seen[key]}", path=dotted, line=line,
                                       column=col, expected="each input in one section only"))
            else:
                seen[key] = ".".join(where)
    return items


def _fix_unknown_keys(items: list[ErrorItem]) -> list[ErrorItem]:
    """errors_from_validation suggests scenario keys for unknown keys; suggest the sweep file's instead."""
    models: dict[str, type[BaseModel]] = {"": SweepSpec, "samples": SamplesSpec}
    out = []
    for item in items:
        if item.message.startswith("unknown key"):
            parts = item.path.split(".")
            parent = ".".join(parts[:-1])
            model = models.get(parent)
            if model is None and parent.startswith("samples.ranges."):
                model = SampleRange
            if model is not None:
                valid = [f.alias or n for n, f in model.model_fields.items()]
                close = difflib.get_close_matches(parts[-1], valid, n=1, cutoff=0.6)
                item = dataclasses.replace(item, expected="one of " + ", ".join(valid),
                                           hint=f"did you mean `{close[0]}`?" if close else None)
        out.append(item)
    return out


def parse_sweep(raw: bytes, filename: str | None = None) -> tuple[SweepSpec, Marks]:
    """Validate a sweep file's bytes; raise ScenarioError with every problem located at file:line."""
    data, marks = read_yaml_bytes(raw, filename)
    if not isinstance(data, dict):
        raise ScenarioError(ErrorItem(f"the top level is a {type(data).__name__}", line=1, column=1,
                                      expected="a mapping with base and grid, zip or samples"), filename)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        items = _fix_unknown_keys(errors_from_validation(exc, data, marks))
        raise ScenarioError(items + _key_errors(data, marks), filename) from None
    problems = _key_errors(data, marks)
    count = spec.point_count()
    if count > MAX_POINTS:
        problems.append(ErrorItem(f"the sweep expands to {count:,} points; the limit is {MAX_POINTS:,}",
                                  line=1, column=1, expected="fewer grid values or samples"))
    if problems:
        raise ScenarioError(problems, filename)
    return spec, marks


def read_sweep(path: str | os.PathLike[str]) -> SweepFile:
    """Read and validate a sweep file; its ``base`` must exist (relative to the sweep file)."""
    import hashlib

    p = Path(path)
    raw = read_file_bytes(p, "a sweep file")
    spec, marks = parse_sweep(raw, str(p))
    base = Path(spec.base)
    if not base.is_absolute():
        base = p.parent / base
    if not base.is_file():
        line, col = marks.value.get(("base",), (None, None))
        raise ScenarioError(ErrorItem("the base scenario does not exist", path="base", line=line, column=col,
                                      given=spec.base, expected=f"a scenario file (looked for {base})"), str(p))
    return SweepFile(spec=spec, path=p, base_path=base, sha256=hashlib.sha256(raw).hexdigest())
