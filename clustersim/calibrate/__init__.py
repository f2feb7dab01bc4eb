"""``clustersim calibrate``: fit the kernel to your own runs, read failure and checkpoint logs, and put
an honest interval on every answer.

* :func:`calibrate` (:mod:`.run`) - measurements file in, :class:`CalibrationResult` out (rows measured vs
  predicted before, after and left out; the fit; failure rates; storage bandwidth; the profile).
* :mod:`.fit` - bounded MAP least squares on log step time, covariance, identifiability, leave-one-out.
* :mod:`.failurelog` - Gamma-Poisson rates with credible intervals, Weibull shape, recovery times.
* :mod:`.logs` - Megatron-LM, NeMo and torchtitan step-time lines.
* :mod:`.intervals` - prediction intervals from validation residuals or a posterior.
* :mod:`.profile` - the versioned profile file (write, load, draws for simulations).

The names are loaded on first use (PEP 562 module ``__getattr__``): ``estimate`` needs only
:mod:`.intervals`, and importing it does not pay for the fit, the log readers and the profile models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the eager imports, for type checkers and IDEs only
    from clustersim.calibrate.intervals import Interval, interval_from_posterior, interval_from_residuals
    from clustersim.calibrate.profile import Profile, load_profile
    from clustersim.calibrate.run import CalibrationResult, MeasuredRow, calibrate

__all__ = ["calibrate", "CalibrationResult", "MeasuredRow", "Profile", "load_profile", "Interval",
           "interval_from_residuals", "interval_from_posterior"]

#: Where each public name lives.
_HOME = {
    **dict.fromkeys(("calibrate", "CalibrationResult", "MeasuredRow"), "clustersim.calibrate.run"),
    **dict.fromkeys(("Profile", "load_profile"), "clustersim.calibrate.profile"),
    **dict.fromkeys(("Interval", "interval_from_residuals", "interval_from_posterior"),
                    "clustersim.calibrate.intervals"),
}


def __getattr__(name: str) -> Any:
    """Load a public name on first access and keep it as a module attribute (PEP 562)."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'clustersim.calibrate' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
