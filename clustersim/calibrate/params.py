"""The kernel's calibratable parameters: the names a fit or a profile may set, and the check on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clustersim.cost.inputs import CALIBRATABLE
from clustersim.errors import ClustersimError

__all__ = ["calibratable", "check_kernel_names"]


def calibratable() -> tuple[Any, ...]:
    """The kernel's calibratable parameters (``clustersim.cost.inputs.CALIBRATABLE``)."""
    return tuple(CALIBRATABLE)


def check_kernel_names(names: Sequence[str], where: str = "kernel") -> None:
    """Refuse a profile or a fit naming a parameter the kernel does not expose."""
    known = {p.name for p in calibratable()}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ClustersimError(f"{where}: unknown calibratable parameter(s) {', '.join(unknown)}; this kernel exposes "
                              f"{', '.join(sorted(known)) or 'none'}")
