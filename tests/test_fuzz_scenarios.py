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
