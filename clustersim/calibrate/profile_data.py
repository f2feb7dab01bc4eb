"""The profile's content from a calibration result: kernel values, posterior, failures, storage, provenance."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from clustersim import units
from clustersim.calibrate.fit import FitResult

if TYPE_CHECKING:
    from clustersim.calibrate.measurements import MeasurementsFile
    from clustersim.calibrate.run import CalibrationResult

__all__ = ["build_profile_data", "model_log_sd"]


def model_log_sd(fit: FitResult, loo_rms: float | None, noise: float) -> float:
    """The model's error on a layout it was not fitted on: the larger of the noise and the LOO error."""
    return max(noise, loo_rms or 0.0)


def _kernel_uncertainty(fit: FitResult, loo_rms: float | None, noise: float, bounds: dict[str, tuple[float, float]]
                        ) -> dict[str, Any]:
    names = list(fit.names)
    sd = [fit.posterior_sd[n] for n in names]
    corr = [[fit.covariance[i][j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else float(i == j)
             for j in range(len(names))] for i in range(len(names))]
    return {"coordinate": {n: "log" if fit.log_scale[n] else "linear" for n in names},
            "sd": dict(zip(names, sd, strict=True)), "correlation": corr,
            "model_log_sd": model_log_sd(fit, loo_rms, noise),
            "lower": {n: bounds[n][0] for n in names}, "upper": {n: bounds[n][1] for n in names}}


def build_profile_data(res: CalibrationResult, file: MeasurementsFile, digest: str, when: str, *, version: int,
                       clustersim_version: str) -> dict[str, Any]:
    data: dict[str, Any] = {"clustersim_calibration": version, "name": res.name, "created_utc": when,
                            "clustersim_version": clustersim_version}
    prov: dict[str, Any] = {"measurements_file": res.source, "measurements_sha256": digest,
                            "measurements": [r.name for r in res.rows]}
    fit = res.fit
    if fit is not None:
        data["kernel"] = dict(fit.values)
        loo = res.rms_log_error("loo")
        data["kernel_uncertainty"] = _kernel_uncertainty(fit, loo, file.noise_log_sd, fit.bounds)
        dof = len(res.rows) - len(fit.identified_directions())
        prov["fit"] = {"chi2": fit.chi2, "measurements": len(res.rows),
                       "identified_directions": len(fit.identified_directions()), "dof": dof,
                       "rms_log_error_before": res.rms_log_error("before"),
                       "rms_log_error_after": res.rms_log_error("after"), "rms_log_error_loo": loo,
                       "noise_log_sd": file.noise_log_sd, "identified": list(fit.identified),
                       "at_bound": list(fit.at_bound),
                       "directions": [d.describe() for d in fit.identified_directions()]}
    if res.failures is not None:
        fs = res.failures
        weibull = {s.component: s.shape for s in fs.shapes if s.rejects_exponential and s.shape is not None}
        data["failures"] = {
            "observed_hours": fs.observed_hours,
            "sources": [{"component": r.component, "per": r.per, "mtbf_hours": r.mtbf_hours, "count": r.count,
                         "exposure_unit_hours": r.exposure_unit_hours, "level": r.level,
                         "mtbf_interval_hours": [x if math.isfinite(x) else 1e300 for x in r.mtbf_interval_hours],
                         "posterior_shape": r.posterior_shape, "posterior_rate_unit_hours": r.posterior_rate_unit_hours,
                         **({"distribution": "weibull", "shape": weibull[r.component]} if r.component in weibull
                            else {}),
                         "note": r.note} for r in fs.rates],
            "weibull": [s.to_dict() for s in fs.shapes],
            "recovery": fs.recovery.to_dict() if fs.recovery else None,
        }
        prov["failure_log"] = fs.source
    if res.storage:
        ck: dict[str, Any] = {"operations": sum(s.count for s in res.storage.values())}
        for op, est in res.storage.items():
            ck[f"{op}_gbyte_per_s"] = est.bandwidth_bytes_per_s / units.GB
            if est.fraction_of_nominal is not None:
                ck[f"{op}_fraction_of_nominal"] = est.fraction_of_nominal
        data["checkpoint"] = ck
    data["provenance"] = prov
    return data

