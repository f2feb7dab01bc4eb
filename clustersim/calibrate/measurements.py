"""The measurements file: the user's own runs (YAML or CSV), read with every error located.

YAML (the full format; docs/how-to/calibrate.md)::

    version: 1
    name: my-cluster                 # the profile's name (default: the file's stem)
    base: ../quickstart.yaml         # the scenario each measurement starts from (relative to this file)
    noise_log_sd: 0.05               # the log-sd of one measurement against the model (default 0.05)
    prior_sd: {step_overhead_s: 0.2} # optional: a parameter's prior sd (log units, or its own unit)
    measurements:
      - name: tp4-pp2
        set: {training.parallelism: {tp: 4, pp: 2}}   # overrides of the base, as --set takes them
        step_time_s: 3.21            # or tokens_per_s, tokens_per_s_per_gpu, mfu, or log: (below)
      - name: from-megatron
        scenario: other.yaml         # instead of base
        log: logs/run.log            # Megatron-LM, NeMo or torchtitan lines
        format: auto
        skip_steps: 10
    failures:                        # optional: a failure log in the failures.trace format
      log: failures.csv
      observed_hours: 720
      nodes: 64                      # default: the base scenario's nodes and GPUs per node
      per: {xid79: gpu}              # the unit of a component clustersim does not know
    checkpoints:                     # optional: logged checkpoint writes and reads
      - {op: write, seconds: 152}    # size_gb: default the base scenario's checkpoint size
      - {op: read, seconds: 95, size_gb: 1050}
      - {log: logs/run.log}          # or every save/load time a Megatron-LM / torchtitan log reports

CSV (measurements only): a header ``name,scenario,set,metric,value`` (optionally ``log_sd``), ``set`` as
``key=value;key=value``, ``metric`` one of step_time_s, tokens_per_s, tokens_per_s_per_gpu, mfu.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from clustersim.errors import ErrorItem, ScenarioError
from clustersim.scenario.loader import errors_from_validation
from clustersim.scenario.spec import Strict
from clustersim.scenario.yamlsafe import MAX_FILE_BYTES, read_file_bytes, read_yaml_bytes

__all__ = ["METRICS", "MeasurementSpec", "FailureLogSpec", "CheckpointLogSpec", "MeasurementsFile",
           "read_measurements"]

#: What a measurement may give (one of them, or a log).
METRICS = ("step_time_s", "tokens_per_s", "tokens_per_s_per_gpu", "mfu")

PosFloat = Annotated[float, Field(gt=0)]
Scalar = str | int | float | bool
OverrideValue = Scalar | list[Any] | dict[str, Any]


class MeasurementSpec(Strict):
    """One measured layout: where its scenario comes from and what was measured."""

    name: str
    scenario: str | None = Field(None, description="scenario file (relative to the measurements file); default base")
    set: dict[str, OverrideValue] = Field(default_factory=dict, description="dotted-key overrides of the scenario")
    step_time_s: PosFloat | None = None
    tokens_per_s: PosFloat | None = Field(None, description="the whole job's tokens per second")
    tokens_per_s_per_gpu: PosFloat | None = None
    mfu: Annotated[float, Field(gt=0, le=1)] | None = Field(None, description="model FLOPs utilisation, 0-1")
    log: str | None = Field(None, description="a Megatron-LM, NeMo or torchtitan training log")
    format: Literal["auto", "megatron", "nemo", "torchtitan"] = "auto"
    skip_steps: Annotated[int, Field(ge=0)] = Field(10, description="warm-up steps of the log left out")
    log_sd: PosFloat | None = Field(None, description="this measurement's log-sd (default: the file's noise_log_sd)")

    @model_validator(mode="after")
    def _one_figure(self) -> MeasurementSpec:
        given = [m for m in (*METRICS, "log") if getattr(self, m) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(METRICS)} or log (given: {', '.join(given) or 'none'})")
        return self

    @property
    def metric(self) -> str:
        return next(m for m in (*METRICS, "log") if getattr(self, m) is not None)


class FailureLogSpec(Strict):
    log: str = Field(description="failure log CSV: time_hours,component,node[,recovery_minutes]")
    observed_hours: PosFloat = Field(description="the observation window the log covers")
    nodes: Annotated[int, Field(gt=0)] | None = Field(None, description="nodes observed; default the base scenario's")
    gpus_per_node: Annotated[int, Field(gt=0)] | None = None
    nodes_per_leaf: Annotated[int, Field(gt=0)] | None = None
    per: dict[str, Literal["gpu", "node", "switch", "job"]] = Field(default_factory=dict)
    level: Annotated[float, Field(gt=0, lt=1)] = Field(0.9, description="credible interval of the rates")


class CheckpointLogSpec(Strict):
    """One logged checkpoint operation ({op, seconds}), or a training log whose checkpoint times are read."""

    op: Literal["write", "read"] | None = None
    seconds: PosFloat | None = None
    log: str | None = Field(None, description="a Megatron-LM or torchtitan log with checkpoint save/load times")
    size_gb: PosFloat | None = Field(None, description="checkpoint size in GB; default the base scenario's")

    @model_validator(mode="after")
    def _op_or_log(self) -> CheckpointLogSpec:
        if self.log is not None and (self.op is not None or self.seconds is not None):
            raise ValueError("give either op and seconds, or a log (not both)")
        if self.log is None and (self.op is None or self.seconds is None):
            raise ValueError("give op (write or read) and seconds, or a log")
        return self


class MeasurementsFile(Strict):
    version: Literal[1] = 1
    name: str | None = None
    base: str | None = Field(None, description="the base scenario (relative to this file)")
    noise_log_sd: PosFloat = 0.05
    prior_sd: dict[str, PosFloat] = Field(default_factory=dict, description=(
        "prior sd per parameter, in log units (a scale) or its own unit (an overhead); default from its bounds"))
    level: Annotated[float, Field(gt=0, lt=1)] = Field(0.8, description="prediction interval level")
    measurements: list[MeasurementSpec] = Field(default_factory=list)
    failures: FailureLogSpec | None = None
    checkpoints: list[CheckpointLogSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> MeasurementsFile:
        if not (self.measurements or self.failures or self.checkpoints):
            raise ValueError("nothing to calibrate: give measurements, failures or checkpoints")
        names = [m.name for m in self.measurements]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"measurement names must be unique (repeated: {', '.join(dup)})")
        if self.base is None and (self.failures or self.checkpoints or any(m.scenario is None for m in self.measurements)):
            missing = [m.name for m in self.measurements if m.scenario is None]
            if missing or self.failures or self.checkpoints:
                raise ValueError("`base` is needed (a measurement without `scenario`, failures or checkpoints use it)")
        return self


def _read_bytes(path: Path) -> bytes:
    raw = read_file_bytes(path, "a measurements file")
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(ErrorItem(f"the file is over {MAX_FILE_BYTES // 2**20} MiB"), str(path))
    return raw


def _parse_set(text: str, line: int, filename: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise ScenarioError(ErrorItem("an override is key=value", path="set", line=line, given=part), filename)
        out[key.strip()] = value.strip()
    return out


def _from_csv(raw: bytes, filename: str) -> tuple[dict[str, Any], dict[int, int]]:
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    header = [c.strip() for c in rows[0]] if rows else []
    need = ["name", "scenario", "set", "metric", "value"]
    if header[:5] != need:
        raise ScenarioError(ErrorItem("the CSV needs the header name,scenario,set,metric,value[,log_sd]", line=1,
                                      given=",".join(header)), filename)
    items: list[dict[str, Any]] = []
    lines: dict[int, int] = {}
    for i, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        cells = dict(zip(header, [c.strip() for c in row], strict=False))
        metric = cells.get("metric", "")
        if metric not in METRICS:
            raise ScenarioError(ErrorItem("unknown metric", path="metric", line=i, given=metric,
                                          expected=", ".join(METRICS)), filename)
        item: dict[str, Any] = {"name": cells.get("name", ""), "set": _parse_set(cells.get("set", ""), i, filename),
                                metric: cells.get("value", "")}
        if cells.get("scenario"):
            item["scenario"] = cells["scenario"]
        if cells.get("log_sd"):
            item["log_sd"] = cells["log_sd"]
        lines[len(items)] = i
        items.append(item)
    return {"measurements": items}, lines


def read_measurements(path: str | Path) -> tuple[MeasurementsFile, str]:
    """The validated measurements file and the sha256 of its bytes (for the profile's provenance)."""
    p = Path(path)
    raw = _read_bytes(p)
    digest = hashlib.sha256(raw).hexdigest()
    if p.suffix.lower() == ".csv":
        data, lines = _from_csv(raw, str(p))
        try:
            spec = MeasurementsFile.model_validate(data)
        except ValidationError as exc:
            items = []
            for item in errors_from_validation(exc, data, None):
                head = item.path.split(".")
                row = lines.get(int(head[1])) if len(head) > 1 and head[1].isdigit() else None
                items.append(ErrorItem(item.message, ".".join(head[2:]) or item.path, row, None, item.given,
                                       item.expected, item.hint))
            raise ScenarioError(items, str(p)) from None
        return spec, digest
    data, marks = read_yaml_bytes(raw, str(p))
    if not isinstance(data, dict):
        raise ScenarioError(ErrorItem("the top level must be a mapping", line=1, column=1,
                                      expected="version, base, measurements, failures, checkpoints"), str(p))
    try:
        return MeasurementsFile.model_validate(data), digest
    except ValidationError as exc:
        raise ScenarioError(errors_from_validation(exc, data, marks), str(p)) from None


def override_strings(values: dict[str, Any], prefix: str = "") -> list[str]:
    """``--set`` strings for a ``set:`` mapping; nested mappings become dotted keys.

    ``{training.parallelism: {tp: 4, pp: 2}}`` -> ``training.parallelism.tp=4``, ``training.parallelism.pp=2``.
    A scalar is written as JSON (valid YAML for one value); a list is refused (``--set`` takes one value).
    """
    out: list[str] = []
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            out.extend(override_strings(value, dotted + "."))
        elif isinstance(value, list):
            raise ScenarioError(ErrorItem("an override takes one value, not a list", path=f"set.{dotted}"))
        else:
            out.append(f"{dotted}={value if isinstance(value, str) else json.dumps(value)}")
    return out
