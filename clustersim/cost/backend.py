"""Two backends for one set of formulas: numpy arrays (the vectorized kernel) and plain Python floats.

Every formula in :mod:`clustersim.cost` is written once, as a function of an ``xp`` backend and of
inputs that are either Python floats or numpy arrays; ``+ - * /`` work on both. The few operations
that differ (choose, max, min, ceil, floor, log2, cube root) go through the backend:

* :data:`NP` is used by :func:`clustersim.cost.kernel.evaluate` (it is made, and numpy imported, when first
  named: ``evaluate_one`` alone never imports numpy). When a condition is a plain Python
  bool (because every input it depends on is a scalar, e.g. the model's dimensions in a parallelism
  search), it picks a branch without touching an array; otherwise it calls the numpy function.
* :data:`PY` is used by :func:`clustersim.cost.kernel.evaluate_one`: ``math`` and built-ins only, no
  numpy call per configuration. Both backends do the same IEEE operations in the same order, so the
  two paths agree to the last bits.

Booleans: combine conditions with ``&`` and ``|`` (valid on Python bools and numpy bool arrays) and
negate with ``xp.logical_not`` (never ``~``, which is -2 on a Python bool).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = ["NP", "PY", "Backend"]

#: Plain Python scalars; the numpy backend adds numpy's scalar types.
_PY_SCALARS: tuple[type, ...] = (bool, int, float)


def _cbrt(x: float) -> float:
    """Cube root of a float: ``math.cbrt`` (Python 3.11+, the C library's cbrt as numpy's), else the power."""
    if hasattr(math, "cbrt"):
        return float(math.cbrt(x))
    return math.copysign(abs(x) ** (1.0 / 3.0), x)


class Backend:
    """The operations a formula may need besides arithmetic and comparisons."""

    name = "abstract"
    #: The types :meth:`is_scalar` and :meth:`select` take for one value shared by every configuration.
    scalar_types: tuple[type, ...] = _PY_SCALARS

    def where(self, cond: Any, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def is_scalar(self, x: Any) -> bool:
        """True for a plain number or bool (the same value for every configuration)."""
        return isinstance(x, self.scalar_types)

    def select(self, cond: Any, a: Callable[[], Any], b: Callable[[], Any]) -> Any:
        """``where(cond, a(), b())``, computing only the branch taken when ``cond`` is a scalar."""
        if isinstance(cond, self.scalar_types):
            return a() if cond else b()
        return self.where(cond, a(), b())

    def maximum(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def minimum(self, a: Any, b: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def ceil(self, x: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def floor(self, x: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def logical_not(self, x: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def log2(self, x: Any) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def cbrt(self, x: Any) -> Any:  # pragma: no cover - interface
        """Cube root (a ufunc of its own in numpy: about a third of the time of ``x ** (1 / 3)``)."""
        raise NotImplementedError

    def take(self, table: tuple[float, ...], index: Any) -> Any:  # pragma: no cover - interface
        """``table[index]`` for an integer code (already clipped to the table's range)."""
        raise NotImplementedError


class _Numpy(Backend):
    name = "numpy"

    def __init__(self) -> None:
        self.scalar_types = (*_PY_SCALARS, np.bool_, np.integer, np.floating)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        if isinstance(cond, self.scalar_types):
            return a if cond else b
        return np.where(cond, a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        if isinstance(a, float) and isinstance(b, float):
            return a if a >= b else b
        return np.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        if isinstance(a, float) and isinstance(b, float):
            return a if a <= b else b
        return np.minimum(a, b)

    def ceil(self, x: Any) -> Any:
        if isinstance(x, float):
            return float(math.ceil(x))
        return np.ceil(x)

    def floor(self, x: Any) -> Any:
        if isinstance(x, float):
            return float(math.floor(x))
        return np.floor(x)

    def logical_not(self, x: Any) -> Any:
        if isinstance(x, self.scalar_types):
            return not x
        return np.logical_not(x)

    def log2(self, x: Any) -> Any:
        if isinstance(x, float):
            return math.log2(x)
        return np.log2(x)

    def cbrt(self, x: Any) -> Any:
        if isinstance(x, float):
            return _cbrt(x)
        return np.cbrt(x)

    def take(self, table: tuple[float, ...], index: Any) -> Any:
        if isinstance(index, self.scalar_types):
            return table[int(index)]  # type: ignore[call-overload]
        return np.asarray(table, dtype=np.float64)[np.asarray(index).astype(np.intp)]


class _Python(Backend):
    name = "python"

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    def maximum(self, a: Any, b: Any) -> Any:
        return a if a >= b else b

    def minimum(self, a: Any, b: Any) -> Any:
        return a if a <= b else b

    def ceil(self, x: Any) -> Any:
        return float(math.ceil(x))

    def floor(self, x: Any) -> Any:
        return float(math.floor(x))

    def logical_not(self, x: Any) -> Any:
        return not x

    def log2(self, x: Any) -> Any:
        return math.log2(x)

    def cbrt(self, x: Any) -> Any:
        return _cbrt(float(x))

    def take(self, table: tuple[float, ...], index: Any) -> Any:
        return table[int(index)]


PY: Backend = _Python()
NP: Backend  # bound by __getattr__ on first use


def __getattr__(name: str) -> Any:
    """``NP``, made (and numpy imported) on first use (PEP 562), so that the plain-Python path never
    imports numpy."""
    if name != "NP":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    global NP, np
    import numpy as np

    NP = _Numpy()
    return NP
