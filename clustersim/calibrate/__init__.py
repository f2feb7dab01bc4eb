"""``clustersim calibrate``: fit the kernel to your own runs, read failure and checkpoint logs, and put
an honest interval on every answer.

* :func:`calibrate` (:mod:`.run`) - measurements file in, :class:`CalibrationResult` out (rows measured vs
  predicted before, after and left out; the fit; failure rates; storage bandwidth; the profile).
* :mod:`.fit` - bounded MAP least squares on log step time, covariance, identifiability, leave-one-out.
* :mod:`.failurelog` - Gamma-Poisson rates with credible intervals, Weibull shape, recovery times.
* :mod:`.logs` - Megatron-LM, NeMo and torchtitan step-time lines.
* :mod:`.intervals` - prediction intervals from validation residuals or a posterior.
* :mod:`.profile` - the versioned profile file (write, load, draws for simulations).
"""

from clustersim.calibrate.intervals import Interval, interval_from_posterior, interval_from_residuals
from clustersim.calibrate.profile import Profile, load_profile
from clustersim.calibrate.run import CalibrationResult, MeasuredRow, calibrate

__all__ = ["calibrate", "CalibrationResult", "MeasuredRow", "Profile", "load_profile", "Interval",
           "interval_from_residuals", "interval_from_posterior"]
