"""Sweep benchmarks (issue 6): prints figures and ratios, all measured in this one run.

1. 100,000 analytic points: the chunked vectorized path (one kernel call per chunk) against one
   ``clustersim.estimate`` call per point (measured on a subsample, per point). Target >= 100x for the
   kernel; the end-to-end ratio (rows out, the per-point Python of building inputs and rows included)
   is printed too.
2. Simulated points on 1 vs 2 local worker processes: scaling efficiency T1 / (2 x T2). Target >= 80%.
   Each point is sized to about a second of work (20,000 replicas of quickstart): with 2,000, the size
   this used before the vectorized engine's fast path made a replica ~7x cheaper, the 0.5 s of starting
   two spawned workers dominates (61% measured, 98% without the start-up; 104% at 20,000).
3. SQLite write overhead per point: one transaction per point (simulated points) and one per chunk
   (analytic points), durable (WAL, synchronous=FULL).
4. A whole analytic ``run_sweep`` (the streamed path: points validated, keyed, evaluated and made rows
   in the workers; the main process writes) on 1 worker (this process) and on 2 worker processes:
   points per second [target >= 10,000 on 2 workers], scaling 1 -> 2 [target >= 80%], the CPU
   seconds of the main process and of the workers, and the load average (the machine is shared).

    python benchmarks/bench_sweep.py [--points 100000] [--per-point 2000] [--sim-points 16] [--replicas 20000]
    python benchmarks/bench_sweep.py --only run --run-points 100000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

ANALYTIC = """\
name: bench analytic
base: {base}
mode: estimate
chunk_size: 4096
set:
  training.parallelism.dp: null
  training.parallelism.tp: 8
  training.global_batch_seqs: 512
  pricing.preset: null
  failures.preset: null
samples:
  n: {n}
  method: lhs
  ranges:
    cluster.nodes: {{choices: [1, 2, 4, 8, 16, 32, 64]}}
    training.tokens: {{low: 1.0e10, high: 1.0e12, log: true}}
    cluster.network.oversubscription: {{choices: [1.0, 2.0, 4.0, 7.0]}}
    failures.node_mtbf_hours: {{low: 500, high: 20000, log: true}}
    checkpoint.write_gbyte_per_s: {{low: 2, high: 500, log: true}}
    pricing.usd_per_gpu_hour: {{low: 1.0, high: 8.0}}
"""

SIMULATED = """\
name: bench simulated
base: {base}
mode: simulate
set:
  simulation.replicas: {replicas}
  failures.preset: null
grid:
  failures.node_mtbf_hours: {mtbfs}
  failures.spare_nodes: [0, 1]
"""


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_analytic(tmp: Path, n: int, per_point: int) -> None:
    import numpy as np

    from clustersim.cost.kernel import evaluate, evaluate_one
    from clustersim.estimate import estimate
    from clustersim.resolve import kernel_inputs
    from clustersim.sweep import plan_sweep, read_sweep
    from clustersim.sweep.tasks import estimate_chunk

    path = tmp / "analytic.yaml"
    path.write_text(ANALYTIC.format(base=REPO / "scenarios" / "quickstart.yaml", n=n), encoding="utf-8")
    plan, t_plan = _timed(lambda: plan_sweep(read_sweep(path)))
    from clustersim.sweep.expand import build_scenario

    pts = plan.valid
    scenarios = [build_scenario(plan.base, p.inputs) for p in pts]
    print(f"analytic: {plan.total:,} points expanded and validated in {t_plan:.2f} s "
          f"({t_plan / plan.total * 1e6:.0f} us/point); {len(pts):,} valid")

    # kernel only: inputs built once, then one stacked call vs one call per point
    inputs, t_inputs = _timed(lambda: [kernel_inputs(s) for s in scenarios])
    chunk = 4096  # the sweep file's chunk_size: what one kernel call of the sweep sees
    chunks = [{k: np.asarray([d[k] for d in inputs[i: i + chunk]]) for k in inputs[0]}
              for i in range(0, len(inputs), chunk)]
    _, t_vec = _timed(lambda: [evaluate(**arrays) for arrays in chunks])
    m = min(per_point, len(inputs))
    _, t_one = _timed(lambda: [evaluate_one(**d) for d in inputs[:m]])
    _, t_np1 = _timed(lambda: [evaluate(**d) for d in inputs[:m]])
    vec_us = t_vec / len(inputs) * 1e6
    one_us = t_one / m * 1e6
    np1_us = t_np1 / m * 1e6
    print(f"  kernel_inputs per point: {t_inputs / len(pts) * 1e6:.0f} us (same in both paths)")
    print(f"  kernel, vectorized in {len(chunks)} calls of {chunk:,} points: {t_vec:.3f} s for {len(inputs):,} "
          f"points = {vec_us:.2f} us/point")
    print(f"  kernel, one evaluate_one call per point: {one_us:.1f} us/point (on {m:,} points)")
    print(f"  kernel, one vectorized evaluate() call per point: {np1_us:.1f} us/point (on {m:,} points)")
    print(f"  kernel ratios: vs evaluate() per point {np1_us / vec_us:.0f}x, vs the scalar evaluate_one per "
          f"point {one_us / vec_us:.0f}x  [target >= 100x]")

    # end to end: rows out, the way the sweep produces them vs one estimate() per point
    items = [(p.key, p.inputs) for p in pts]
    _, t_chunks = _timed(lambda: [estimate_chunk((plan.base, items[i: i + chunk])) for i in range(0, len(items), chunk)])
    _, t_est = _timed(lambda: [estimate(build_scenario(plan.base, p.inputs)).to_dict() for p in pts[:m]])
    chunk_us = t_chunks / len(pts) * 1e6
    est_us = t_est / m * 1e6
    print(f"  rows, chunked sweep path (scenario rebuilt from its inputs, kernel_inputs, one kernel call per chunk, "
          f"rows): {t_chunks:.2f} s = {chunk_us:.0f} us/point "
          f"({len(pts) / t_chunks:,.0f} points/s)")
    print(f"  rows, one estimate() call per point (scenario built from its inputs): {est_us:.0f} us/point (on {m:,} points; "
          f"{len(pts) * est_us / 1e6:.0f} s for all)")
    print(f"  end-to-end ratio: {est_us / chunk_us:.1f}x")


def bench_simulated(tmp: Path, points: int, replicas: int) -> None:
    from clustersim.sweep import run_sweep

    mtbfs = [int(1000 * 2 ** (i / 2)) for i in range(max(1, points // 2))]
    path = tmp / "sim.yaml"
    path.write_text(SIMULATED.format(base=REPO / "scenarios" / "quickstart.yaml", replicas=replicas,
                                     mtbfs=mtbfs), encoding="utf-8")
    from clustersim.sweep.executors import ProcessExecutor

    def startup() -> None:
        with ProcessExecutor(2) as ex:
            list(ex.run(abs, [("a", 1), ("b", 2)]))

    _, t_start = _timed(startup)
    s1, t1 = _timed(lambda: run_sweep(path, tmp / "s1.db", workers=1, progress=False))
    s2, t2 = _timed(lambda: run_sweep(path, tmp / "s2.db", workers=2, progress=False))
    from clustersim.sweep import load_rows

    same = load_rows(tmp / "s1.db") == load_rows(tmp / "s2.db")
    print(f"simulated: {s1.ran} points x {replicas} replicas: 1 worker {t1:.2f} s, 2 workers {t2:.2f} s "
          f"(worker start-up included); speed-up {t1 / t2:.2f}x, scaling efficiency {t1 / (2 * t2):.0%} "
          f"[target >= 80%] on {os.cpu_count()} CPUs; identical rows: {same}")
    print(f"  starting 2 spawned workers and a first task: {t_start:.2f} s; efficiency without it "
          f"{t1 / (2 * max(t2 - t_start, 1e-9)):.0%}")
    if s1.failed or s2.failed:
        print(f"  failed points: {len(s1.failed)} / {len(s2.failed)}")


def bench_sqlite(tmp: Path, n: int) -> None:
    from clustersim.sweep.store import ResultStore

    def row(i: int) -> dict[str, Any]:
        out: dict[str, Any] = {"point_key": f"{i:064x}", "point_index": i, "status": "ok", "error": None,
                               "cluster.nodes": 8, "model": "llama3-8b"}
        out.update({f"output_{j}": float(i * j) for j in range(60)})  # an estimate row has ~60 outputs
        return out

    rows = [row(i) for i in range(n)]
    with ResultStore(tmp / "one.db") as store:
        store.write(rows[:1])
        _, t_one = _timed(lambda: [store.write([r]) for r in rows[1:]])
    with ResultStore(tmp / "chunk.db") as store:
        _, t_chunk = _timed(lambda: [store.write(rows[i: i + 4096]) for i in range(0, n, 4096)])
    print(f"sqlite: one transaction per point {t_one / (n - 1) * 1e6:.0f} us/point; "
          f"one per 4,096-point chunk {t_chunk / n * 1e6:.1f} us/point ({n:,} rows of ~66 columns, "
          "WAL, synchronous=FULL)")


def bench_run(tmp: Path, n: int) -> None:
    import resource

    from clustersim.sweep import run_sweep

    path = tmp / "run.yaml"
    path.write_text(ANALYTIC.format(base=REPO / "scenarios" / "quickstart.yaml", n=n), encoding="utf-8")
    rates = {}
    for workers in (1, 2):
        load = os.getloadavg()
        own0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        summary, seconds = _timed(lambda w=workers: run_sweep(path, tmp / f"run{w}.db", workers=w, progress=False))
        own1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        main_cpu = own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime
        kids_cpu = kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
        rates[workers] = summary.ran / seconds
        print(f"run_sweep, {summary.ran:,} analytic points ({summary.total_points:,} expanded), {workers} worker"
              f"{'s' if workers > 1 else ''}: {seconds:.2f} s = {rates[workers]:,.0f} points/s "
              f"[target >= 10,000 on 2]; CPU: main {main_cpu:.2f} s, workers {kids_cpu:.2f} s "
              f"({(main_cpu + kids_cpu) / max(summary.ran, 1) * 1e6:.0f} us per point in all); load average "
              f"before {load[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"  scaling 1 -> 2 workers: {rates[2] / rates[1]:.2f}x, efficiency {rates[2] / (2 * rates[1]):.0%} "
          "[target >= 80%]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--per-point", type=int, default=2_000, help="subsample for the one-call-per-point path")
    parser.add_argument("--sim-points", type=int, default=16)
    parser.add_argument("--replicas", type=int, default=20000,
                        help="per simulated point (~0.9 s each on quickstart with the vectorized engine's fast path; "
                             "2,000 replicas took ~0.7 s before it and now ~0.1 s, where worker start-up dominates)")
    parser.add_argument("--sqlite-rows", type=int, default=5_000)
    parser.add_argument("--run-points", type=int, default=100_000, help="points of the whole run_sweep")
    parser.add_argument("--only", choices=["analytic", "simulated", "sqlite", "run"], help="one part only")
    args = parser.parse_args()
    parts = {
        "analytic": lambda tmp: bench_analytic(tmp, args.points, args.per_point),
        "simulated": lambda tmp: bench_simulated(tmp, args.sim_points, args.replicas),
        "sqlite": lambda tmp: bench_sqlite(tmp, args.sqlite_rows),
        "run": lambda tmp: bench_run(tmp, args.run_points),
    }
    with tempfile.TemporaryDirectory() as d:
        for name, part in parts.items():
            if args.only in (None, name):
                part(Path(d))


if __name__ == "__main__":
    main()
