"""The fitter on a synthetic predictor (closed-form step time), where the truth and the answers are known.

These tests exercise the least squares, the prior, the bounds, the covariance and the identifiability
report only (no clustersim kernel involved).
"""

import math

import numpy as np
import pytest

from clustersim.calibrate.fit import Observation, fit, leave_one_out
from tests.calibrate_example import Param as P

PARAMS = [P("gemm", 1.0, 0.5, 1.5), P("hbm", 1.0, 0.5, 1.5), P("net", 1.0, 0.3, 1.5), P("overhead_s", 0.0, 0.0, 2.0)]
TRUTH = {"gemm": 0.85, "hbm": 1.1, "net": 0.6, "overhead_s": 0.3}


def roofline(scenario, params):
    """Synthetic step time: compute, memory and network seconds at full efficiency, scaled, plus overhead."""
    c, m, n = scenario
    return c / params["gemm"] + m / params["hbm"] + n / params["net"] + params["overhead_s"]


def _layouts(k, seed=1):
    g = np.random.default_rng(seed)
    return [tuple(map(float, g.uniform(0.1, 5.0, 3))) for _ in range(k)]


def _obs(layouts, sd=0.01):
    return [Observation(f"m{i}", sc, roofline(sc, TRUTH), sd) for i, sc in enumerate(layouts)]


def test_many_measurements_recover_every_parameter():
    r = fit(PARAMS, roofline, _obs(_layouts(20)))
    for name, value in TRUTH.items():
        assert abs(r.values[name] - value) <= 3 * r.posterior_sd[name] * (value if r.log_scale[name] else 1), name
    assert set(r.identified) == set(TRUTH)
    assert r.chi2 < 0.1
    assert all(abs(a / b - 1) < 0.005 for a, b in zip(r.predicted_after_s, (o.step_time_s for o in r.observations), strict=True))


def test_one_measurement_moves_only_the_overall_efficiency_scale():
    """One number identifies one combination: by default the fit moves only the overall efficiency scale
    (every positive efficiency by one common factor; the overhead stays). With the public overhead at
    zero the roofline's log step time is log S0 - z exactly, so z's MAP is the conjugate normal one:
    y x prior^2 / (prior^2 + sd^2), y = log(S0 / measured)."""
    obs = _obs(_layouts(1), sd=0.05)
    r = fit(PARAMS, roofline, obs, overall_prior_sd=0.1)
    assert r.mode == "overall" and "overall efficiency scale" in r.moved()
    z = {n: math.log(r.values[n] / r.defaults[n]) for n in r.names if r.log_scale[n]}
    assert max(z.values()) - min(z.values()) < 1e-12 and r.values["overhead_s"] == 0.0
    y = math.log(roofline(obs[0].scenario, r.defaults) / obs[0].step_time_s)
    assert z["gemm"] == pytest.approx(y * 0.1 ** 2 / (0.1 ** 2 + 0.05 ** 2), rel=1e-4)
    assert r.overall["factor"] == pytest.approx(math.exp(z["gemm"]))
    # one layout's own model error (layout_sd) raises the measurement's sd: more shrinkage to the prior
    wide = fit(PARAMS, roofline, obs, overall_prior_sd=0.1, layout_sd=0.2)
    assert math.log(wide.overall["factor"]) == pytest.approx(y * 0.1 ** 2 / (0.1 ** 2 + 0.2 ** 2), rel=1e-4)
    assert len(r.identified_directions()) == 1 and r.identified == ()
    # two layouts that fix two directions move every parameter
    assert fit(PARAMS, roofline, _obs(_layouts(6))).mode == "full"


def test_one_measurement_in_full_mode_moves_only_one_direction():
    r = fit(PARAMS, roofline, _obs(_layouts(1)), mode="full")
    dirs = r.identified_directions()
    assert len(dirs) == 1
    assert r.identified == ()  # one number cannot pin any one of four parameters
    assert abs(r.predicted_after_s[0] / r.observations[0].step_time_s - 1) < 0.02
    # the move from the prior, in prior-whitened coordinates, lies along the identified direction
    move = np.array([(math.log(r.values[n]) - math.log(r.defaults[n])) / r.prior_sd[n] if r.log_scale[n]
                     else (r.values[n] - r.defaults[n]) / r.prior_sd[n] for n in r.names])
    axis = np.array([dirs[0].weights[n] for n in r.names])
    along = float(move @ axis)
    assert np.linalg.norm(move - along * axis) < 0.05 * abs(along)


def test_a_compute_only_measurement_identifies_the_gemm_scale_only():
    obs = [Observation("dense", (4.0, 0.0, 0.0), 4.0 / 0.85, 0.01)]
    no_overhead = PARAMS[:3]
    r = fit(no_overhead, lambda sc, p: roofline(sc, {**p, "overhead_s": 0.0}), obs, mode="full")
    assert r.identified == ("gemm",)
    assert len(r.identified_directions()) == 1
    assert r.values["gemm"] == pytest.approx(0.85, rel=0.01)
    assert r.values["hbm"] == pytest.approx(1.0) and r.values["net"] == pytest.approx(1.0)
    assert "gemm" in r.identified_directions()[0].describe()


def test_posterior_sd_matches_the_conjugate_closed_form():
    one = [P("gemm", 1.0, 0.25, 4.0)]  # prior sd = log(16)/4 = log 2
    obs = [Observation(f"m{i}", (2.0, 0.0, 0.0), 2.0 / 0.8 * (1 + 0.01 * (-1) ** i), 0.05) for i in range(6)]
    r = fit(one, lambda sc, p: sc[0] / p["gemm"], obs)
    prior_var = math.log(2.0) ** 2
    post_var = 1 / (6 / 0.05 ** 2 + 1 / prior_var)
    assert r.posterior_sd["gemm"] == pytest.approx(math.sqrt(post_var), rel=1e-4)
    mean_y = float(np.mean([math.log(2.0 / o.step_time_s) for o in obs]))  # log gemm implied by each row
    post_mean = post_var * (6 * mean_y / 0.05 ** 2 + 0.0 / prior_var)
    assert math.log(r.values["gemm"]) == pytest.approx(post_mean, abs=1e-6)


def test_bounds_hold_and_are_reported():
    obs = [Observation("slow", (4.0, 0.0, 0.0), 4.0 / 0.2, 0.01)]  # implies gemm = 0.2 < lower bound 0.5
    r = fit(PARAMS, roofline, obs)
    assert r.values["gemm"] == pytest.approx(0.5)
    assert "gemm" in r.at_bound
    assert all(p.lower - 1e-12 <= r.values[p.name] <= p.upper + 1e-12 for p in PARAMS)


def test_leave_one_out_beats_the_uncalibrated_prior():
    obs = _obs(_layouts(6, seed=4))
    r = fit(PARAMS, roofline, obs)
    loo = leave_one_out(PARAMS, roofline, obs, r)
    before = [abs(b / o.step_time_s - 1) for b, o in zip(r.predicted_before_s, obs, strict=True)]
    after = [abs(p / o.step_time_s - 1) for p, o in zip(loo, obs, strict=True)]
    assert max(after) < 0.03 < min(before)


def test_refusals():
    with pytest.raises(ValueError):
        fit([], roofline, _obs(_layouts(1)))
    with pytest.raises(ValueError):
        fit(PARAMS, roofline, [])
