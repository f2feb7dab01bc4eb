"""Prediction intervals for step time, days, GPU-hours and dollars: from validation residuals or a posterior.

An interval is a pair of factors on the predicted step time, ``[pred x lo_factor, pred x hi_factor]``. In
the failure-free estimate days, GPU-hours and dollars are the step time times fixed counts (steps, GPUs,
price), so the same factors carry over to them (:meth:`Interval.apply_to`).

* From residuals (:func:`interval_from_residuals`): e = log(true step time / predicted) over the
  validation rows of the same GPU generation and parallelism style (falling back to the generation, then
  to every row, when a group has fewer than :data:`MIN_GROUP` rows). With mean m, standard deviation s
  and n rows, the normal-theory prediction interval for one new row is m +/- t_{n-1} s sqrt(1 + 1/n)
  (Hahn & Meeker, "Statistical Intervals", 1991, Sec. 4.5); t's quantile by the Cornish-Fisher expansion
  of A&S 26.7.5.
* From a posterior (:func:`interval_from_posterior`): log step time ~ N(log pred, s^2), s^2 = g' C g +
  sigma_model^2 (the delta method on the calibration's covariance C, plus the model's own error for a
  layout it was not fitted on).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from clustersim.calibrate.special import normal_ppf

__all__ = ["LEVEL", "MIN_GROUP", "Interval", "Residual", "gpu_generation", "parallelism_style", "student_t_ppf",
           "interval_from_residuals", "interval_from_posterior", "published_residuals", "coverage"]

#: The interval's default probability content.
LEVEL = 0.8
#: Fewest residuals a group needs before its own spread is used.
MIN_GROUP = 5
#: The figures an interval scales (failure-free: each is the step time times fixed counts).
SCALED = ("step_time_s", "train_days", "gpu_hours", "cost_usd")

_GENERATIONS = (("a100", "ampere"), ("a800", "ampere"), ("a30", "ampere"), ("a10", "ampere"),
                ("h100", "hopper"), ("h200", "hopper"), ("h800", "hopper"), ("h20", "hopper"), ("gh200", "hopper"),
                ("b100", "blackwell"), ("b200", "blackwell"), ("gb200", "blackwell"), ("b300", "blackwell"),
                ("mi250", "cdna2"), ("mi300", "cdna3"), ("mi325", "cdna3"), ("v100", "volta"))


@dataclass(frozen=True)
class Interval:
    """Factors on the predicted step time that hold the truth with probability ``level``."""

    level: float
    lo_factor: float
    hi_factor: float
    method: str  # "validation-residuals" or "calibration-posterior"
    source: str  # in words: which rows or which profile
    n: int | None = None
    log_centre: float = 0.0  # the distribution behind the interval: log factor = centre + scale x T
    log_scale: float = 0.0
    dof: float = math.inf  # Student t degrees of freedom (inf: normal)

    def draw_factors(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Step-time factors drawn from the distribution the interval summarises (for a simulation's
        replicas): exp(centre + scale x T_dof), T standard normal when dof is infinite."""
        t = rng.standard_normal(size) if math.isinf(self.dof) else rng.standard_t(self.dof, size)
        return np.exp(self.log_centre + self.log_scale * t)

    def apply(self, value: float | None) -> tuple[float, float] | None:
        if value is None or not math.isfinite(value):
            return None
        return value * self.lo_factor, value * self.hi_factor

    def apply_to(self, figures: Mapping[str, float | None]) -> dict[str, tuple[float, float] | None]:
        """The interval of each failure-free figure that scales with the step time."""
        return {k: self.apply(v) for k, v in figures.items() if k in SCALED}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def report(self, figures: Mapping[str, float | None]) -> dict[str, Any]:
        """What ``estimate --json`` carries: level, method, source and ``[lo, hi]`` per scaled figure."""
        bounds = {k: (None if v is None else [v[0], v[1]]) for k, v in self.apply_to(figures).items()}
        return {"level": self.level, "method": self.method, "source": self.source, **bounds}


@dataclass(frozen=True)
class Residual:
    """One validation row: its id, group keys and e = log(true step time / predicted step time)."""

    id: str
    generation: str
    style: str
    log_error: float
    config: str = ""


def gpu_generation(gpu: str) -> str:
    """The architecture generation of a GPU name (``h100-sxm-80gb`` -> ``hopper``); the name itself if unknown."""
    low = gpu.lower()
    for prefix, gen in sorted(_GENERATIONS, key=lambda pg: -len(pg[0])):
        if low.startswith(prefix):
            return gen
    return low


def parallelism_style(tp: int, pp: int, dp: int, cp: int = 1, ep: int = 1) -> str:
    """The parallel dimensions in use, e.g. ``tp-pp-dp``; ``moe`` whenever experts are spread (ep > 1)."""
    if ep > 1:
        return "moe"
    parts = [name for name, deg in (("tp", tp), ("cp", cp), ("pp", pp), ("dp", dp)) if deg > 1]
    return "-".join(parts) or "single"


def student_t_ppf(p: float, dof: float) -> float:
    """Student t quantile by Cornish-Fisher (A&S 26.7.5, four terms; within 1e-3 for dof >= 3)."""
    z = normal_ppf(p)
    if math.isinf(dof):
        return z
    if dof < 1:
        raise ValueError("t needs at least one degree of freedom")
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z + g1 / dof + g2 / dof ** 2 + g3 / dof ** 3 + g4 / dof ** 4


def _group(residuals: Sequence[Residual], generation: str, style: str) -> tuple[list[Residual], str]:
    same = [r for r in residuals if r.generation == generation and r.style == style]
    if len(same) >= MIN_GROUP:
        return same, f"{len(same)} published rows on {generation} GPUs with {style} parallelism"
    gen = [r for r in residuals if r.generation == generation]
    if len(gen) >= MIN_GROUP:
        return gen, (f"{len(gen)} published rows on {generation} GPUs (only {len(same)} with {style} parallelism, "
                     f"fewer than {MIN_GROUP})")
    return list(residuals), (f"all {len(residuals)} published rows (only {len(gen)} on {generation} GPUs, fewer "
                             f"than {MIN_GROUP})")


def interval_from_residuals(residuals: Sequence[Residual], generation: str, style: str,
                            level: float = LEVEL) -> Interval:
    """The prediction interval of a new layout from the residuals of its group (see the module docstring)."""
    rows, source = _group(residuals, generation, style)
    n = len(rows)
    if n < 2:
        raise ValueError("an interval from residuals needs at least two rows")
    errs = [r.log_error for r in rows]
    mean = sum(errs) / n
    sd = math.sqrt(sum((e - mean) ** 2 for e in errs) / (n - 1))
    scale = sd * math.sqrt(1 + 1 / n)
    half = student_t_ppf(0.5 + level / 2, n - 1) * scale
    return Interval(level, math.exp(mean - half), math.exp(mean + half), "validation-residuals", source, n,
                    mean, scale, float(n - 1))


def interval_from_posterior(log_sd: float, level: float = LEVEL, source: str = "calibration profile") -> Interval:
    """A symmetric interval in log space from the predictive log-sd (delta method plus model error)."""
    if not (log_sd >= 0 and math.isfinite(log_sd)):
        raise ValueError("the predictive log-sd must be finite and >= 0")
    z = normal_ppf(0.5 + level / 2)
    return Interval(level, math.exp(-z * log_sd), math.exp(z * log_sd), "calibration-posterior", source, None, 0.0,
                    log_sd)


def _step_log_error(metric: str, published: float, predicted: float) -> float:
    """log(true step / predicted step): throughput metrics are inverse to the step time."""
    if metric == "step_time_s":
        return math.log(published / predicted)
    return math.log(predicted / published)


def published_residuals(table: Iterable[Mapping[str, Any]] | None = None,
                        rows: Iterable[Mapping[str, Any]] | None = None) -> list[Residual]:
    """Residuals of the published validation set (clustersim.cost.validation), with their group keys."""
    from clustersim.cost import validation

    parsed = [dict(r) for r in rows] if rows is not None else validation.published_rows()
    by_id = {r["id"]: r for r in parsed}
    table = list(table) if table is not None else validation.validation_table(parsed)
    out = []
    for t in table:
        r = by_id[t["id"]]
        config = "|".join(str(r.get(k)) for k in ("layers", "hidden_size", "gpus", "tp", "pp", "dp", "cp", "vpp",
                                                   "micro_batch_seqs", "global_batch_seqs", "recompute", "gpu"))
        out.append(Residual(t["id"], gpu_generation(r["gpu"]), parallelism_style(r["tp"], r["pp"], r["dp"], r["cp"]),
                            _step_log_error(t["metric"], t["published"], t["predicted"]), config))
    return out


def coverage(residuals: Sequence[Residual], level: float = LEVEL) -> dict[str, Any]:
    """Leave-one-out coverage: the share of rows inside the interval built from the other rows.

    A row's twin (the same run's other metric, same configuration) is left out with it, so that a row
    never predicts itself.
    """
    inside = 0
    misses = []
    for r in residuals:
        others = [o for o in residuals if o.config != r.config]
        iv = interval_from_residuals(others, r.generation, r.style, level)
        if math.log(iv.lo_factor) <= r.log_error <= math.log(iv.hi_factor):
            inside += 1
        else:
            misses.append(r.id)
    n = len(residuals)
    return {"level": level, "rows": n, "inside": inside, "share": inside / n if n else float("nan"),
            "outside": misses}
