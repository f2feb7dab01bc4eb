"""Start-up: whole-process times of ``clustersim --help``, ``import clustersim`` and ``clustersim
estimate`` of GPT-3 175B, against a bare ``python -c pass`` measured in the same run.

Each command runs ``--runs`` times, in turn with the baseline (A B A B ...), so that a drift in the
machine's speed moves both; the ratio is the median of the per-pair ratios. Targets (the redesign and
speed issues): ``--help`` at most 5x the bare interpreter and under 0.3 s median. The machine is shared:
the load average is printed with the figures. Prints figures; asserts nothing.

    python benchmarks/bench_startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPT3 = REPO / "scenarios" / "gpt3-175b-megatron.yaml"

COMMANDS = {
    "clustersim --help": [sys.executable, "-m", "clustersim", "--help"],
    "import clustersim": [sys.executable, "-c", "import clustersim"],
    "clustersim estimate gpt3-175b": [sys.executable, "-m", "clustersim", "estimate", os.fspath(GPT3)],
}
BARE = [sys.executable, "-c", "pass"]
TARGETS = {"clustersim --help": (5.0, 0.3)}  # (ratio to bare python, median seconds)


def _wall_s(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=REPO)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.runs} paired runs each")
    for name, cmd in COMMANDS.items():
        _wall_s(cmd), _wall_s(BARE)  # warm the file cache
        pairs = [(_wall_s(cmd), _wall_s(BARE)) for _ in range(args.runs)]
        a = [p[0] for p in pairs]
        b = [p[1] for p in pairs]
        ratio = statistics.median(x / y for x, y in pairs)
        line = (f"{name:32s} median {statistics.median(a):.3f} s (min {min(a):.3f}, max {max(a):.3f}); bare python "
                f"median {statistics.median(b):.3f} s; ratio {ratio:.1f}x")
        if name in TARGETS:
            most_ratio, most_s = TARGETS[name]
            met = ratio <= most_ratio and statistics.median(a) < most_s
            line += f"  [target <= {most_ratio:g}x and < {most_s} s: {'met' if met else 'MISSED'}]"
        print(line, flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
