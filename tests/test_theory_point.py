"""One estimate's theory in plain Python (clustersim.reliability, no numpy import) against the vectorized
columns the sweeps use (clustersim.reliability.theory_columns) and against clustersim.theory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clustersim import theory
from clustersim.reliability import _theory_point, job_mtbf_s, theory_columns

KEYS = ("checkpoint_write_s", "checkpoint_load_s", "checkpoint_block_s", "checkpoint_interval_s", "job_mtbf_s",
        "expected_goodput", "expected_wall_s", "expected_interruptions", "cannot_finish", "recovery_s")
#: Figures that do not go through exp/expm1: the same floats as numpy's.
EXACT = ("checkpoint_write_s", "checkpoint_load_s", "checkpoint_block_s", "checkpoint_interval_s", "job_mtbf_s",
         "cannot_finish", "recovery_s")


def _points(n: int) -> list[dict[str, float]]:
    """Seeded points over every branch: fixed or auto interval, async or not, no failures, an MTBF too short
    to finish, runs long enough for exp to overflow."""
    rng = np.random.default_rng(20261202)
    out = []
    for i in range(n):
        out.append({
            "checkpoint_bytes": float(10 ** rng.uniform(9, 14)), "train_s": float(10 ** rng.uniform(3, 8)),
            "gpus": float(2 ** rng.integers(3, 15)), "write_bytes_per_s": float(10 ** rng.uniform(9, 12)),
            "read_bytes_per_s": float(10 ** rng.uniform(9, 12)), "is_async": bool(i % 2),
            "host_copy_bytes_per_s": float(10 ** rng.uniform(9, 11)),
            "fixed_interval_s": math.nan if i % 3 else float(10 ** rng.uniform(2, 7)),
            "mtbf_s": math.nan if i % 7 == 0 else float(10 ** rng.uniform(1, 7)),
            "recovery_s": float(10 ** rng.uniform(0, 3.5)),
        })
    return out


def test_theory_point_equals_the_vectorized_columns():
    points = _points(3000)
    cols = theory_columns(**{k: np.array([p[k] for p in points]) for k in points[0]})
    branches = set()
    for i, p in enumerate(points):
        one = _theory_point(**p)
        for key in KEYS:
            want, got = float(cols[key][i]), one[key]
            if key in EXACT or not math.isfinite(want):
                assert got == want or (math.isnan(got) and math.isnan(want)), (key, p, got, want)
            else:  # exp and expm1: the C library's against numpy's, at most a few ulps apart
                assert got == pytest.approx(want, rel=1e-14, abs=0.0), (key, p, got, want)
        branches.add((bool(one["cannot_finish"]), math.isnan(p["mtbf_s"]), math.isfinite(one["expected_wall_s"])))
    assert {(True, False, False), (False, True, False), (False, False, True), (False, False, False)} <= branches


@pytest.mark.parametrize("n", range(1, 12))
def test_job_mtbf_equals_theorys_float(n):
    """Fewer than 8 sources are summed in Python, left to right as numpy does for so few: the same float."""
    rng = np.random.default_rng(n)
    for _ in range(200):
        units = rng.integers(1, 20000, n).astype(float)
        mtbf = 10 ** rng.uniform(3, 9, n)
        sources = [{"effect": "node", "units": u, "mtbf_s": m} for u, m in zip(units, mtbf, strict=True)]
        assert job_mtbf_s(sources) == theory.job_mtbf_s(units, mtbf)
    with pytest.raises(ValueError):
        job_mtbf_s([{"effect": "node", "units": 1, "mtbf_s": 0.0}] * n)
