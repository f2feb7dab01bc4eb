"""Step times from training logs: Megatron-LM, NeMo and torchtitan lines, one parser per format.

The formats (as the frameworks print them; sample lines in tests/test_calibrate_logs.py):

* Megatron-LM (``megatron/training/training.py``, ``training_log``): ``iteration  100/ 5000 | consumed
  samples: ... | elapsed time per iteration (ms): 1234.5 | throughput per GPU (TFLOP/s/GPU): 412.3 | ...``.
  The elapsed time is the mean over the log interval.
* NeMo: 1.x prints through PyTorch Lightning's progress bar ``..., global_step=49.0, ..., train_step_timing
  in s=1.98]``; 2.x logs ``Training epoch 0, iteration 49/999 | ... | train_step_timing in s: 1.98 | ...``.
* torchtitan (``torchtitan/train.py``, ``log_metrics``): ``step: 10  loss:  8.1234  memory: 35.12GiB(44.37%)
  tps: 6,789  tflops: 345.67  mfu: 34.95%`` (ANSI colours stripped; older versions say ``wps``). tps is
  tokens per second **per GPU**.

:func:`summarize` drops the warm-up steps (compilation, allocator growth, the first NCCL rings), then takes
the median of the rest and the spread of its logarithm (1.4826 x the median absolute deviation, a
robust standard deviation for normal data; Rousseeuw & Croux 1993) as the measurement's noise.

Checkpoint times (:func:`parse_checkpoint_ops`): Megatron-LM's timers print ``save-checkpoint ....: (min,
max)`` and ``load-checkpoint ....: (min, max)`` in milliseconds across ranks (the slowest rank, max, is
what blocks the job); torchtitan logs ``Finished saving the checkpoint (or staging if async is enabled)in
12.34 seconds.`` and ``Finished loading the checkpoint in 5.67 seconds.`` (NeMo logs no checkpoint time.)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from clustersim.errors import ErrorItem, ScenarioError

__all__ = ["FORMATS", "LogStep", "LogSummary", "parse_megatron", "parse_nemo", "parse_torchtitan", "parse_log",
           "detect_format", "summarize", "read_log", "parse_checkpoint_ops", "read_checkpoint_ops"]

FORMATS = ("megatron", "nemo", "torchtitan")
_NUM = r"([-+]?[0-9][0-9,]*\.?[0-9]*(?:[eE][-+]?[0-9]+)?)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

_MEGATRON_ITER = re.compile(r"\biteration\s+(\d+)\s*/\s*\d+\s*\|")
_MEGATRON_MS = re.compile(r"elapsed time per iteration \(ms\):\s*" + _NUM)
_MEGATRON_TFLOPS = re.compile(r"throughput per GPU \(TFLOP/s/GPU\):\s*" + _NUM)
_NEMO_TIME = re.compile(r"train_step_timing in s\s*[=:]\s*" + _NUM)
_NEMO_STEP = re.compile(r"(?:global_step\s*[=:]\s*" + _NUM + r"|\biteration\s+(\d+)\s*/)")
_TITAN_STEP = re.compile(r"\bstep:\s*(\d+)\s")
_TITAN_TPS = re.compile(r"\b(?:tps|wps):\s*" + _NUM)
_TITAN_MFU = re.compile(r"\bmfu:\s*" + _NUM + r"\s*%")
_TITAN_TFLOPS = re.compile(r"\btflops:\s*" + _NUM)
_MEGATRON_CKPT = re.compile(r"\b(save|load)-checkpoint\b[ .]*:\s*\(\s*" + _NUM + r"\s*,\s*" + _NUM + r"\s*\)")
_TITAN_CKPT = re.compile(r"Finished (saving|loading) the checkpoint.*?\bin\s*" + _NUM + r"\s*seconds")


@dataclass(frozen=True)
class LogStep:
    """One logged step: the figures the line gives (None where it gives none)."""

    step: int
    line: int
    step_time_s: float | None = None
    tokens_per_s_per_gpu: float | None = None
    mfu: float | None = None
    tflops_per_gpu: float | None = None


@dataclass(frozen=True)
class LogSummary:
    """The steady-state figure of a log: the metric, its median, its log spread and the steps used."""

    metric: str  # step_time_s or tokens_per_s_per_gpu
    value: float
    log_sd: float
    steps_used: int
    steps_skipped: int


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_megatron(lines: list[str]) -> list[LogStep]:
    out = []
    for i, raw in enumerate(lines, start=1):
        it, ms = _MEGATRON_ITER.search(raw), _MEGATRON_MS.search(raw)
        if it and ms:
            tf = _MEGATRON_TFLOPS.search(raw)
            out.append(LogStep(int(it.group(1)), i, step_time_s=_num(ms.group(1)) / 1e3,
                               tflops_per_gpu=_num(tf.group(1)) if tf else None))
    return out


def parse_nemo(lines: list[str]) -> list[LogStep]:
    out: list[LogStep] = []
    for i, raw in enumerate(lines, start=1):
        t = _NEMO_TIME.search(raw)
        if not t:
            continue
        st = _NEMO_STEP.search(raw)
        step = int(_num(st.group(1) or st.group(2))) if st else len(out)
        out.append(LogStep(step, i, step_time_s=_num(t.group(1))))
    return out


def parse_torchtitan(lines: list[str]) -> list[LogStep]:
    out = []
    for i, raw in enumerate(lines, start=1):
        text = _ANSI.sub("", raw)
        st, tps = _TITAN_STEP.search(text), _TITAN_TPS.search(text)
        if st and tps:
            mfu, tf = _TITAN_MFU.search(text), _TITAN_TFLOPS.search(text)
            out.append(LogStep(int(st.group(1)), i, tokens_per_s_per_gpu=_num(tps.group(1)),
                               mfu=_num(mfu.group(1)) / 100.0 if mfu else None,
                               tflops_per_gpu=_num(tf.group(1)) if tf else None))
    return out


_PARSERS = {"megatron": parse_megatron, "nemo": parse_nemo, "torchtitan": parse_torchtitan}


def detect_format(lines: list[str]) -> str | None:
    """The format whose parser reads the most lines (None when none reads any)."""
    counts = {name: len(parser(lines)) for name, parser in _PARSERS.items()}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else None


def parse_log(lines: list[str], fmt: str = "auto") -> tuple[str, list[LogStep]]:
    if fmt == "auto":
        found = detect_format(lines)
        if found is None:
            raise ValueError("no Megatron-LM, NeMo or torchtitan step line found")
        fmt = found
    if fmt not in _PARSERS:
        raise ValueError(f"unknown log format {fmt!r}; expected auto, {', '.join(FORMATS)}")
    return fmt, _PARSERS[fmt](lines)


def _median(values: list[float]) -> float:
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def summarize(steps: list[LogStep], skip_steps: int = 10) -> LogSummary:
    """Median and robust log spread of the step time (or of tps) after the first ``skip_steps`` steps."""
    kept = [s for s in steps if s.step > skip_steps]
    if not kept:
        raise ValueError(f"no logged step after the {skip_steps} warm-up steps")
    if all(s.step_time_s is not None for s in kept):
        metric, values = "step_time_s", [s.step_time_s for s in kept if s.step_time_s is not None]
    else:
        metric, values = "tokens_per_s_per_gpu", [s.tokens_per_s_per_gpu for s in kept
                                                 if s.tokens_per_s_per_gpu is not None]
    values = [v for v in values if v > 0]
    if not values:
        raise ValueError("the logged steps carry no positive time or throughput")
    logs = [math.log(v) for v in values]
    centre = _median(logs)
    spread = 1.4826 * _median([abs(x - centre) for x in logs]) if len(logs) > 2 else 0.0
    return LogSummary(metric, math.exp(centre), spread, len(values), len(steps) - len(kept))


def read_log(path: str | Path, fmt: str = "auto", skip_steps: int = 10, field: str = "log") -> tuple[str, LogSummary]:
    """Parse and summarize one log file; ScenarioError naming the file when it yields nothing."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ScenarioError(ErrorItem(f"cannot read the training log: {exc.strerror or exc}", path=field,
                                      given=str(p))) from None
    try:
        found, steps = parse_log(lines, fmt)
        return found, summarize(steps, skip_steps)
    except ValueError as exc:
        raise ScenarioError(ErrorItem(str(exc), path=field, given=str(p),
                                      expected="Megatron-LM, NeMo or torchtitan step lines"), str(p)) from None


def parse_checkpoint_ops(lines: list[str]) -> list[tuple[str, float, int]]:
    """(write or read, seconds, line number) of every checkpoint save or load a log reports."""
    out = []
    for i, raw in enumerate(lines, start=1):
        text = _ANSI.sub("", raw)
        m = _MEGATRON_CKPT.search(text)
        if m:
            out.append(("write" if m.group(1) == "save" else "read", _num(m.group(3)) / 1e3, i))
            continue
        t = _TITAN_CKPT.search(text)
        if t:
            out.append(("write" if t.group(1) == "saving" else "read", _num(t.group(2)), i))
    return out


def read_checkpoint_ops(path: str | Path, field: str = "checkpoints.log") -> list[tuple[str, float, int]]:
    """The checkpoint operations of one log file; ScenarioError naming the file when it has none."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise ScenarioError(ErrorItem(f"cannot read the log: {exc.strerror or exc}", path=field, given=str(p))) from None
    ops = parse_checkpoint_ops(lines)
    if not ops:
        raise ScenarioError(ErrorItem("no checkpoint save or load time found", path=field, given=str(p),
                                      expected="Megatron-LM save-/load-checkpoint timer lines or torchtitan "
                                               "'Finished saving/loading the checkpoint ... in N seconds'"), str(p))
    return [op for op in ops if op[1] > 0]
