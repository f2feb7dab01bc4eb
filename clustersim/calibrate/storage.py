"""Storage bandwidth from logged checkpoint writes and reads.

Each logged operation moved ``size`` bytes in ``seconds``; the bandwidth the job saw is the ratio
estimator sum(size) / sum(seconds) (the total bytes over the total time, which weights each operation by
its duration, as the job experiences it), with the slowest and fastest operations beside it. Published
runs reach a small fraction of the storage's nominal figure (MegaScale, arXiv:2402.15627 Sec. 4.4; Llama 3,
arXiv:2407.21783 Sec. 3.3.4: checkpoint writes are bound by the shared file system), so the fraction of the
scenario's nominal bandwidth is reported too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from clustersim import units

__all__ = ["StorageEstimate", "storage_bandwidth"]


@dataclass(frozen=True)
class StorageEstimate:
    op: str  # write or read
    count: int
    total_bytes: float
    total_s: float
    bandwidth_bytes_per_s: float
    slowest_bytes_per_s: float
    fastest_bytes_per_s: float
    nominal_bytes_per_s: float | None
    fraction_of_nominal: float | None

    @property
    def gbyte_per_s(self) -> float:
        return self.bandwidth_bytes_per_s / units.GB

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "gbyte_per_s": self.gbyte_per_s}


def storage_bandwidth(ops: Sequence[tuple[str, float, float]],
                      nominal_bytes_per_s: dict[str, float] | None = None) -> dict[str, StorageEstimate]:
    """Per operation kind (write / read): the bandwidth from (op, size_bytes, seconds) entries."""
    out: dict[str, StorageEstimate] = {}
    nominal = nominal_bytes_per_s or {}
    for op in ("write", "read"):
        rows = [(size, sec) for kind, size, sec in ops if kind == op]
        if not rows:
            continue
        if any(not (size > 0 and sec > 0) for size, sec in rows):
            raise ValueError("checkpoint sizes and times must be positive")
        total_b = sum(size for size, _ in rows)
        total_s = sum(sec for _, sec in rows)
        rates = [size / sec for size, sec in rows]
        bw = total_b / total_s
        nom = nominal.get(op)
        out[op] = StorageEstimate(op, len(rows), total_b, total_s, bw, min(rates), max(rates), nom,
                                  bw / nom if nom else None)
    return out
