"""The real predictor (clustersim.estimate on a resolved run) and the interval estimate prints."""

import math
from pathlib import Path

import pytest

from clustersim.calibrate.intervals import Residual
from clustersim.calibrate.predictor import (
    calibratable,
    check_kernel_names,
    estimate_predictor,
    step_time_interval,
)
from clustersim.errors import ClustersimError
from clustersim.estimate import estimate
from clustersim.scenario import load_scenario

QS = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"


def test_without_parameters_the_predictor_is_the_estimate():
    s = load_scenario(QS)
    assert estimate_predictor(s, {}) == estimate(s, with_theory=False).step_time_s
    s4 = load_scenario(QS, ["training.parallelism.tp=4", "training.parallelism.dp=64"])
    assert estimate_predictor(s4, {}) == estimate(s4, with_theory=False).step_time_s != estimate_predictor(s, {})


def test_unknown_parameters_are_refused():
    with pytest.raises(ClustersimError, match="unknown calibratable parameter"):
        check_kernel_names(["no_such_efficiency"])
    with pytest.raises(ClustersimError, match="unknown calibratable parameter"):
        estimate_predictor(load_scenario(QS), {"no_such_efficiency": 1.0})
    check_kernel_names([p.name for p in calibratable()])


def test_interval_from_the_published_residuals_names_its_rows():
    s = load_scenario(QS)  # H100, tp 2 x dp 128
    rows = [Residual(f"h{i}", "hopper", "3d", e, f"h{i}") for i, e in enumerate((-0.1, -0.05, 0.0, 0.05, 0.1))]
    iv = step_time_interval(s, residuals=rows)
    assert iv.method == "validation-residuals" and iv.n == 5 and "hopper GPUs with 3d parallelism" in iv.source
    lo, hi = iv.apply(estimate(s).step_time_s)
    assert lo < estimate(s).step_time_s < hi
    published = step_time_interval(s)  # the committed validation set
    assert published.n is not None and published.n >= 5 and math.isfinite(published.hi_factor)
