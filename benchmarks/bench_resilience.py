"""Resilience benchmark: the strategy engine's speed, all figures measured in this one run.

1. 1,000 replicas of the 16,384-GPU, 54-day run (scenarios/resilience/llama3-strategies.yaml with ``job.days:
   54``) for each of its strategies, one process each (target < 10 s per strategy on 2 cores; the
   engine runs one strategy on one core, so this is the single-core time), and the slowest of them
   again on 2 worker processes (the same results, bit for bit).
2. A 100,000-GPU run (scenarios/validation/hsdp-100k.yaml, a training scenario: a failure every 12
   minutes), synchronous and per-replica, seconds per replica and failures per second.
3. The same strategies written as keys of a training scenario
   (scenarios/resilience/llama3-405b-training.yaml: Llama 3 405B on 16,384 H100, the step time and
   checkpoint from the kernel), with the tokens cut to 8.37T so that the kernel's step time gives the
   54-day run's 48.6 days of compute; 1,000 replicas each, and the time to build the engine's input.
4. The baseline, measured here: the same 1,000 replicas of the 16,384-GPU run through
   ``clustersim.sim.simulate`` (the vectorized whole-job engine) with one storage tier, so the ratio
   says what the strategy engine's generality costs.

    python benchmarks/bench_resilience.py [--replicas 1000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from clustersim import units
from clustersim.resilience.compare import build_strategy_job
from clustersim.resilience.spec import load_resilience, strategy_spec
from clustersim.sim import FailureSource, SimJob, simulate
from clustersim.sim.strategy import simulate_strategy

ROOT = Path(__file__).resolve().parents[1]


#: CPU seconds of this process for each timing, printed next to the wall-clock figure: on a shared
#: machine the wall clock grows with the other work, the CPU time does not.
CPU: list[float] = []


def _time(fn):  # type: ignore[no-untyped-def]
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    CPU.append(time.process_time() - c)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=1000)
    ap.add_argument("--big", type=int, default=20, help="replicas of the 100,000-GPU run")
    args = ap.parse_args()

    path = ROOT / "scenarios" / "resilience" / "llama3-strategies.yaml"
    spec, data = load_resilience(path, ["job.days=54"])
    print(f"1. {args.replicas} replicas of 16,384 GPUs x 54 days per strategy (target < 10 s each)")
    slowest = (0.0, "", None, None)
    for name in ["base", *spec.strategies]:
        job = build_strategy_job(strategy_spec(spec, data, name))
        s, raw = _time(lambda job=job: simulate_strategy(job, args.replicas, seed=1))
        rate = raw["failures"].sum() / s
        slowest = max(slowest, (s, name, job, raw), key=lambda x: x[0])
        print(f"   {name:28s} {s:6.2f} s ({CPU[-1]:5.2f} s CPU)  {'met' if s < 10 else 'MISSED'}  "
              f"({raw['failures'].mean():.0f} failures per replica, {rate:,.0f} failures/s, "
              f"{s / raw['failures'].sum() * 1e6:.2f} us per failure)")
    s1, name, job, raw1 = slowest
    s2, raw2 = _time(lambda: simulate_strategy(job, args.replicas, seed=1, workers=2))
    same = all(np.array_equal(raw1[k], raw2[k]) for k in raw1)
    print(f"   the slowest, {name}, on 2 worker processes: {s2:.2f} s ({s1 / s2:.2f}x the one-core time; "
          f"{'bit-identical' if same else 'DIFFERENT'} results)")

    from clustersim.resilience.compare import _scenario_strategies

    _, hsdp = _scenario_strategies(ROOT / "scenarios" / "validation" / "hsdp-100k.yaml", (), {}, ())
    print(f"2. 100,000 GPUs (a failure every 12.2 min), {args.big} replicas of 10 days")
    for name, _, _, job in hsdp:
        s, raw = _time(lambda job=job: simulate_strategy(job, args.big, seed=1))
        print(f"   {name:28s} {s / args.big * 1000:7.1f} ms per replica  "
              f"({raw['failures'].mean():.0f} failures each, {raw['failures'].sum() / s:,.0f} failures/s)")

    training = ROOT / "scenarios" / "resilience" / "llama3-405b-training.yaml"
    print(f"3. the training scenario's strategies, {args.replicas} replicas each (target < 10 s each)")
    t_build, (_, runs) = _time(lambda: _scenario_strategies(training, ("training.tokens=8.37e12",), {}, ()))
    print(f"   building {len(runs)} strategies from the scenario (kernel included): {t_build:.2f} s")
    for name, _, _, job in runs:
        s, raw = _time(lambda job=job: simulate_strategy(job, args.replicas, seed=1))
        print(f"   {name:28s} {s:6.2f} s ({CPU[-1]:5.2f} s CPU)  {'met' if s < 10 else 'MISSED'}  "
              f"({raw['failures'].mean():.0f} failures per replica over {job.work_s / units.DAY_S:.1f} days of compute)")

    plain, pdata = load_resilience(path, ["job.days=54", "failures.lemon_nodes=0", "failures.misdiagnosis=0",
                                          "failures.sdc_mtbf_hours=null", "spares.hot=32",
                                          "spares.cold_provision_minutes=null"])
    b = build_strategy_job(plain)
    s_strat, raw = _time(lambda: simulate_strategy(b, args.replicas, seed=1))
    vec = SimJob(work_s=b.work_s, nodes=b.nodes, checkpoint_interval_s=b.interval_s,
                 checkpoint_write_s=b.storage_write_s, checkpoint_load_s=b.storage_load_s, detect_s=b.detect_s,
                 restart_s=b.restart_s, repair_s=b.repair_s, spare_nodes=b.hot_spares,
                 sources=(FailureSource(component="node", per="node", units=b.nodes, mtbf_s=b.node_mtbf_s or 1.0),
                          FailureSource(component="software", per="job", units=1, mtbf_s=b.soft_mtbf_s or 1.0,
                                        effect="job")))
    s_vec, res = _time(lambda: simulate(vec, replicas=args.replicas, seed=1, engine="vector"))
    w_vec = res.summary()["wall_s"]
    w = raw["wall_s"]
    se = w.std(ddof=1) / len(w) ** 0.5
    print(f"4. the same plain job (node + software failures, 32 hot spares, one storage tier), {args.replicas} replicas")
    print(f"   strategy engine   {s_strat:6.2f} s   mean wall {w.mean() / units.DAY_S:.3f} +- {se / units.DAY_S:.3f} days")
    print(f"   vectorized engine {s_vec:6.2f} s   mean wall {w_vec.mean / units.DAY_S:.3f} +- "
          f"{w_vec.std_err / units.DAY_S:.3f} days (the baseline)")
    print(f"   strategy engine / vectorized engine: {s_strat / s_vec:.1f}x the time")


if __name__ == "__main__":
    main()
