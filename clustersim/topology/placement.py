"""Rank lists of the TP / CP / EP / DP / PP groups of a parallel layout.

Ranks are laid out as a mixed-radix number whose digits are the parallel dimensions, innermost first in
``order`` (Megatron-Core's ``RankGenerator`` convention, order "tp-cp-ep-dp-pp": tensor parallelism on
consecutive ranks so that it stays inside a node, pipeline outermost; Narayanan et al. 2021 §3.3 for why
TP goes innermost). Expert parallelism is carved out of data parallelism as in Megatron-Core: the
"ep" digit has ``ep`` values and the "dp" digit ``dp / ep``; a DP group varies both digits (``dp``
ranks, the group that all-reduces the dense weights), an EP group only the "ep" one. Global rank r is
GPU r of :func:`clustersim.topology.build_cluster` (GPU r sits in node r // gpus_per_node).
"""

from __future__ import annotations

from clustersim.errors import InfeasibleError, ScenarioError

__all__ = ["place_groups", "GROUP_KINDS", "DEFAULT_ORDER"]

GROUP_KINDS = ("tp", "cp", "ep", "dp", "pp")
DEFAULT_ORDER = "tp-cp-ep-dp-pp"


def _parse_order(order: str) -> list[str]:
    if not isinstance(order, str):
        raise ScenarioError(f"order must be a string like {DEFAULT_ORDER!r}, got {order!r}")
    names = [n.strip().lower() for n in order.split("-") if n.strip()]
    unknown = [n for n in names if n not in GROUP_KINDS]
    if unknown or len(set(names)) != len(names) or not {"tp", "dp", "pp"} <= set(names):
        raise ScenarioError(
            f"order {order!r} must name tp, dp and pp (and optionally cp, ep) once each, innermost first, "
            f"e.g. {DEFAULT_ORDER!r}"
        )
    # Missing optional dimensions go where Megatron-Core puts them: cp right after tp, ep right before dp.
    if "cp" not in names:
        names.insert(names.index("tp") + 1, "cp")
    if "ep" not in names:
        names.insert(names.index("dp"), "ep")
    return names


def place_groups(gpus: int, tp: int, cp: int, dp: int, pp: int, ep: int = 1,
                 order: str = DEFAULT_ORDER) -> dict[str, list[list[int]]]:
    """Every group of each kind, as ascending rank lists, for a ``tp*cp*dp*pp == gpus`` layout.

    Returns ``{"tp": [...], "cp": [...], "ep": [...], "dp": [...], "pp": [...]}``; in each kind every
    rank of ``range(gpus)`` appears in exactly one group, and groups are sorted by their first rank.
    Raises :class:`InfeasibleError` when the sizes do not multiply to ``gpus`` or ``ep`` does not divide
    ``dp``, and :class:`ScenarioError` for a malformed ``order``.
    """
    import numpy as np  # here: a cluster built for one estimate places no groups (and needs no numpy)

    sizes = {"tp": tp, "cp": cp, "dp": dp, "pp": pp, "ep": ep, "gpus": gpus}
    bad = {k: v for k, v in sizes.items() if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1}
    if bad:
        raise ScenarioError(f"parallel sizes must be positive integers, got {bad}")
    if tp * cp * dp * pp != gpus:
        raise InfeasibleError(f"tp*cp*dp*pp = {tp}*{cp}*{dp}*{pp} = {tp * cp * dp * pp} is not the {gpus} GPUs")
    if dp % ep:
        raise InfeasibleError(f"ep={ep} must divide dp={dp} (expert parallelism is carved out of data parallelism)")
    names = _parse_order(order)
    digit = {"tp": tp, "cp": cp, "ep": ep, "dp": dp // ep, "pp": pp}
    # C order: the LAST axis varies fastest, so the innermost dimension goes last.
    axes = list(reversed(names))
    ranks = np.arange(gpus, dtype=np.int64).reshape([digit[n] for n in axes])

    def groups_over(dims: list[str]) -> list[list[int]]:
        moved = [axes.index(d) for d in dims]
        rest = [i for i in range(len(axes)) if i not in moved]
        size = int(np.prod([digit[d] for d in dims]))
        block = np.transpose(ranks, rest + moved).reshape(-1, size)
        block = np.sort(block, axis=1)
        block = block[np.argsort(block[:, 0], kind="stable")]
        return [[int(r) for r in row] for row in block]

    return {
        "tp": groups_over(["tp"]),
        "cp": groups_over(["cp"]),
        "ep": groups_over(["ep"]),
        "dp": groups_over(["ep", "dp"]),
        "pp": groups_over(["pp"]),
    }
