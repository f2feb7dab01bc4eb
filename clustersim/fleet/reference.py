"""docs/reference/fleet.md and docs/reference/fleet.schema.json, generated from the fleet file's models.

``python -m clustersim.fleet.reference`` writes both; tests/test_fleet.py fails when either is stale.
The tables are drawn with the scenario reference's helpers (:mod:`clustersim.docsgen.reference`), so
both pages read alike.
"""

from __future__ import annotations

import json
from pathlib import Path

from clustersim.fleet.spec import FleetSpec, fleet_json_schema

__all__ = ["fleet_reference", "schema_text", "write_reference"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"

_INTRO = """\
A fleet file is one YAML file: node pools, a workload of jobs, a scheduler policy, node failures per
pool, spares and a shared repair crew. `clustersim fleet FILE` simulates it
([how-to](../how-to/fleet.md)). Unknown keys are errors, reported with file, line and column and the
closest valid key; a job's `pool` and `scenario` are checked too. The JSON Schema of the format is
[fleet.schema.json](fleet.schema.json) (add `# yaml-language-server: $schema=...` to the file for
editor completion).

The model in brief (the docstrings of clustersim/fleet/ cite each formula):

- Scheduling is by whole nodes: a job of `gpus` takes ceil(gpus / gpus_per_node) nodes and starts only
  when all are free (gang scheduling). Each pool has its own queue.
- A job's progress is continuous: `tau` of compute then a blocking checkpoint, repeated, the last
  segment ending with a checkpoint too (Daly 2006's model). A failure loses the work since the last
  checkpoint; the job holds its nodes through detection, then its missing nodes are replaced, then it
  restarts and loads its checkpoint. A failure during any of these starts again from detection.
- Every up node fails as a Poisson process at its pool's rate, idle or not; nodes in repair do not.
  A failed node goes to repair (at most `repair.crew` at once, shared by all pools), then back to the
  spares if they are short, else to the idle nodes.
- When its failure is detected, a job takes a spare for each missing node, else an idle node; short
  of nodes, an elastic job carries on with fewer (and takes nodes back at a checkpoint after a repair
  frees one), and a rigid job goes back to its queue (`scheduler.no_spare: requeue`, releasing its
  nodes; it relaunches without a new detection) or waits holding them for a repaired node
  (`no_spare: wait`). A scenario job's per-gpu and per-node failure sources are replaced by its pool's;
  its per-job sources (software) stay with the job.
- A job requeued after a failure keeps its place in the queue (`scheduler.requeue_place: keep`) or goes
  behind the jobs of its priority (`back`), and is eligible again `scheduler.requeue_delay_minutes`
  later (for the share `requeue_delay_share` of such requeues); meanwhile the nodes it released are
  free for other jobs, so in a full cluster it must preempt to get nodes back. Slurm's documented
  defaults are `requeue_delay_minutes: 2` (a requeued job waits AuthInfo cred_expire, 120 s) and
  `requeue_place: back` (its submit time is reset): slurm.conf(5), sacct(1). With
  `scheduler.requeue_share` below 1, only that share of the jobs a node failure stops are requeued as
  the same job; the others are resubmitted as new jobs, and the preemptions they cause are ordinary.
- Besides GPU-hours by state, the results give `kokolis_secondary_share`: the share of hardware loss
  from secondary preemptions as Kokolis et al. 2024 count it (each job a node failure stops, and each
  job preempted by a job requeued after one, loses min(run time, 30 min) x GPUs).
- A scenario job with `failures: scenario` keeps all its scenario's sources (exponential or Weibull,
  per GPU, node or job), repairs and checkpoint policy instead: they strike only its own nodes while it
  holds them, drawn on the streams `clustersim simulate` draws on (the first job's are the very same).
  So a one-job fleet (a pool of the job's nodes plus its spares, `no_spare: wait`, the scenario's
  repair crew as `repair.crew`; `clustersim.fleet.single.single_job_fleet` writes it) has the same
  events at the same times and the same wall time as `clustersim simulate` with the SimPy engine and
  the same seed (tests/test_fleet_single.py, rtol 1e-12). Refused for such a job: failure traces,
  leaf, spine and spot sources, stragglers, maintenance windows, `failures.elastic`. Not equivalent:
  asynchronous checkpoints (the fleet writes their blocking part only, as a blocking write), a job
  that reaches the horizon unfinished (the fleet's horizon is its own), and the vectorized engine's
  replicas (they draw on streams of their own).
- A scenario job's failure-free time is `clustersim.estimate` of its scenario on the pool's GPU, node
  count and fabric; its checkpoint costs and restart times come from the scenario."""


def fleet_reference() -> str:
    """The text of docs/reference/fleet.md: every key of the fleet format, from the pydantic models."""
    from clustersim.docsgen.reference import file_reference

    return file_reference(FleetSpec, title="Fleet file reference", intro=_INTRO,
                          generator="clustersim.fleet.reference", test="tests/test_fleet.py",
                          source="the pydantic models in clustersim/fleet/spec.py")


def schema_text() -> str:
    return json.dumps(fleet_json_schema(), indent=2) + "\n"


def write_reference(docs: Path = DOCS) -> None:
    (docs / "fleet.md").write_text(fleet_reference(), encoding="utf-8")
    (docs / "fleet.schema.json").write_text(schema_text(), encoding="utf-8")


if __name__ == "__main__":
    write_reference()
