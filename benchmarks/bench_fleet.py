"""Fleet benchmark: prints figures and ratios, all measured in this one run.

The fleet: scenarios/fleet/year-24k.yaml: one simulated year of 3,072 nodes of 8 H100 (24,576 GPUs)
running 10,000 generated jobs (8 to 4,096 GPUs, lognormal durations), Kokolis et al. 2024's RSC-1 node
failure rate, 32 hot spares, a repair crew of 8, priority + EASY backfill with preemption.

1. One replica: seconds, model events (job arrivals and completions, recoveries, node failures,
   repairs, software failures, elastic regrowths), and model events per second against bare SimPy's
   events per second (a chain of timeouts with trivial callbacks, the engine's style) in the same run (each model event is at
   least one SimPy event, so the ratio is a lower bound on the share of SimPy's speed the fleet keeps).
2. The whole Monte Carlo: 100 replicas on 2 worker processes (target < 60 s), in wall seconds and in
   the CPU seconds the workers used: on a shared machine (other processes on the same 2 cores) the
   wall time grows with the load, the CPU time does not; CPU seconds / 2 is the wall time the run
   takes on 2 cores of its own.

3. With ``--profile``: cProfile of one replica, the functions with the most cumulative time (where the
   engine's hot loop spends it).

The machine may be shared: the 1-minute load average is printed before and after, and the ratios
(model events/s over bare SimPy's, CPU seconds) are what compares across runs.

    python benchmarks/bench_fleet.py [--replicas 100] [--workers 2] [--single 3] [--profile]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import simpy

from clustersim.fleet import fleet, load_fleet
from clustersim.fleet.engine import run_replica
from clustersim.fleet.workload import plan_fleet

FLEET = Path(__file__).resolve().parents[1] / "scenarios" / "fleet" / "year-24k.yaml"
TARGET_S = 60.0


def bare_simpy_events_per_s(n: int = 300_000) -> float:
    """SimPy's own event rate here, in the fleet engine's style: a chain of timeouts, each with a callback
    that schedules the next (no model work at all)."""
    env = simpy.Environment()
    left = [n]

    def tick(_event: simpy.Event) -> None:
        left[0] -= 1
        if left[0]:
            env.timeout(1.0).callbacks.append(tick)

    env.timeout(1.0).callbacks.append(tick)
    t = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--single", type=int, default=3, help="replicas timed one by one")
    ap.add_argument("--profile", action="store_true", help="cProfile one replica and print the hot functions")
    args = ap.parse_args()
    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")

    ff = load_fleet(FLEET)
    pool = ff.spec.pools[0]
    print(f"fleet: {ff.name}: {pool.nodes * pool.gpus_per_node:,} GPUs, "
          f"{ff.spec.workload.generated.count if ff.spec.workload.generated else 0:,} jobs, "
          f"{ff.spec.simulation.horizon_days:g} days, policy {ff.spec.scheduler.policy}")
    plan = plan_fleet(ff)
    bare = bare_simpy_events_per_s()
    t = time.perf_counter()
    cpu0 = time.process_time()
    events = 0
    for i in range(args.single):
        events += run_replica(plan, ff.spec.simulation.seed, i)["events"]
    per_replica = (time.perf_counter() - t) / args.single
    cpu_per_replica = (time.process_time() - cpu0) / args.single
    bare = max(bare, bare_simpy_events_per_s())
    rate = events / args.single / per_replica
    print(f"\n1. one replica: {per_replica:.2f} s ({cpu_per_replica:.2f} CPU s), {events / args.single:,.0f} model "
          f"events; {rate:,.0f} model events/s vs bare SimPy {bare:,.0f} events/s: ratio {rate / bare:.3f}")
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(run_replica, plan, ff.spec.simulation.seed, 0)
        print("\n3. cProfile of one replica (the most cumulative time):")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(18)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = time.process_time()
    t = time.perf_counter()
    res = fleet(ff, replicas=args.replicas, workers=args.workers)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) + (time.process_time() - own)
    s = res.summary()
    verdict = "met" if wall < TARGET_S else "MISSED"
    print(f"\n2. {args.replicas} replicas on {args.workers} workers: {wall:.1f} s (target < {TARGET_S:g} s: {verdict}); "
          f"{res.events / wall:,.0f} model events/s in all")
    own_cores = cpu / args.workers
    print(f"   CPU: {cpu:.1f} s in all (workers and gathering): {own_cores:.1f} s on {args.workers} cores of its own "
          f"(target < {TARGET_S:g} s: {'met' if own_cores < TARGET_S else 'MISSED'}); 1-minute load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"   per replica (mean): {s['jobs']['mean']:,.0f} jobs, utilization {s['utilization']['mean']:.3f}, "
          f"mean wait {s['mean_wait_hours']['mean']:.1f} h, P90 wait {s['p90_wait_hours']['mean']:.1f} h, "
          f"finished {s['finished_fraction']['mean']:.3f}, interruptions {s['interruptions']['mean']:,.0f}, "
          f"preemptions {s['preemptions']['mean']:,.0f}")
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
