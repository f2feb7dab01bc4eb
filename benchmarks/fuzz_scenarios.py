"""Fuzz the real command with hostile and absurd scenario files (the generator is tests/fuzzing.py).

    python benchmarks/fuzz_scenarios.py --count 10000 --estimate 2000 --simulate 300 --jobs 2

Stage 1 runs ``clustersim validate`` on every generated file; stage 2 runs ``clustersim estimate`` (table
and ``--json`` alternately) on up to ``--estimate`` of the files that validated; stage 3 runs
``clustersim simulate --replicas 5 --workers 1`` on up to ``--simulate`` of those whose estimate
succeeded. Each run is the console entry point (``clustersim.cli.main``) in a child forked from a process
that has already imported clustersim (so a run costs milliseconds of start-up, not a second), with its
own stdout/stderr, a per-run timeout (``--timeout``, default 20 s; the child's process group is killed)
and an address-space limit (``--memory-limit-gib``, default 4) so that a runaway run cannot take the
machine down. Peak memory is the child's maximum resident set size (``wait4``), which includes the ~150
MiB of the imported modules it shares with its parent: an upper bound of what the run needs.

Printed per stage: runs, exit codes, raw Python tracebacks, internal errors (exit 1), timeouts, wall
time and CPU time (user + system, from ``wait4``: what the run costs whatever the machine's load; max and
99th percentile), peak memory (max), and for refusals (exit 2) how many name the file and
how many name a field or a line. ``--out DIR`` keeps the files and writes ``results.json`` with every
run that had a traceback, an internal error, a timeout, a refusal that does not name the file, or
memory over ``--memory-target-gib`` (default 1); each such run is also appended to ``bad.jsonl`` as it
ends, so that a long run can be read while it goes.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import re
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzzing import FuzzFile, generate_files  # noqa: E402

_TRACEBACK = "Traceback (most recent call last)"
#: A refusal names a line (``FILE:12:3:``), a field (``FILE: cluster.nodes:``) or is about the whole file.
_FIELD_OR_LINE = re.compile(r":\d+(:\d+)?: |: [A-Za-z_][\w\-]*(\.[\w\-\[\]]+)*: |FILE: (the file is|invalid UTF-8)")


@dataclass
class Run:
    """One command on one file."""

    stage: str
    file: str
    argv: list[str]
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    timed_out: bool
    traceback: bool
    names_file: bool
    names_field: bool
    stderr_head: str


def _child(argv: list[str], out_fd: int, err_fd: int, memory_bytes: int) -> None:
    code = 1
    try:
        os.setpgid(0, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        sys.argv = ["clustersim", *argv]
        from clustersim.cli import main

        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - what escapes the CLI is what a user would see
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class _Pending:
    def __init__(self, stage: str, path: Path, argv: list[str], timeout_s: float, memory_bytes: int):
        self.stage, self.path, self.argv, self.timeout_s = stage, path, argv, timeout_s
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        self.started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(argv, self.out.fileno(), self.err.fileno(), memory_bytes)
        self.pid = pid
        self.killed = False

    def poll(self) -> Run | None:
        pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            if time.monotonic() - self.started <= self.timeout_s:
                return None
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.killed = True
            pid, status, usage = os.wait4(self.pid, 0)
        wall = time.monotonic() - self.started
        code = os.waitstatus_to_exitcode(status)
        self.err.seek(0)
        self.out.seek(0)
        err = self.err.read().decode("utf-8", "replace")
        out = self.out.read().decode("utf-8", "replace")
        self.err.close()
        self.out.close()
        text = err + out
        cpu = usage.ru_utime + usage.ru_stime
        return Run(self.stage, self.path.name, self.argv, code, round(wall, 3), round(cpu, 3),
                   round(usage.ru_maxrss / 1024, 1),
                   self.killed, _TRACEBACK in text, str(self.path) in err,
                   bool(_FIELD_OR_LINE.search(err.replace(str(self.path), "FILE"))), err[:600])


def run_all(stage: str, jobs: list[tuple[Path, list[str]]], workers: int, timeout_s: float,
            memory_bytes: int, on_done: Callable[[Run], None] | None = None) -> list[Run]:
    todo = list(reversed(jobs))
    running: list[_Pending] = []
    done: list[Run] = []
    last_report = time.monotonic()
    while todo or running:
        while todo and len(running) < workers:
            path, argv = todo.pop()
            running.append(_Pending(stage, path, argv, timeout_s, memory_bytes))
        still = []
        for p in running:
            result = p.poll()
            if result is None:
                still.append(p)
            else:
                done.append(result)
                if on_done is not None:
                    on_done(result)
        running = still
        if running:
            time.sleep(0.005)
        if time.monotonic() - last_report > 30:
            print(f"  {stage}: {len(done):,} / {len(jobs):,}", file=sys.stderr, flush=True)
            last_report = time.monotonic()
    return done


def summarize(stage: str, runs: list[Run], timeout_s: float = 20.0) -> dict[str, object]:
    import numpy as np

    refusals = [r for r in runs if r.exit_code == 2]
    walls = np.array([r.wall_s for r in runs]) if runs else np.zeros(1)
    cpus = np.array([r.cpu_s for r in runs]) if runs else np.zeros(1)
    rss = np.array([r.peak_rss_mib for r in runs]) if runs else np.zeros(1)
    return {
        "stage": stage, "runs": len(runs),
        "exit_codes": dict(sorted(Counter(r.exit_code for r in runs).items())),
        "tracebacks": sum(r.traceback for r in runs),
        "internal_errors": sum(r.exit_code == 1 and not r.timed_out for r in runs),
        "timeouts": sum(r.timed_out for r in runs),
        "wall_s_max": float(walls.max()), "wall_s_p99": float(np.percentile(walls, 99)),
        "over_timeout_wall": int((walls > timeout_s).sum()),
        "cpu_s_max": float(cpus.max()), "cpu_s_p99": float(np.percentile(cpus, 99)),
        "peak_rss_mib_max": float(rss.max()), "peak_rss_mib_p99": float(np.percentile(rss, 99)),
        "refusals": len(refusals),
        "refusals_naming_file": sum(r.names_file for r in refusals),
        "refusals_naming_field_or_line": sum(r.names_field for r in refusals),
    }


def _trim_heap() -> None:
    """Give freed heap memory back to the system (glibc), so that forked runs do not start large."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


#: Exit codes of an answer: 0 done, 2 a refusal (user error), 3 a simulation some of whose replicas did not
#: finish within the horizon or the event budget (a documented result, not a failure).
_ANSWERS = (0, 2, 3)


def _bad(run: Run, memory_target_mib: float) -> bool:
    return (run.traceback or run.timed_out or run.exit_code not in _ANSWERS or run.peak_rss_mib > memory_target_mib
            or (run.exit_code == 2 and not run.names_file))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--count", type=int, default=10_000, help="files generated and validated")
    ap.add_argument("--estimate", type=int, default=2_000, help="valid files run through estimate")
    ap.add_argument("--simulate", type=int, default=300, help="valid files run through simulate --replicas 5")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per run")
    ap.add_argument("--memory-limit-gib", type=float, default=4.0, help="address-space limit per run")
    ap.add_argument("--memory-target-gib", type=float, default=1.0, help="peak memory above this is reported")
    ap.add_argument("--out", type=Path, help="keep the files and write results.json here")
    args = ap.parse_args()

    import clustersim.cli  # noqa: F401  (imported once here, so that every forked run starts warm)
    import clustersim.estimate  # noqa: F401
    import clustersim.simulate  # noqa: F401

    folder = args.out or Path(tempfile.mkdtemp(prefix="clustersim-fuzz-"))
    limit = int(args.memory_limit_gib * 2**30)
    target_mib = args.memory_target_gib * 1024
    t0 = time.monotonic()
    # Written to disk, then only (path, kind, mutations) kept: a forked run's peak memory includes what
    # its parent holds, and the contents (over 1 MiB each for some) would count against every run.
    files: list[tuple[Path, FuzzFile]] = []
    for start in range(0, args.count, 500):
        chunk = generate_files(args.seed, min(500, args.count - start), folder / "files", start=start)
        files += [(path, replace(f, content=b"")) for path, f in chunk]
        del chunk
    gc.collect()
    _trim_heap()
    kinds = {p.name: f for p, f in files}
    print(f"generated {len(files):,} files in {time.monotonic() - t0:.1f} s: "
          f"{dict(Counter(f.kind for _, f in files))}", flush=True)

    def log_bad(run: Run) -> None:  # as they happen, so that a long run can be read before it ends
        if args.out and _bad(run, target_mib):
            with open(args.out / "bad.jsonl", "a") as fh:
                fh.write(json.dumps(dict(asdict(run), mutations=list(kinds[run.file].mutations))) + "\n")

    validate = run_all("validate", [(p, ["validate", str(p)]) for p, _ in files], args.jobs, args.timeout, limit,
                       log_bad)
    ok = sorted((folder / "files" / r.file for r in validate if r.exit_code == 0), key=lambda p: p.name)
    chosen = ok[: args.estimate]
    estimate = run_all("estimate", [(p, ["estimate", str(p), *(["--json"] if i % 2 else [])])
                                    for i, p in enumerate(chosen)], args.jobs, args.timeout, limit, log_bad)
    est_ok = sorted((folder / "files" / r.file for r in estimate if r.exit_code == 0), key=lambda p: p.name)
    simulate = run_all("simulate", [(p, ["simulate", str(p), "--replicas", "5", "--workers", "1",
                                         *(["--json"] if i % 2 else [])])
                                    for i, p in enumerate(est_ok[: args.simulate])], args.jobs, args.timeout, limit,
                       log_bad)
    stages = {"validate": validate, "estimate": estimate, "simulate": simulate}
    summary = [summarize(name, runs, args.timeout) for name, runs in stages.items()]
    print(f"\nseed {args.seed}: {len(files):,} files, {len(ok):,} valid; {time.monotonic() - t0:.0f} s in all")
    header = ("stage", "runs", "exit_codes", "tracebacks", "internal_errors", "timeouts", "wall_s_max",
              "wall_s_p99", "cpu_s_max", "cpu_s_p99", "peak_rss_mib_max", "refusals", "refusals_naming_file", "refusals_naming_field_or_line")
    for row in summary:
        print("  " + ", ".join(f"{k} {row[k]}" for k in header))
    bad = [dict(asdict(r), mutations=list(kinds[r.file].mutations), kind=kinds[r.file].kind)
           for runs in stages.values() for r in runs if _bad(r, target_mib)]
    print(f"\n{len(bad)} runs with a traceback, an internal error, a timeout, a refusal not naming the file, "
          f"or peak memory over {args.memory_target_gib:g} GiB")
    for b in bad[:40]:
        first = next((line for line in str(b["stderr_head"]).splitlines() if line.strip()), "")
        print(f"  {b['stage']:8s} {b['file']} exit {b['exit_code']} {b['wall_s']:.1f} s (cpu {b['cpu_s']:.1f} s) "
              f"{b['peak_rss_mib']:.0f} MiB "
              f"{'TIMEOUT ' if b['timed_out'] else ''}{b['mutations']}: {first[:160]}")
    for name, runs in stages.items():
        for r in sorted(runs, key=lambda r: -r.wall_s)[:3]:
            print(f"  slowest {name:8s} {r.file} {r.wall_s:.1f} s (cpu {r.cpu_s:.1f} s) {r.peak_rss_mib:.0f} MiB exit {r.exit_code} "
                  f"{list(kinds[r.file].mutations)}")
    if args.out:
        (args.out / "results.json").write_text(json.dumps({"summary": summary, "bad": bad}, indent=1))
        print(f"files and results.json in {args.out}")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
