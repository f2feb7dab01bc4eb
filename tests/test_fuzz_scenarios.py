"""A seeded sample of the fuzz harness (tests/fuzzing.py; the full run is benchmarks/fuzz_scenarios.py):
hostile and absurd scenario files through validate, estimate and simulate, in process.

Every run must end with exit 0 or a refusal (exit 2) that names the file, never a raw traceback, an
internal error (exit 1) or an exception escaping the command. A run that does not return within
``_HANG_S`` fails the test with the file's name (a hang guard, not a timing assertion).
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from clustersim.cli import cli
from tests.fuzzing import CLASSES, generate, generate_files

SEED = 20_261_201
FILES = 240
ESTIMATES = 12
SIMULATIONS = 3
_HANG_S = 120

#: Mutations whose estimate or simulation is a known open bug outside the loader: skipped in the
#: estimate/simulate sample until fixed; the full benchmark still runs them. (The earlier entries, parallelism
#: auto at 125 nodes, tokens 1e16 and an interval longer than the run, are fixed and run again.)
KNOWN_OPEN: tuple[str, ...] = ()


class _Hang(Exception):
    pass


def _invoke(args: list[str]) -> object:
    def alarm(signum: int, frame: object) -> None:
        raise _Hang(f"no answer within {_HANG_S} s: clustersim {' '.join(args)}")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(_HANG_S)
    try:
        return CliRunner().invoke(cli, args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check(result: object, path: Path, what: str) -> None:
    exc = result.exception  # type: ignore[attr-defined]
    output = result.output  # type: ignore[attr-defined]
    assert exc is None or isinstance(exc, SystemExit), f"{what} {path.name}: {exc!r}\n{output}"
    assert "Traceback" not in output, f"{what} {path.name}:\n{output}"
    assert result.exit_code in (0, 2, 3), f"{what} {path.name}: exit {result.exit_code}\n{output}"  # type: ignore[attr-defined]
    if result.exit_code == 2:  # type: ignore[attr-defined]
        assert str(path) in result.stderr, f"{what} {path.name}: the refusal does not name the file:\n{output}"  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def fuzz_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, object]]:
    return generate_files(SEED, FILES, tmp_path_factory.mktemp("fuzz"))


def test_generator_is_deterministic_and_covers_every_class():
    assert generate(SEED, 7) == generate(SEED, 7)
    assert generate(SEED, 7) != generate(SEED, 8)
    kinds = Counter(generate(SEED, i).kind for i in range(FILES))
    assert set(kinds) == set(CLASSES)


def test_validate_refuses_or_accepts_every_file(fuzz_files):
    codes = Counter()
    for path, _ in fuzz_files:
        result = _invoke(["validate", str(path)])
        _check(result, path, "validate")
        codes[result.exit_code] += 1  # type: ignore[attr-defined]
    assert codes[0] >= 20 and codes[2] >= 60, codes  # the sample exercises both outcomes


def test_estimate_and_simulate_on_valid_files(fuzz_files):
    valid = []
    for path, fuzz in fuzz_files:
        if any(k in m for m in fuzz.mutations for k in KNOWN_OPEN):  # type: ignore[attr-defined]
            continue
        if _invoke(["validate", str(path)]).exit_code == 0:  # type: ignore[attr-defined]
            valid.append(path)
        if len(valid) == ESTIMATES:
            break
    assert len(valid) == ESTIMATES
    finished = []
    for i, path in enumerate(valid):
        result = _invoke(["estimate", str(path), *(["--json"] if i % 2 else [])])
        _check(result, path, "estimate")
        if result.exit_code == 0:  # type: ignore[attr-defined]
            finished.append(path)
    for i, path in enumerate(finished[:SIMULATIONS]):
        result = _invoke(["simulate", str(path), "--replicas", "2", "--workers", "1", *(["--json"] if i % 2 else [])])
        _check(result, path, "simulate")


def test_hostile_sweep_files_are_refused_with_a_located_error(tmp_path):
    """The sweep reader shares the YAML reader: the same text attacks on the example sweeps give a
    ScenarioError naming the file, or a valid sweep; never another exception."""
    from clustersim.errors import ScenarioError
    from clustersim.rng import stream
    from clustersim.sweep.spec import read_sweep
    from tests.fuzzing import REPO, _yaml

    base = REPO / "scenarios" / "quickstart.yaml"
    sources = sorted((REPO / "scenarios" / "sweeps").glob("*.yaml"))
    refused = 0
    for i in range(48):
        text = sources[i % len(sources)].read_text().replace("base: ../quickstart.yaml", f"base: {base}")
        content, what = _yaml(stream(SEED, i, "fuzz-sweeps"), text)
        path = tmp_path / f"sweep-{i}.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        try:
            read_sweep(path)
        except ScenarioError as exc:
            refused += 1
            assert str(path) in exc.render(), what
    assert refused >= 24


# ------------------------------------------------------------------ classes the full fuzz found (regressions)
QUICKSTART = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"


def test_a_job_waiting_years_for_repairs_stops_at_the_event_budget_and_says_so():
    """Full fuzz, simulate: ``repair_hours: 87600`` (10 years) on a job with no spares never returned
    within 20 s (the job waits on repairs while failures keep arriving, up to 1,000,000 per replica). A
    scenario's simulation now has an event budget of clustersim.simulate.EVENT_BUDGET failures per
    replica, and a replica stopped there is counted and named in the verdict."""
    import json

    from clustersim.simulate import EVENT_BUDGET

    sets = ["failures.repair_hours=87600", "cluster.nodes=512", "training.parallelism.dp=2048",
            "training.global_batch_seqs=2048", "failures.spare_nodes=0"]
    result = _invoke(["simulate", str(QUICKSTART), "--replicas", "2", "--workers", "1", "--json",
                      *[a for s in sets for a in ("--set", s)]])
    assert result.exit_code == 3, result.output  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert data["event_budget"] == EVENT_BUDGET
    assert data["finished"] is False and data["replicas_at_event_budget"] >= 1
    assert f"event budget of {EVENT_BUDGET:,} failures" in data["verdict"]


def test_a_run_expected_to_spend_the_event_budget_is_refused_before_it_runs():
    """Full fuzz, simulate: ``tokens: 1e16`` on the quickstart (128 years of training, ~60,000
    interruptions per replica) ran past 20 s; it is now refused at once with the numbers."""
    result = _invoke(["simulate", str(QUICKSTART), "--replicas", "5", "--workers", "1",
                      "--set", "training.tokens=1e16"])
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert "over the event budget" in result.stderr and str(QUICKSTART) in result.stderr  # type: ignore[attr-defined]


def test_the_report_sensitivity_keeps_moved_values_in_their_range():
    """``simulate --report`` on a scenario at a range edge (node MTBF 1e8 h, write bandwidth 1e6 GB/s)
    failed: the tornado chart doubled them past the range. The moved values are now clipped to it."""
    from clustersim.estimate import estimate
    from clustersim.report.sensitivity import sensitivity

    sets = ["failures.preset=null", "failures.node_mtbf_hours=1e8", "checkpoint.write_gbyte_per_s=1e6"]
    base = estimate(QUICKSTART, set=sets).to_dict()
    rows = {r["parameter"]: r for r in sensitivity(QUICKSTART, base, set=sets)}
    mtbf = rows["failure rate (MTBF)"]
    assert "1e+08 h" in mtbf["high_label"] and "5e+07 h" in mtbf["low_label"]
    assert "1e+06 GB/s" in rows["checkpoint write bandwidth"]["high_label"]
    assert all(r["low_value_usd"] > 0 and r["high_value_usd"] > 0 for r in rows.values())
