"""The documented draw behind scenarios/calibration/failures.csv (illustrative, not a real cluster's log).

Exponential failures over 90 days on 32 nodes of 8 GPUs, on keyed seeded streams (clustersim.rng, seed 7):
gpu 40,000 h per GPU, host 20,000 h per node, nic 50,000 h per node, software 30 h per job; each
failure's recovery minutes lognormal with median 20 and log-sd 0.6.
"""

import math
from dataclasses import dataclass

from clustersim import rng


@dataclass(frozen=True)
class Param:
    """A calibratable parameter for the tests (the shape of clustersim.cost.inputs.Calibratable)."""

    name: str
    default: float
    lower: float
    upper: float
    description: str = ""

HOURS, NODES, GPN, SEED = 2160.0, 32, 8, 7
RATES = {"gpu": ("gpu", 40_000.0), "host": ("node", 20_000.0), "nic": ("node", 50_000.0), "software": ("job", 30.0)}


def example_failure_log() -> str:
    units = {"gpu": NODES * GPN, "node": NODES, "job": 1}
    rows = []
    for comp, (per, mtbf_h) in RATES.items():
        g = rng.stream(SEED, 0, f"example-failures/{comp}")
        t = 0.0
        while True:
            t += float(g.exponential(mtbf_h / units[per]))
            if t > HOURS:
                break
            node = int(g.integers(0, NODES))
            minutes = float(math.exp(math.log(20.0) + 0.6 * g.standard_normal()))
            rows.append((t, comp, node, minutes))
    rows.sort()
    body = "".join(f"{t:.3f},{c},{n},{m:.1f}\n" for t, c, n, m in rows)
    return "time_hours,component,node,recovery_minutes\n" + body
