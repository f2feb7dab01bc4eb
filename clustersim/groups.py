"""How runs are grouped for validation and error bars: GPU generation, parallelism style and architecture.

One definition, used by the published-run validation (:mod:`clustersim.published`), its residuals and the
prediction intervals built from them (:mod:`clustersim.calibrate.intervals`). No other imports.
"""

from __future__ import annotations

__all__ = ["GENERATIONS", "gpu_generation", "parallelism_style", "architecture"]

#: The architecture generation of each catalog GPU family (the name's first part).
GENERATIONS = {"v100": "volta", "a100": "ampere", "h100": "hopper", "h800": "hopper", "h200": "hopper", "b200": "blackwell",
               "gb200": "blackwell", "mi300x": "cdna3"}


def gpu_generation(gpu: str) -> str:
    """``h100-sxm-80gb`` -> ``hopper``; ``other`` for a GPU the catalog does not know."""
    return GENERATIONS.get(str(gpu).split("-")[0], "other")


def parallelism_style(tp: int, pp: int, zero: int) -> str:
    """``fsdp`` for ZeRO-3 / FSDP full shard, ``3d`` with tensor or pipeline parallelism, else ``dp``."""
    if zero >= 3:
        return "fsdp"
    return "3d" if tp > 1 or pp > 1 else "dp"


def architecture(experts: int | float | None) -> str:
    """``moe`` for a mixture-of-experts model (more than one routed expert per MoE layer), else ``dense``.
    Its own group: the model's error on MoE runs is about twice its error on dense ones
    (docs/validation.md, by architecture), so their error bars are not pooled."""
    return "moe" if (experts or 1) > 1 else "dense"
