"""``calibrate`` end to end on the example files; the fit here runs on a SYNTHETIC predictor.

The synthetic predictor rescales the parts of clustersim.estimate's breakdown (compute / a GEMM scale,
communication / a network scale, plus an overhead): enough to exercise the measurements, the fit, the
leave-one-out check and the profile. It is not the kernel taking calibrated inputs.
"""

import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clustersim.calibrate import calibrate, load_profile
from clustersim.calibrate.measurements import override_strings, read_measurements
from clustersim.calibrate.predictor import calibratable
from clustersim.calibrate.profile import kernel_overrides
from clustersim.cli import cli
from clustersim.errors import ClustersimError, ScenarioError
from clustersim.estimate import estimate
from clustersim.scenario import load_scenario
from tests.calibrate_example import Param as P
from tests.calibrate_example import example_failure_log

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "scenarios" / "calibration" / "measurements.yaml"


PARAMS = (P("gemm_efficiency_scale", 1.0, 0.5, 1.2), P("network_efficiency_scale", 1.0, 0.3, 1.2),
          P("step_overhead_s", 0.0, 0.0, 1.0))


@lru_cache(maxsize=32)
def _parts(scenario):
    b = estimate(scenario, with_theory=False).to_dict()["breakdown_s"]
    comm = sum(b[k] for k in ("tp_comm", "cp_comm", "ep_comm", "pp_comm", "dp_comm"))
    return b["compute"] + b["bubble"] + b["optimizer"], comm


def synthetic(scenario, params):
    compute, comm = _parts(scenario)
    return compute / params["gemm_efficiency_scale"] + comm / params["network_efficiency_scale"] + params["step_overhead_s"]


def test_the_example_failure_log_is_the_documented_draw():
    assert (EXAMPLE.parent / "failures.csv").read_text(encoding="utf-8") == example_failure_log()


def test_calibrate_example_with_a_synthetic_predictor(tmp_path):
    res = calibrate(EXAMPLE, predictor=synthetic, parameters=PARAMS, created_utc="2026-12-01T00:00:00Z")
    assert [r.name for r in res.rows] == ["tp2-dp128", "tp4-dp64", "tp2-pp2-dp64"]
    assert res.rows[1].metric == "log" and res.rows[1].measured_step_s == pytest.approx(2.295, rel=0.01)
    before, after, loo = (res.rms_log_error(k) for k in ("before", "after", "loo"))
    assert after < 0.05 < before and loo < before
    assert res.fit is not None and res.fit.identified_directions()
    prof = res.write_profile(tmp_path / "my-cluster.yaml")
    back = load_profile(tmp_path / "my-cluster.yaml")
    assert back == prof and back.kernel == pytest.approx(res.fit.values)
    assert back.provenance["measurements"] == ["tp2-dp128", "tp4-dp64", "tp2-pp2-dp64"]
    assert len(back.provenance["measurements_sha256"]) == 64
    assert back.kernel_uncertainty is not None and back.kernel_uncertainty.model_log_sd >= 0.05
    assert {s["component"] for s in back.scenario_sources()} == {"gpu", "host", "nic", "software"}
    assert back.checkpoint is not None and 0 < back.checkpoint.write_fraction_of_nominal < 1
    # draws respect the bounds and centre on the fit
    draws = back.draw_kernel(np.random.default_rng(0), 2000)
    g = np.array([d["gemm_efficiency_scale"] for d in draws])
    assert g.min() >= 0.5 and g.max() <= 1.2
    assert np.median(g) == pytest.approx(back.kernel["gemm_efficiency_scale"], rel=0.02)
    # the predictive sd: sqrt(g'Cg + model^2)
    grad = {"gemm_efficiency_scale": -1.0}
    var_g = back.kernel_uncertainty.sd["gemm_efficiency_scale"] ** 2
    assert back.predictive_log_sd(grad) == pytest.approx(math.sqrt(var_g + back.kernel_uncertainty.model_log_sd ** 2))


def test_calibrate_the_example_through_clustersim_estimate(tmp_path):
    """The real predictor: three measured layouts, a failure log, checkpoint timings."""
    res = calibrate(EXAMPLE)
    assert res.fit is not None and set(res.fit.names) == {p.name for p in calibratable()}
    before, after, loo = (res.rms_log_error(k) for k in ("before", "after", "loo"))
    # held out, the fit still removes most of the illustrative cluster's gap to the uncalibrated model
    assert after < 0.03 and loo < 0.6 * before, (before, after, loo)
    assert "gemm_efficiency_scale" in res.fit.identified
    assert 1 <= len(res.fit.identified_directions()) <= 3  # three measurements fix at most three directions
    # the mfu row goes through estimate: step = model FLOP / (GPUs x peak x MFU)
    s = res.rows[2]
    est = estimate(EXAMPLE.parent / "../quickstart.yaml", set=override_strings(
        {"training.parallelism": {"tp": 2, "pp": 2, "dp": 64}}))
    assert s.measured_step_s == pytest.approx(est.step_time_s * est.kernel["mfu"] / 0.43)
    assert s.before_s == pytest.approx(est.step_time_s)
    f = res.failures
    assert f is not None and {r.component for r in f.rates} == {"gpu", "host", "nic", "software"}
    assert res.storage["write"].count == 2
    size = est.checkpoint_size_gb * 1e9
    assert res.storage["write"].bandwidth_bytes_per_s == pytest.approx(2 * size / (11.8 + 13.1))
    prof = res.write_profile(tmp_path / "my-cluster.yaml")
    assert kernel_overrides(tmp_path / "my-cluster.yaml") == pytest.approx(res.fit.values)
    assert prof.provenance["fit"]["rms_log_error_loo"] == pytest.approx(loo)


def test_cli_calibrate_writes_a_profile_and_json(tmp_path):
    out = tmp_path / "profiles" / "my-cluster.yaml"
    r = CliRunner().invoke(cli, ["calibrate", str(EXAMPLE), "--profile", str(out)])
    assert r.exit_code == 0, r.output
    assert "measured vs predicted" in r.output and "failure rates" in r.output and "profile written" in r.output
    assert load_profile(out).name == "my-cluster"
    r = CliRunner().invoke(cli, ["calibrate", str(EXAMPLE), "--json"])
    data = json.loads(r.output)
    assert data["rows"][0]["name"] == "tp2-dp128" and data["failures"]["rates"]
    written = tmp_path / "c.json"
    assert CliRunner().invoke(cli, ["calibrate", str(EXAMPLE), "-o", str(written)]).exit_code == 0
    assert json.loads(written.read_text())["rows"] == data["rows"]  # -o writes what --json prints


def _write(tmp_path, text, name="m.yaml"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


QS = str(ROOT / "scenarios" / "quickstart.yaml")


def test_measurement_file_errors_are_located(tmp_path):
    p = _write(tmp_path, f"base: {QS}\nmeasurements:\n  - name: a\n    step_time_s: 1.0\n    mfu: 0.4\n")
    with pytest.raises(ScenarioError) as exc:
        read_measurements(p)
    assert "exactly one of" in exc.value.render() and f"{p}:3" in exc.value.render()
    p = _write(tmp_path, f"base: {QS}\nmeasurments: []\n")
    with pytest.raises(ScenarioError, match="unknown key"):
        read_measurements(p)
    p = _write(tmp_path, "measurements:\n  - name: a\n    step_time_s: 1.0\n")
    with pytest.raises(ScenarioError, match="base"):
        read_measurements(p)
    p = _write(tmp_path, f"base: {QS}\nmeasurements:\n  - name: a\n    set: {{training.parallelism: auto}}\n"
                         "    step_time_s: 1.0\n")
    with pytest.raises(ScenarioError, match="needs its parallel layout"):
        calibrate(p)
    p = _write(tmp_path, f"base: {QS}\nmeasurements:\n  - name: a\n    set: {{cluster.nodes: 0}}\n    step_time_s: 1.0\n")
    with pytest.raises(ScenarioError) as exc:
        calibrate(p)
    assert "measurement 'a'" in exc.value.render()
    r = CliRunner().invoke(cli, ["calibrate", str(p)])
    assert r.exit_code == 2 and "error" in r.output


def test_csv_measurements(tmp_path):
    p = _write(tmp_path, "name,scenario,set,metric,value\n"
                         f"a,{QS},training.parallelism.tp=2;training.parallelism.dp=128,step_time_s,1.9\n"
                         f"b,{QS},training.parallelism.tp=4;training.parallelism.dp=64,tokens_per_s_per_gpu,7000\n",
               "m.csv")
    spec, digest = read_measurements(p)
    assert [m.metric for m in spec.measurements] == ["step_time_s", "tokens_per_s_per_gpu"] and len(digest) == 64
    res = calibrate(p)
    tokens_per_step = 512 * 8192
    assert res.rows[1].measured_step_s == pytest.approx(tokens_per_step / (7000 * 256))
    bad = _write(tmp_path, "name,scenario,set,metric,value\na,x.yaml,,speed,3\n", "bad.csv")
    with pytest.raises(ScenarioError) as exc:
        read_measurements(bad)
    assert f"{bad}:2" in exc.value.render()


def test_profile_refusals(tmp_path):
    p = _write(tmp_path, "clustersim_calibration: 2\nname: x\n", "p.yaml")
    with pytest.raises(ScenarioError, match="unsupported profile version"):
        load_profile(p)
    p = _write(tmp_path, "name: x\n", "q.yaml")
    with pytest.raises(ScenarioError, match="not a calibration profile"):
        load_profile(p)
    p = _write(tmp_path, "clustersim_calibration: 1\nname: x\ncreated_utc: now\nclustersim_version: '0'\nkernal: {}\n",
               "r.yaml")
    with pytest.raises(ScenarioError, match="unknown key"):
        load_profile(p)
    with pytest.raises(ScenarioError, match="does not exist"):
        load_profile(tmp_path / "none.yaml")


def test_an_invalid_measured_layout_names_the_measurement(tmp_path):
    p = _write(tmp_path, f"base: {QS}\nmeasurements:\n  - name: odd\n    set: {{training.parallelism: {{tp: 3, dp: 1}}, "
                         "cluster.nodes: 1}\n    mfu: 0.4\n")
    with pytest.raises(ClustersimError, match="measurement 'odd'"):
        calibrate(p)


def test_kernel_overrides_refuse_unknown_names(tmp_path):
    p = _write(tmp_path, "clustersim_calibration: 1\nname: x\ncreated_utc: now\nclustersim_version: '0'\n"
                         "kernel: {warp_speed: 2.0}\n", "k.yaml")
    with pytest.raises(ScenarioError, match="unknown calibratable parameter"):
        kernel_overrides(p)
    ok = _write(tmp_path, "clustersim_calibration: 1\nname: x\ncreated_utc: now\nclustersim_version: '0'\n", "ok.yaml")
    assert kernel_overrides(ok) == {}


def test_a_scenario_referencing_the_profile_gets_the_calibrated_estimate(tmp_path):
    from clustersim.calibrate.predictor import estimate_predictor
    from clustersim.scenario.loader import read_scenario_mapping

    res = calibrate(EXAMPLE)
    path = tmp_path / "profiles" / "my-cluster.yaml"
    res.write_profile(path)
    data = read_scenario_mapping(QS)
    data["calibration"] = str(path)
    calibrated = estimate(data, with_theory=False).step_time_s
    assert calibrated == pytest.approx(estimate_predictor(load_scenario(QS), res.profile().kernel))
    assert calibrated != pytest.approx(estimate(QS, with_theory=False).step_time_s)


def test_checkpoint_times_read_from_a_log(tmp_path):
    from tests.test_calibrate_logs import CHECKPOINT_LINES

    (tmp_path / "train.log").write_text("\n".join(CHECKPOINT_LINES) + "\n", encoding="utf-8")
    p = _write(tmp_path, f"base: {QS}\ncheckpoints:\n  - {{log: train.log, size_gb: 100}}\n")
    res = calibrate(p)
    assert res.storage["write"].count == 2 and res.storage["read"].count == 2
    assert res.storage["write"].bandwidth_bytes_per_s == pytest.approx(2 * 100e9 / (11.80247 + 13.07))
    bad = _write(tmp_path, f"base: {QS}\ncheckpoints:\n  - {{log: train.log, op: write}}\n", "bad.yaml")
    with pytest.raises(ScenarioError, match="not both"):
        read_measurements(bad)


def test_a_weibull_failure_log_gives_a_weibull_source(tmp_path):
    from tests.test_calibrate_failures import _weibull_renewals

    events = _weibull_renewals(7, 0.7, 2000.0, 32, 5000.0)
    body = "".join(f"{e.time_s / 3600:.4f},{e.component},{e.node}\n" for e in events)
    (tmp_path / "f.csv").write_text("time_hours,component,node\n" + body, encoding="utf-8")
    p = _write(tmp_path, f"base: {QS}\nfailures: {{log: f.csv, observed_hours: 5000, nodes: 32}}\n")
    src = calibrate(p).profile().scenario_sources()
    assert len(src) == 1 and src[0]["distribution"] == "weibull" and 0.55 < src[0]["shape"] < 0.85
    # exponential data keep an exponential source
    body = "".join(f"{e.time_s / 3600:.4f},{e.component},{e.node}\n" for e in _weibull_renewals(3, 1.0, 2000.0, 32,
                                                                                                5000.0))
    (tmp_path / "f.csv").write_text("time_hours,component,node\n" + body, encoding="utf-8")
    assert "distribution" not in calibrate(p).profile().scenario_sources()[0]


def test_prior_sd_names_are_checked_and_used(tmp_path):
    p = _write(tmp_path, f"base: {QS}\nprior_sd: {{gemm_scale: 0.1}}\nmeasurements:\n  - name: a\n    step_time_s: 1.9\n")
    with pytest.raises(ScenarioError, match="unknown parameter"):
        calibrate(p)
    tight = _write(tmp_path, f"base: {QS}\nprior_sd: {{gemm_efficiency_scale: 0.01}}\nmeasurements:\n  - name: a\n"
                             "    step_time_s: 1.9\n", "t.yaml")
    res = calibrate(tight)
    assert res.fit is not None and res.fit.prior_sd["gemm_efficiency_scale"] == 0.01
    assert abs(math.log(res.fit.values["gemm_efficiency_scale"])) < 0.03  # a tight prior barely moves
