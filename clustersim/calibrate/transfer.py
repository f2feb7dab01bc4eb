"""Calibrate on one layout of a published source, predict its other rows: does the error fall?

For each published source with at least :data:`MIN_ROWS` predicted step-time-like rows, each row in
turn is the one "measured" layout: the fit (:func:`clustersim.calibrate.fit.fit`, ``mode="auto"``, so
one measurement moves only the overall efficiency scale, with the prior and the layout error of
:func:`clustersim.calibrate.run.overall_prior_sd`) is run on it, and the source's other rows are
predicted with the fitted parameters through the real estimate. The mean absolute error of those
predictions, averaged over the choice of the measured row, is compared with the uncalibrated kernel's
on the same rows. Averaging over every choice keeps any one row from deciding the verdict.

When should one row help? If a source's rows share a common error m (its cluster, its software) and
scatter about it with sd s, calibrating on one row removes m but adds that row's own scatter: the
expected squared error of another row goes from m^2 + s^2 to 2 s^2 (before shrinkage), so one row helps
when |m| > s (:attr:`SourceTransfer.expected_to_help`), and the table says where it did not.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["MIN_ROWS", "SourceTransfer", "one_row_transfer"]

#: Fewest rows a source needs (one to calibrate on, at least two to predict).
MIN_ROWS = 3


@dataclass(frozen=True)
class SourceTransfer:
    """One source: rows, uncalibrated and one-row-calibrated mean abs error of the held-out rows."""

    source: str
    rows: int
    error_before: float
    error_after: float
    mean_log_error: float
    sd_log_error: float

    @property
    def expected_to_help(self) -> bool:
        """The source's common error exceeds its row-to-row scatter (|m| > s; see the module docstring)."""
        return abs(self.mean_log_error) > self.sd_log_error

    @property
    def improved(self) -> bool:
        return self.error_after < self.error_before

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "expected_to_help": self.expected_to_help, "improved": self.improved}


def _source_rows(min_rows: int) -> dict[str, list[tuple[Any, float]]]:
    """Per source: (scenario, published step time) of its rows the estimate predicts (time-like and
    throughput metrics become a step time through the row's own prediction and error)."""
    from clustersim.published import published_rows, row_scenario, source_of, validation_table
    from clustersim.scenario import load_scenario

    table = {t["id"]: t for t in validation_table()}
    out: dict[str, list[tuple[Any, float]]] = {}
    for row in published_rows():
        t = table.get(row["id"])
        if t is None or t.get("error") is None:
            continue
        scenario = load_scenario(row_scenario(row))
        from clustersim.calibrate.predictor import estimate_predictor

        # e = log(true step / predicted step) = log1p(error) (clustersim.published.residuals)
        step = estimate_predictor(scenario, {}) * (1.0 + t["error"])
        out.setdefault(source_of(row) or row["id"], []).append((scenario, step))
    return {k: v for k, v in out.items() if len(v) >= min_rows}


def one_row_transfer(min_rows: int = MIN_ROWS) -> list[SourceTransfer]:
    """The check of the module docstring over every published source with ``min_rows`` rows or more."""
    from clustersim.calibrate.fit import Observation, fit
    from clustersim.calibrate.predictor import calibratable, estimate_predictor
    from clustersim.calibrate.run import overall_prior_sd, prior_sds

    params = calibratable()
    out = []
    for source, rows in sorted(_source_rows(min_rows).items(), key=lambda kv: (-len(kv[1]), kv[0])):
        before = [estimate_predictor(s, {}) for s, _ in rows]
        logs = [math.log(step / b) for (_, step), b in zip(rows, before, strict=True)]
        n = len(rows)
        err_before = err_after = 0.0
        for j, (scenario, step) in enumerate(rows):
            obs = [Observation(f"row {j}", scenario, step)]
            op = overall_prior_sd(scenario)
            values = fit(params, estimate_predictor, obs, prior_sd=prior_sds(params, obs, {}),
                         overall_prior_sd=op.prior_sd if op else None, layout_sd=op.layout_sd if op else 0.0).values
            others = [i for i in range(n) if i != j]
            err_before += sum(abs(before[i] / rows[i][1] - 1) for i in others) / len(others)
            err_after += sum(abs(estimate_predictor(rows[i][0], values) / rows[i][1] - 1) for i in others) / len(others)
        m = sum(logs) / n
        sd = math.sqrt(sum((x - m) ** 2 for x in logs) / (n - 1))
        out.append(SourceTransfer(source, n, err_before / n, err_after / n, m, sd))
    return out
