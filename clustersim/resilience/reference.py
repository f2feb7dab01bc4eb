"""docs/reference/resilience.md, generated from the resilience file's models.

``python -m clustersim.resilience.reference`` writes it; tests/test_resilience.py fails when it is
stale. The tables are drawn with the scenario reference's helpers (:func:`clustersim.docsgen.reference.file_reference`), so the pages read alike.
"""

from __future__ import annotations

from pathlib import Path

from clustersim.resilience.spec import ResilienceFile

__all__ = ["resilience_reference", "write_reference", "DOCS"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"

_INTRO = """\
The same mechanisms are keys of a training scenario (`checkpoint.memory_tier`, `checkpoint.retention`,
`checkpoint.write_efficiency`, `failures.cold_provision_minutes`, `failures.fault_tolerance`,
`failures.node_health`, `failures.silent_corruption`, strategies under `resilience.strategies`: see the
[scenario reference](scenario.md)), where the step time and the checkpoint come from the kernel; a
resilience file is for a run known only by what reliability reports give.

A resilience file is one YAML file: a run stated by what reliability reports give (GPUs, days of
failure-free compute, failure rates, recovery times, checkpoint policy, spares, prices) and named
strategies, each a set of dotted overrides of the base. `clustersim resilience FILE` compares them on
the same failures ([how-to](../how-to/choose-a-resilience-strategy.md)). The published runs under
`scenarios/validation/` are training scenarios with `resilience.validation` checks
([validation](../validation.md), part 3); a resilience file may carry the same checks as `validation`.
Unknown keys are errors, reported with file, line and column. The engine's semantics are in
the docstring of `clustersim/sim/strategy.py`."""


def resilience_reference() -> str:
    """The text of docs/reference/resilience.md: every key, from the pydantic models."""
    from clustersim.docsgen.reference import file_reference

    return file_reference(ResilienceFile, title="Resilience file reference", intro=_INTRO,
                          generator="clustersim.resilience.reference", test="tests/test_resilience.py",
                          source="the pydantic models in clustersim/resilience/spec.py")


def write_reference(docs: Path = DOCS) -> None:
    (docs / "resilience.md").write_text(resilience_reference(), encoding="utf-8")


if __name__ == "__main__":
    write_reference()
