"""The fleet file: node pools, a workload of jobs, a scheduler policy, failures, spares and a repair crew.

A fleet file is YAML, read with the scenario loader's safe, bounded reader and validated by frozen
pydantic models whose unknown keys are errors (docs/reference/fleet.md documents every key; the JSON
Schema is :func:`fleet_json_schema`). Key names carry their units, as in scenarios.

```yaml
name: research cluster
pools:
  - name: h100
    gpu: h100-sxm-80gb
    nodes: 512                      # 4,096 GPUs
    spare_nodes: 8                  # hot spares, swapped into a job whose node fails
    failures: {preset: kokolis-rsc1, repair_hours: 24}
    usd_per_gpu_hour: 2.99
workload:
  jobs:                             # explicit jobs: a training scenario, or a size and a duration
    - {name: llama, scenario: ../quickstart.yaml, submit_hours: 0, priority: 10}
    - {name: eval, gpus: 64, duration_hours: 12, count: 4}
  generated:                        # and/or a generated stream of jobs
    count: 1000
    arrivals_per_hour: 2
    gpus: {choices: [8, 64, 512], weights: [0.7, 0.25, 0.05]}
    duration_hours: {distribution: lognormal, median: 6, sigma: 1.2}
scheduler: {policy: backfill, preemption: true}
repair: {crew: 4}
simulation: {horizon_days: 365, replicas: 20, seed: 0}
```
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from clustersim.scenario import catalog
from clustersim.scenario.spec import NetworkSpec, Strict

__all__ = ["FleetSpec", "PoolSpec", "PoolFailuresSpec", "PoolSourceSpec", "JobSpec", "JobCheckpointSpec",
           "GeneratedSpec", "ChoiceSpec", "SizePrioritySpec", "DurationSpec", "WorkloadSpec", "SchedulerSpec", "RepairSpec",
           "FleetSimulationSpec", "MAX_JOBS", "fleet_json_schema"]

PosInt = Annotated[int, Field(gt=0)]
PosFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]

#: A documented safety limit on the jobs of one fleet (explicit counts plus generated): each job costs
#: a few hundred bytes per replica, so a million jobs is well inside memory and far past any real year.
MAX_JOBS = 1_000_000


class PoolSourceSpec(Strict):
    """One exponential failure source of a pool's nodes (``per: gpu`` counts each GPU of a node)."""

    component: str = Field(description="what fails (a label, e.g. gpu, nic, host)")
    per: Literal["gpu", "node"] = Field(description="the unit that fails: each GPU or each node")
    mtbf_hours: PosFloat = Field(description="mean time between failures of one unit")


class PoolFailuresSpec(Strict):
    """Node failures of one pool: one of node_mtbf_hours, preset or sources; repairs after each failure."""

    node_mtbf_hours: PosFloat | None = Field(None, description="shorthand: one exponential source per node")
    preset: str | None = Field(None, description="a reliability preset; its per-gpu and per-node sources")
    sources: list[PoolSourceSpec] | None = Field(None, min_length=1, description="exponential sources, per gpu or node")
    repair_hours: NonNegFloat = Field(24.0, description="mean time to repair or replace a failed node")
    repair_distribution: Literal["exponential", "fixed"] = Field(
        "exponential", description="the repair time's distribution, with mean repair_hours")
    lemon_nodes: Annotated[int, Field(ge=0)] = Field(
        0, description="nodes that fail again and again, their fault never found (Kokolis 2024: 40 on RSC-1)")
    lemon_mtbf_hours: PosFloat | None = Field(None, description="a lemon node's mean time between failures")
    lemon_repair_hours: NonNegFloat | None = Field(
        None, description="a lemon's repair (it passes the checks and comes back a lemon); default repair_hours")

    @model_validator(mode="after")
    def _one_kind(self) -> PoolFailuresSpec:
        given = [k for k in ("node_mtbf_hours", "preset", "sources") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of node_mtbf_hours, preset, sources"
                             + (f" (got {', '.join(given)})" if given else ""))
        if self.lemon_nodes and self.lemon_mtbf_hours is None:
            raise ValueError("lemon_nodes needs lemon_mtbf_hours")
        if self.preset is not None and self.preset not in catalog.reliability():
            raise ValueError(f"unknown reliability preset {self.preset!r}; expected one of "
                             + ", ".join(catalog.reliability()))
        return self


class PoolSpec(Strict):
    """A pool of identical nodes: one GPU type, one fabric, its own spares and failure sources."""

    name: str = Field(min_length=1, description="how jobs name the pool")
    gpu: str = Field(description="a GPU from the catalog (`clustersim catalog gpus`)")
    nodes: PosInt = Field(description="nodes in the pool, spares included")
    gpus_per_node: PosInt = Field(8, description="GPUs of one node (the unit of scheduling and of failure)")
    spare_nodes: Annotated[int, Field(ge=0)] = Field(
        0, description="nodes held back as hot spares: swapped into a job whose node fails, never scheduled")
    fabric: NetworkSpec | None = Field(
        None, description="the pool's network; replaces cluster.network of every scenario job run on it")
    failures: PoolFailuresSpec | None = Field(None, description="node failures (default: none)")
    usd_per_gpu_hour: NonNegFloat | None = Field(None, description="price of one GPU-hour (for the fleet's cost)")

    @model_validator(mode="after")
    def _check(self) -> PoolSpec:
        if self.gpu not in catalog.gpus():
            raise ValueError(f"unknown GPU {self.gpu!r}; expected one of {', '.join(catalog.gpus())}")
        if self.spare_nodes >= self.nodes:
            raise ValueError(f"spare_nodes ({self.spare_nodes}) must be fewer than nodes ({self.nodes})")
        if self.failures is not None and self.failures.lemon_nodes > self.nodes:
            raise ValueError(f"lemon_nodes ({self.failures.lemon_nodes}) exceeds nodes ({self.nodes})")
        return self


class JobCheckpointSpec(Strict):
    """Checkpoint and restart costs of a job given by size and duration (a scenario job uses its own)."""

    interval_minutes: PosFloat | Literal["auto"] = Field(
        "auto", description="compute between checkpoints, or auto = Daly's optimum for the job's MTBF")
    write_minutes: NonNegFloat = Field(1.0, description="time one checkpoint blocks training")
    load_minutes: NonNegFloat = Field(1.0, description="time to read the checkpoint back on a restart")
    detect_minutes: NonNegFloat = Field(5.0, description="failure to detection (Kokolis 2024: 5-min health checks)")
    restart_minutes: NonNegFloat = Field(10.0, description="detection to relaunch (Kokolis u0 = 5-20 min)")
    software_mtbf_hours: PosFloat | None = Field(
        None, description="job-level interruptions (software), independent of the job's size")


class JobSpec(Strict):
    """One job (or ``count`` identical ones): a training scenario, or a GPU count and a duration."""

    name: str = Field("", description="shown in the results (default: the scenario's name)")
    scenario: str | None = Field(None, description="a scenario file, relative to the fleet file")
    pool: str | None = Field(None, description="default: the pool with the scenario's GPU, or the only pool")
    gpus: PosInt | None = Field(None, description="default: the scenario's GPUs")
    duration_hours: PosFloat | None = Field(None, description="failure-free run time (jobs without a scenario)")
    submit_hours: NonNegFloat = Field(0.0, description="when the job is submitted")
    priority: int = Field(0, description="higher runs first under policy priority or backfill")
    elastic: bool = Field(False, description="continue on fewer nodes after a failure instead of requeueing")
    min_gpus: PosInt | None = Field(None, description="elastic: the fewest GPUs it runs on (default: one node)")
    count: Annotated[int, Field(gt=0, le=MAX_JOBS)] = Field(1, description="identical copies submitted together")
    checkpoint: JobCheckpointSpec | None = Field(None, description="jobs without a scenario only")
    failures: Literal["pool", "scenario"] = Field(
        "pool", description="pool: the job's nodes fail as its pool's (the scenario's job-level sources kept); "
        "scenario: the scenario's own sources, repairs and checkpoint policy, drawn as `clustersim simulate` "
        "draws them; they strike only the job's nodes")

    @model_validator(mode="after")
    def _check(self) -> JobSpec:
        if self.scenario is None:
            if self.gpus is None or self.duration_hours is None:
                raise ValueError("a job needs a scenario, or gpus and duration_hours")
        else:
            if self.duration_hours is not None:
                raise ValueError("a scenario job's duration comes from its scenario; drop duration_hours")
            if self.checkpoint is not None:
                raise ValueError("a scenario job's checkpoints come from its scenario; drop checkpoint")
        if self.failures == "scenario" and self.scenario is None:
            raise ValueError("failures: scenario needs a scenario (its failure sources)")
        if self.min_gpus is not None and self.gpus is not None and self.min_gpus > self.gpus:
            raise ValueError(f"min_gpus ({self.min_gpus}) exceeds gpus ({self.gpus})")
        return self


class ChoiceSpec(Strict):
    """A discrete distribution: ``choices`` with optional ``weights`` (normalised)."""

    choices: list[int] = Field(min_length=1, description="the values")
    weights: list[Annotated[float, Field(ge=0)]] | None = Field(None, description="their weights (default: equal)")

    @model_validator(mode="after")
    def _weights(self) -> ChoiceSpec:
        if self.weights is not None:
            if len(self.weights) != len(self.choices):
                raise ValueError(f"{len(self.weights)} weights for {len(self.choices)} choices")
            if sum(self.weights) <= 0:
                raise ValueError("the weights must not all be zero")
        return self


class DurationSpec(Strict):
    """A job-duration distribution in hours: exponential (mean), lognormal (median, sigma) or fixed (mean)."""

    distribution: Literal["exponential", "lognormal", "fixed"] = Field("exponential", description="the family")
    mean: PosFloat | None = Field(None, description="hours (exponential, fixed)")
    median: PosFloat | None = Field(None, description="hours (lognormal)")
    sigma: PosFloat | None = Field(None, description="standard deviation of the log (lognormal)")
    max_hours: PosFloat | None = Field(None, description="truncate longer draws (a time limit)")

    @model_validator(mode="after")
    def _params(self) -> DurationSpec:
        if self.distribution == "lognormal":
            if self.median is None or self.sigma is None or self.mean is not None:
                raise ValueError("a lognormal duration takes median and sigma")
        elif self.mean is None or self.median is not None or self.sigma is not None:
            raise ValueError(f"a {self.distribution} duration takes mean")
        return self


class SizePrioritySpec(Strict):
    """A priority for generated jobs from a size up."""

    min_gpus: PosInt = Field(description="jobs of at least this many GPUs")
    priority: int = Field(description="their priority")


class GeneratedSpec(Strict):
    """A generated workload: Poisson arrivals, job sizes and durations drawn from keyed random streams."""

    count: Annotated[int, Field(gt=0, le=MAX_JOBS)] = Field(description="jobs to generate")
    arrivals_per_hour: PosFloat = Field(description="Poisson arrival rate")
    start_hours: NonNegFloat = Field(0.0, description="time of the first possible arrival")
    pool: str | None = Field(None, description="the pool the jobs run on (needed when there are several)")
    gpus: int | ChoiceSpec = Field(description="GPUs per job: a number or a discrete distribution")
    duration_hours: DurationSpec = Field(description="failure-free run time of each job")
    priority: int | ChoiceSpec = Field(0, description="a number or a discrete distribution")
    priority_by_gpus: list[SizePrioritySpec] | None = Field(
        None, min_length=1, description="jobs of at least min_gpus GPUs get that priority instead (the largest "
        "threshold that applies; Kokolis 2024: large jobs run at high priority, small ones at the lowest)")
    elastic_fraction: Annotated[float, Field(ge=0, le=1)] = Field(0.0, description="share of jobs that are elastic")
    checkpoint: JobCheckpointSpec = Field(default_factory=JobCheckpointSpec,
                                          description="checkpoint and restart costs of every generated job")
    per_replica: bool = Field(True, description="draw a new workload per replica (false: the same jobs in each)")
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="keys the workload's streams (default: the simulation's seed), so the jobs can stay "
        "fixed while the failures change")


class WorkloadSpec(Strict):
    """The jobs: explicit ones (each a scenario, or a size and a duration) and/or a generated stream."""

    jobs: list[JobSpec] = Field(default_factory=list, description="explicit jobs")
    generated: GeneratedSpec | None = Field(None, description="a generated stream of jobs")

    @model_validator(mode="after")
    def _some(self) -> WorkloadSpec:
        if not self.jobs and self.generated is None:
            raise ValueError("the workload has no jobs: give jobs, generated, or both")
        total = sum(j.count for j in self.jobs) + (self.generated.count if self.generated else 0)
        if total > MAX_JOBS:
            raise ValueError(f"the workload has {total:,} jobs; the limit is {MAX_JOBS:,}")
        return self


class SchedulerSpec(Strict):
    """Gang scheduling (a job starts only with all its nodes) under one queue policy per pool."""

    policy: Literal["fifo", "priority", "backfill"] = Field(
        "fifo", description="fifo: by submit time; priority: by priority, then submit time; backfill: "
        "priority order plus EASY backfill (Lifka 1995)")
    preemption: bool = Field(False, description="priority/backfill: a blocked job preempts lower-priority ones")
    preempt_after_hours: NonNegFloat = Field(0.0, description="a job runs at least this long before it can be "
                                             "preempted (Kokolis 2024: 2 h on RSC)")
    backfill_depth: PosInt = Field(100, description="queued jobs a backfill pass looks at (Slurm bf_max_job_test)")
    replace_from_idle: bool = Field(True, description="a job whose node fails takes an idle node when no spare is left")
    no_spare: Literal["requeue", "wait"] = Field(
        "requeue", description="a rigid job short of nodes once its failure is detected: requeue (release its "
        "nodes, back to the queue) or wait holding them for a repaired node (as `clustersim simulate`)")
    requeue_place: Literal["keep", "back"] = Field(
        "keep", description="where a job requeued after a failure goes in its queue: keep its old place, or "
        "back behind the jobs of its priority already queued (Slurm resets a requeued job's submit time)")
    requeue_share: Annotated[float, Field(ge=0, le=1)] = Field(
        1.0, description="the share of jobs stopped by a node failure that the scheduler requeues as the same "
        "job (Slurm's requeue after NODE_FAIL); the others end failed and are resubmitted as new jobs, behind "
        "their priority (drawn per failure from a keyed stream; their preemptions then count as ordinary ones)")
    requeue_delay_minutes: NonNegFloat = Field(
        0.0, description="a job requeued after a failure is eligible to start again this long after its "
        "requeue; the nodes it released are free for other jobs meanwhile (0: at once; Slurm holds a requeued job "
        "for AuthInfo cred_expire, 120 s = 2 min by default: slurm.conf(5))")
    requeue_delay_share: Annotated[float, Field(ge=0, le=1)] = Field(
        1.0, description="the share of requeues after failures that wait requeue_delay_minutes (drawn per "
        "requeue from a keyed stream); the others are eligible at once")

    @model_validator(mode="after")
    def _check(self) -> SchedulerSpec:
        if self.preemption and self.policy == "fifo":
            raise ValueError("preemption needs priorities: use policy priority or backfill")
        return self


class RepairSpec(Strict):
    """Repairs: failed nodes wait for a member of the crew (first come, first served)."""

    crew: PosInt | None = Field(None, description="repairs at once, shared by every pool (default: unlimited)")


class FleetSimulationSpec(Strict):
    """How long, how many replicas, which seed; statistics leave out jobs submitted in the warm-up."""

    horizon_days: PosFloat = Field(365.0, description="simulated time; jobs unfinished by then are reported so")
    warmup_days: NonNegFloat = Field(0.0, description="jobs submitted earlier are left out of the statistics")
    replicas: Annotated[int, Field(gt=0, le=100_000)] = Field(10, description="independent replicas (Monte Carlo)")
    seed: Annotated[int, Field(ge=0)] = Field(0, description="keys every random stream (clustersim.rng)")
    timeline_points: Annotated[int, Field(ge=2, le=10_000)] = Field(
        200, description="samples of the utilization over time")

    @model_validator(mode="after")
    def _check(self) -> FleetSimulationSpec:
        if self.warmup_days >= self.horizon_days:
            raise ValueError("warmup_days must be shorter than horizon_days")
        return self


class FleetSpec(Strict):
    """A fleet: node pools, the jobs they run, how they are scheduled, repaired and simulated."""

    name: str = Field("", description="free text, used in reports (default: the file's name)")
    description: str = Field("", description="free text")
    pools: list[PoolSpec] = Field(min_length=1, description="one or more pools (mixed GPU types allowed)")
    workload: WorkloadSpec = Field(description="explicit jobs, a generated stream, or both")
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec, description="one queue per pool")
    repair: RepairSpec = Field(default_factory=RepairSpec, description="the repair crew shared by all pools")
    simulation: FleetSimulationSpec = Field(default_factory=FleetSimulationSpec, description="horizon, replicas, seed")

    @model_validator(mode="after")
    def _pools(self) -> FleetSpec:
        names = [p.name for p in self.pools]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"pool names must be unique (repeated: {', '.join(dup)})")
        return self


def fleet_json_schema() -> dict[str, object]:
    """The JSON Schema of the fleet file (for editor completion and docs/reference/fleet.schema.json)."""
    schema = FleetSpec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "clustersim fleet"
    return schema
