"""Peak resident memory of a whole command, for the benchmarks (issue 16: simulate and search < 150 MiB).

The command runs as the only child of a fresh, small Python process, which reports its children's peak
RSS (``ru_maxrss`` of RUSAGE_CHILDREN, in KiB on Linux): the command's own peak, start-up included.
"""

from __future__ import annotations

import os
import subprocess
import sys

_PROBE = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
if done.returncode:
    sys.exit(done.stderr[-2000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def command_peak_rss_mib(argv: list[str]) -> float:
    """Peak RSS in MiB of ``argv`` run to completion (its output discarded; a failure raises)."""
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], check=True, capture_output=True, text=True,
                         env={**os.environ}).stdout
    return float(out.split()[-1]) / 1024


def clustersim_argv(*args: str) -> list[str]:
    """``python -m clustersim ARGS`` with this interpreter (the package on its path, as the benchmarks')."""
    return [sys.executable, "-m", "clustersim", *args]
