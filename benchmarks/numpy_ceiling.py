"""The numpy ceiling of a vectorized function's own operation mix, for the benchmarks (issue 16: the kernel
at >= 0.8 of it).

:func:`trace_ops` runs the function once with its input arrays viewed as :class:`_Probe`, an ndarray
subclass whose ``__array_ufunc__`` and ``__array_function__`` hooks record every elementwise numpy
operation the function performs (the ufunc, its method, each operand's kind, dtype and shape, the output's
dtype and shape) and then compute it as usual. :func:`replay_s` times the same operations, in the same order and at the same
shapes and dtypes (an operand of a smaller shape broadcast as in the function: a kernel that computes a
layout's terms once for its variants is replayed doing the same), as numpy does them at best: every ufunc
into a preallocated output (``out=``: no temporary, no allocation), ``where`` as itself (it takes no ``out``). The ratio of the replay's time to
the function's own is the fraction of that ceiling the function reaches; what the replay leaves out
(Python overhead between operations, temporaries and their allocation, copies, indexing, reductions
other than the recorded ones) is what the function spends beyond it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

#: One recorded operation: (name, method, operands as ("a", dtype, shape) or ("s", Python type, ()), output
#: dtype, output shape)
Op = tuple[str, str, tuple[tuple[str, Any, tuple[int, ...]], ...], Any, tuple[int, ...]]


#: A stand-in for a Python scalar operand, by its type (floats: 1.25)
_SCALARS: dict[Any, Any] = {bool: True, int: 2}


class _Probe(np.ndarray):
    """An ndarray that records each numpy operation applied to it (see the module docstring)."""

    log: list[Op] = []

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        plain = tuple(x.view(np.ndarray) if isinstance(x, _Probe) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, _Probe) else o for o in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        first = result[0] if isinstance(result, tuple) else result
        if isinstance(first, np.ndarray) and first.ndim and method == "__call__":
            _Probe.log.append((ufunc.__name__, method, _operands(plain), first.dtype, first.shape))
        return _wrap(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        plain_args = tuple(a.view(np.ndarray) if isinstance(a, _Probe) else a for a in args)
        result = func(*plain_args, **kwargs)
        if func is np.where and len(args) == 3 and isinstance(result, np.ndarray) and result.ndim:
            _Probe.log.append(("where", "__call__", _operands(plain_args), result.dtype, result.shape))
        elif isinstance(result, np.ndarray):
            _Probe.log.append((f"other:{func.__name__}", "", (), result.dtype, result.shape))
        return _wrap(result)


def _operands(values: tuple[Any, ...]) -> tuple[tuple[str, Any, tuple[int, ...]], ...]:
    return tuple(("a", x.dtype, x.shape) if isinstance(x, np.ndarray) and x.ndim else ("s", type(x), ())
                 for x in values)


def _wrap(result: Any) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, np.ndarray) and result.ndim and not isinstance(result, _Probe):
        return result.view(_Probe)
    return result


def probe(x: Any) -> Any:
    """``x`` as a recording array (anything else unchanged)."""
    return x.view(_Probe) if isinstance(x, np.ndarray) and x.ndim else x


def trace_ops(run: Callable[[], Any]) -> list[Op]:
    """The operations ``run()`` performs on probe arrays (it must wrap its inputs with :func:`probe`)."""
    _Probe.log = []
    run()
    log, _Probe.log = _Probe.log, []
    return log


def mix(ops: list[Op]) -> Counter[str]:
    """How many operations of each name."""
    return Counter(op[0] for op in ops)


def replay_s(ops: list[Op], repeats: int = 5) -> float:
    """Best of ``repeats`` seconds to run the recorded ufuncs and wheres into preallocated arrays."""
    rng = np.random.default_rng(0)
    buffers: dict[tuple[Any, tuple[int, ...], int], np.ndarray] = {}

    def buf(dtype: Any, shape: tuple[int, ...], slot: int) -> np.ndarray:
        key = (np.dtype(dtype), shape, slot)
        if key not in buffers:
            dt = np.dtype(dtype)
            # positive values away from 0 and 1: no special cases (division, logs) on the way
            buffers[key] = (rng.random(shape) < 0.5) if dt.kind == "b" else (1.5 + rng.random(shape)).astype(dt)
        return buffers[key]

    calls: list[tuple[Any, tuple[Any, ...], np.ndarray | None]] = []
    for name, _method, operands, out_dtype, shape in ops:
        if name.startswith("other:"):
            continue
        args = tuple(buf(dt, sh, i) if kind == "a" else _SCALARS.get(dt, 1.25)
                     for i, (kind, dt, sh) in enumerate(operands))
        if name == "where":
            calls.append((np.where, args, None))
        else:
            ufunc = getattr(np, name)
            if ufunc.nout != 1:
                continue
            calls.append((ufunc, args, buf(out_dtype, shape, 9)))
    best = float("inf")
    with np.errstate(all="ignore"):
        for _ in range(repeats):
            t0 = time.perf_counter()
            for fn, args, out in calls:
                if out is None:
                    fn(*args)
                else:
                    fn(*args, out=out)
            best = min(best, time.perf_counter() - t0)
    return best
