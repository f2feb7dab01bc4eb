"""Prediction intervals for step time, days, GPU-hours and dollars: from validation residuals or a posterior.

An interval is a pair of factors on the predicted step time, ``[pred x lo_factor, pred x hi_factor]``. In
the failure-free estimate days, GPU-hours and dollars are the step time times fixed counts (steps, GPUs,
price), so the same factors carry over to them (:meth:`Interval.apply_to`).

* From residuals (:func:`interval_from_residuals`): e = log(true step time / predicted) over the
  validation rows of the same architecture (dense or MoE, :func:`clustersim.groups.architecture`), GPU
  generation and parallelism style (falling back to the architecture's rows of the generation, then to
  the architecture's rows, then to every row, when a group has fewer than :data:`MIN_GROUP` rows or
  fewer than :data:`MIN_SOURCES` publications). MoE rows are not pooled with dense ones: the model's
  error on them is about twice as large, and pooled they fell inside their 80% interval 56% of the time.
  Rows of one publication share its systematic error (its cluster, its software, how it measured), and a user's cluster is a new publication, so the interval is the prediction interval of a
  one-way random-effects model with the publication as the random effect: e_ij = mu + b_i + eps_ij,
  b_i ~ N(0, tau^2), eps_ij ~ N(0, sigma^2). sigma^2 is the pooled within-publication variance, tau^2 the
  ANOVA (method-of-moments) estimate max(0, (MSB - sigma^2) / n0), n0 = (n - sum n_i^2 / n) / (k - 1)
  (Searle, Casella & McCulloch, "Variance Components", 1992, Sec. 3.6); mu the inverse-variance weighted
  mean of the publication means, of variance 1 / sum w_i, w_i = 1 / (tau^2 + sigma^2 / n_i). A new
  publication's row then lies in mu +/- t_{k-1} sqrt(tau^2 + sigma^2 + var mu) (the random-effects
  prediction interval of Higgins, Thompson & Spiegelhalter 2009, J. R. Stat. Soc. A 172:137, Sec. 3.4,
  with k - 1 degrees of freedom for k publications; with one row per publication it is the normal-theory
  interval m +/- t_{n-1} s sqrt(1 + 1/n) of Hahn & Meeker, "Statistical Intervals", 1991, Sec. 4.5). t's
  quantile by the Cornish-Fisher expansion of A&S 26.7.5.
* From a posterior (:func:`interval_from_posterior`): log step time ~ N(log pred, s^2), s^2 = g' C g +
  sigma_model^2 (the delta method on the calibration's covariance C, plus the model's own error for a
  layout it was not fitted on).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clustersim.calibrate.special import normal_ppf
from clustersim.groups import architecture, gpu_generation, parallelism_style

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LEVEL", "MIN_GROUP", "MIN_SOURCES", "Interval", "Residual", "gpu_generation", "parallelism_style",
           "architecture", "student_t_ppf",
           "interval_from_residuals", "interval_from_posterior", "published_residuals", "coverage",
           "RandomEffects", "random_effects", "group_effects"]

#: The interval's default probability content.
LEVEL = 0.8
#: Fewest residuals a group needs before its own spread is used.
MIN_GROUP = 5
#: Fewest publications a group needs: a between-publication variance from fewer than three has under two
#: degrees of freedom (the t quantile of one is the Cauchy's), so the group falls back to a wider one.
MIN_SOURCES = 3
#: The figures an interval scales (failure-free: each is the step time times fixed counts).
SCALED = ("step_time_s", "train_days", "gpu_hours", "cost_usd")


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
        import numpy as np

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
    source: str = ""  # the publication: rows of one source share its systematic error
    architecture: str = "dense"  # dense or moe (clustersim.groups.architecture)




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


def _sources(rows: Sequence[Residual]) -> int:
    return len({r.source or r.id for r in rows})


def _group(residuals: Sequence[Residual], generation: str, style: str,
           arch: str = "dense") -> tuple[list[Residual], str]:
    def enough(rows: Sequence[Residual]) -> bool:
        return len(rows) >= MIN_GROUP and _sources(rows) >= MIN_SOURCES

    def size(rows: Sequence[Residual]) -> str:
        return f"{len(rows)} published rows from {_sources(rows)} publications"

    short = f"fewer than {MIN_GROUP} rows or {MIN_SOURCES} publications"
    label = "MoE" if arch == "moe" else arch
    kind = [r for r in residuals if r.architecture == arch]
    same = [r for r in kind if r.generation == generation and r.style == style]
    if enough(same):
        return same, f"{size(same)} of {label} models on {generation} GPUs with {style} parallelism"
    gen = [r for r in kind if r.generation == generation]
    if enough(gen):
        return gen, (f"{size(gen)} of {label} models on {generation} GPUs (only {size(same)} with {style} "
                     f"parallelism: {short})")
    if enough(kind):
        return kind, f"all {size(kind)} of {label} models (only {size(gen)} on {generation} GPUs: {short})"
    return list(residuals), f"all {size(residuals)} (only {size(kind)} of {label} models: {short})"


@dataclass(frozen=True)
class RandomEffects:
    """The one-way random-effects fit of a group's residuals (see the module docstring): ``mu`` the mean
    log error, ``tau2`` the between-publication and ``sigma2`` the within-publication variance, ``var_mu``
    the variance of mu, ``k`` publications and ``n`` rows."""

    mu: float
    tau2: float
    sigma2: float
    var_mu: float
    k: int
    n: int

    @property
    def predictive_sd(self) -> float:
        """sd of a new publication's row about mu: sqrt(tau^2 + sigma^2 + var mu)."""
        return math.sqrt(self.tau2 + self.sigma2 + self.var_mu)


def random_effects(rows: Sequence[Residual]) -> RandomEffects:
    """The one-way random-effects model of the module docstring, publications as the random effect."""
    by: dict[str, list[float]] = {}
    for r in rows:
        by.setdefault(r.source or r.id, []).append(r.log_error)
    k, n = len(by), len(rows)
    means = {src: sum(v) / len(v) for src, v in by.items()}
    within = sum((e - means[src]) ** 2 for src, v in by.items() for e in v)
    sigma2 = within / (n - k) if n > k else 0.0
    tau2 = 0.0
    if k > 1:
        grand = sum(r.log_error for r in rows) / n
        msb = sum(len(v) * (means[src] - grand) ** 2 for src, v in by.items()) / (k - 1)
        n0 = (n - sum(len(v) ** 2 for v in by.values()) / n) / (k - 1)
        tau2 = max(0.0, (msb - sigma2) / n0)
    if tau2 + sigma2 == 0.0:
        return RandomEffects(sum(means.values()) / k, 0.0, 0.0, 0.0, k, n)
    w = {src: 1.0 / (tau2 + sigma2 / len(v)) for src, v in by.items()}
    total = sum(w.values())
    return RandomEffects(sum(w[src] * means[src] for src in by) / total, tau2, sigma2, 1.0 / total, k, n)


def group_effects(generation: str, style: str, residuals: Sequence[Residual] | None = None,
                  arch: str = "dense") -> tuple[RandomEffects, str]:
    """The random-effects fit of the published residuals of an architecture, GPU generation and
    parallelism style (with the fallbacks of the interval), and which rows in words: what a calibration's
    prior needs."""
    rows, source = _group(published_residuals() if residuals is None else residuals, generation, style, arch)
    return random_effects(rows), source


def interval_from_residuals(residuals: Sequence[Residual], generation: str, style: str,
                            level: float = LEVEL, arch: str = "dense") -> Interval:
    """The prediction interval of a new layout on a new cluster from the residuals of its group (see the
    module docstring); ``arch`` is ``dense`` or ``moe``."""
    rows, source = _group(residuals, generation, style, arch)
    n = len(rows)
    if n < 2 or _sources(rows) < 2:
        raise ValueError("an interval from residuals needs at least two rows from two publications")
    fx = random_effects(rows)
    mean, scale, k = fx.mu, fx.predictive_sd, fx.k
    half = student_t_ppf(0.5 + level / 2, k - 1) * scale
    return Interval(level, math.exp(mean - half), math.exp(mean + half), "validation-residuals", source, n,
                    mean, scale, float(k - 1))


def interval_from_posterior(log_sd: float, level: float = LEVEL, source: str = "calibration profile") -> Interval:
    """A symmetric interval in log space from the predictive log-sd (delta method plus model error)."""
    if not (log_sd >= 0 and math.isfinite(log_sd)):
        raise ValueError("the predictive log-sd must be finite and >= 0")
    z = normal_ppf(0.5 + level / 2)
    return Interval(level, math.exp(-z * log_sd), math.exp(z * log_sd), "calibration-posterior", source, None, 0.0,
                    log_sd)


def published_residuals() -> list[Residual]:
    """Residuals of the published validation set: the committed file (``validation/residuals.csv``,
    written by ``python -m clustersim.docsgen`` and held current by a test; computed by
    :func:`clustersim.published.residuals`). e = log(true step time / predicted step time)."""
    return list(_published_default())


#: The published set's residuals, committed beside the data (``python -m clustersim.docsgen`` writes it;
#: tests/test_validation_published.py holds it equal to the model's current residuals).
RESIDUALS_FILE = "residuals.csv"
_RESIDUAL_FIELDS = ("id", "generation", "style", "log_error", "config", "source", "architecture")


def residuals_path() -> Path:
    """``validation/residuals.csv`` beside the published runs."""
    return Path(__file__).resolve().parents[2] / "validation" / RESIDUALS_FILE


def write_residuals(residuals: Sequence[Residual], path: str | os.PathLike[str] | None = None) -> None:
    """The residuals as CSV (atomically), for estimate's intervals without re-running the validation."""
    import csv
    import io

    from clustersim.io import atomic_write_text

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_RESIDUAL_FIELDS)
    for r in residuals:
        writer.writerow([r.id, r.generation, r.style, repr(r.log_error), r.config, r.source, r.architecture])
    atomic_write_text(os.fspath(path or residuals_path()), out.getvalue())


def read_residuals(path: str | os.PathLike[str] | None = None) -> list[Residual]:
    """The committed residuals (see :func:`write_residuals`)."""
    import csv

    with open(path or residuals_path(), newline="", encoding="utf-8") as fh:
        # a file written before the architecture column holds dense rows only as far as it says
        return [Residual(row["id"], row["generation"], row["style"], float(row["log_error"]), row["config"],
                         row["source"], row.get("architecture") or "dense") for row in csv.DictReader(fh)]


@lru_cache(maxsize=1)
def _published_default() -> tuple[Residual, ...]:
    """The committed residuals (RESIDUALS_FILE); a ValueError when the file is missing."""
    if not residuals_path().is_file():
        raise ValueError(f"{residuals_path()} is missing: run `python -m clustersim.docsgen`")
    return tuple(read_residuals())


def coverage(residuals: Sequence[Residual], level: float = LEVEL, leave_out: str = "source") -> dict[str, Any]:
    """Out-of-sample coverage: the share of rows inside the interval built from the other rows.

    ``leave_out="source"`` (the default) builds each row's interval without any row of its publication:
    a new user's cluster is a new source, and rows of one source share its systematic error.
    ``leave_out="config"`` leaves out only the row and its twin (the same run's other metric).
    """
    if leave_out not in ("source", "config"):
        raise ValueError("leave_out is 'source' or 'config'")
    inside = 0
    misses = []
    for r in residuals:
        if leave_out == "source" and r.source:
            others = [o for o in residuals if o.source != r.source]
        else:
            others = [o for o in residuals if o.config != r.config]
        iv = interval_from_residuals(others, r.generation, r.style, level, r.architecture)
        if math.log(iv.lo_factor) <= r.log_error <= math.log(iv.hi_factor):
            inside += 1
        else:
            misses.append(r.id)
    n = len(residuals)
    return {"level": level, "rows": n, "inside": inside, "share": inside / n if n else float("nan"),
            "leave_out": leave_out, "outside": misses}
