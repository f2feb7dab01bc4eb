"""Simulation benchmark (issue 4): prints figures and ratios, all measured in this one run.

The job: Llama 3 405B-sized, 16,384 GPUs in 2,048 nodes, 54 days of failure-free work, the Llama 3
reliability preset's 16 failure sources (419 unexpected interruptions in 54 days: job MTBF 3.09 h;
clustersim/scenario/catalog/reliability.yaml, from Llama Team 2024 Table 5), checkpoints every 30 min.

1. Seconds per replica (target < 0.05 s), the SimPy events and the model events (rows of the event
   log: failures, checkpoints, restarts, repairs...) per replica.
2. 1,000 replicas with 1 and with 2 worker processes (target < 10 s with 2).
3. Events per second: the simulator's against bare SimPy's (a process in a trivial timeout loop),
   measured in this run (the overhead ratio; target >= 0.3). The simulator runs a whole run phase of
   checkpoint cycles as one SimPy timeout, so it is given both in SimPy events and in model events.

    python benchmarks/bench_sim.py [--replicas 1000] [--single 20]
"""

from __future__ import annotations

import argparse
import os
import time

import simpy

from clustersim import theory, units
from clustersim.sim import FailureSource, SimJob, check_feasible, job_mtbf_s, run_replica, simulate

H = units.HOUR_S

# Llama 3 405B reliability preset (catalog reliability.yaml): per-GPU and per-node MTBFs in hours.
GPU_MTBF_H = {"gpu": 143470.7, "hbm": 294912.0, "gpu-sram": 1117561.3, "gpu-system-processor": 1249039.1,
              "silent-data-corruption": 3538944.0, "gpu-thermal": 3538944.0}
NODE_MTBF_H = {"host-maintenance": 82944.0, "nic": 379172.6, "ssd": 884736.0, "power-supply": 884736.0,
               "chassis": 1327104.0, "io-expansion-board": 1327104.0, "cpu": 1327104.0,
               "system-memory": 1327104.0, "network-switch-cable": 75834.5}
SOFTWARE_MTBF_H = 20.57

# Checkpoint: 405e9 parameters x 14 bytes (BLOOM's measured bytes per parameter, reference.md D.4) =
# 5.67 TB, written and read at Tectonic's sustained 2 TB/s (Llama 3 Sec. 3.3.1, reference.md B.1): 2.8 s.
CKPT_BYTES = 405e9 * 14
STORAGE_BYTES_PER_S = 2e12
# Detection and restart: the preset's suggestions (MegaScale; Kokolis), 10 min each.
DETECT_S = 10 * units.MINUTE_S
RESTART_S = 10 * units.MINUTE_S
# No study publishes a repair time (reliability.yaml): 24 h lognormal (cv 1) is this benchmark's assumption.
REPAIR_S = 24 * H


def llama3_job() -> SimJob:
    sources = [FailureSource(component=c, per="gpu", units=16384, mtbf_s=h * H) for c, h in GPU_MTBF_H.items()]
    sources += [FailureSource(component=c, per="node", units=2048, mtbf_s=h * H) for c, h in NODE_MTBF_H.items()]
    sources.append(FailureSource(component="software", per="job", units=1, mtbf_s=SOFTWARE_MTBF_H * H,
                                 effect="job"))
    io_s = CKPT_BYTES / STORAGE_BYTES_PER_S
    return SimJob(work_s=54 * units.DAY_S, nodes=2048, gpus_per_node=8, nodes_per_leaf=16,
                  checkpoint_interval_s=30 * units.MINUTE_S, checkpoint_write_s=io_s,
                  checkpoint_load_s=io_s, detect_s=DETECT_S, restart_s=RESTART_S,
                  repair_s=REPAIR_S, repair_distribution="lognormal", repair_cv=1.0, spare_nodes=32,
                  sources=tuple(sources))


def bare_simpy_events_per_s(n: int = 300_000) -> float:
    """A process that does nothing but yield timeouts: SimPy's own event rate on this machine."""
    def loop(env: simpy.Environment):  # type: ignore[no-untyped-def]
        for _ in range(n):
            yield env.timeout(1.0)

    env = simpy.Environment()
    env.process(loop(env))
    t = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--single", type=int, default=30, help="replicas timed one by one")
    args = ap.parse_args()

    job = llama3_job()
    check_feasible(job)
    m = job_mtbf_s(job)
    print(f"job: 16,384 GPUs / 2,048 nodes, 54 days of work, {len(job.sources)} failure sources, "
          f"job MTBF {m / H:.2f} h, checkpoint every 30 min ({job.checkpoint_write_s:.1f} s write), "
          f"recovery {job.recovery_s / 60:.1f} min, {os.cpu_count()} CPUs")
    daly = theory.daly_expected_wall_s(job.work_s, job.checkpoint_interval_s, job.checkpoint_write_s, m,
                                       job.recovery_s)
    print(f"theory (Daly): expected wall {daly / units.DAY_S:.1f} days, goodput {job.work_s / daly:.3f}")

    # 1. one replica at a time
    logged = run_replica(job, seed=0, replica=0, log=True)
    model_events = len(logged.events or [])
    bare = bare_simpy_events_per_s()
    t = time.perf_counter()
    sim_events = 0
    for i in range(args.single):
        r = run_replica(job, seed=0, replica=i)
        sim_events += r.sim_events
    per_replica = (time.perf_counter() - t) / args.single
    bare_after = bare_simpy_events_per_s()
    bare = max(bare, bare_after)
    simpy_rate = sim_events / args.single / per_replica
    model_rate = model_events / per_replica
    print(f"\n1. one replica: {per_replica * 1e3:.1f} ms (target < 50 ms); per replica "
          f"{sim_events / args.single:.0f} SimPy events, {model_events} model events (replica 0's log), "
          f"{logged.interruptions} interruptions, {logged.checkpoints} checkpoints, "
          f"wall {logged.wall_s / units.DAY_S:.1f} days, goodput {logged.goodput:.3f}")

    # 2. the Monte Carlo
    times = {}
    for workers in (1, 2):
        t = time.perf_counter()
        res = simulate(job, replicas=args.replicas, seed=0, workers=workers, events=False)
        times[workers] = time.perf_counter() - t
    s = res.summary()
    w = s["wall_s"].scaled(1 / units.DAY_S)
    print(f"\n2. {args.replicas} replicas: {times[1]:.2f} s with 1 worker, {times[2]:.2f} s with 2 workers "
          f"(target < 10 s with 2; speed-up {times[1] / times[2]:.2f}x)")
    print(f"   wall days mean {w.mean:.2f} [{w.mean_lo:.2f}, {w.mean_hi:.2f}], p50 {w.p50:.2f}, p90 {w.p90:.2f}, "
          f"p99 {w.p99:.2f}; goodput mean {s['goodput'].mean:.3f}; interruptions mean {s['interruptions'].mean:.0f}")

    # 3. events per second
    print("\n3. events per second, this run:")
    print(f"   bare SimPy (timeout loop)       {bare:12,.0f} events/s")
    print(f"   simulator, SimPy events         {simpy_rate:12,.0f} events/s   ratio {simpy_rate / bare:.2f}")
    print(f"   simulator, model events         {model_rate:12,.0f} events/s   ratio {model_rate / bare:.2f} "
          "(target >= 0.3)")


if __name__ == "__main__":
    main()
