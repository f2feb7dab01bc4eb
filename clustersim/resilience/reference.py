"""docs/reference/resilience.md, generated from the resilience file's models.

``python -m clustersim.resilience.reference`` writes it; tests/test_resilience.py fails when it is
stale. The tables are drawn with the fleet and scenario references' helpers, so the pages read alike.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from clustersim.resilience.spec import ResilienceFile

__all__ = ["resilience_reference", "write_reference", "DOCS"]

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reference"

_INTRO = """\
A resilience file is one YAML file: a run stated by what reliability reports give (GPUs, days of
failure-free compute, failure rates, recovery times, checkpoint policy, spares, prices) and named
strategies, each a set of dotted overrides of the base. `clustersim resilience FILE` compares them on
the same failures ([how-to](../how-to/choose-a-resilience-strategy.md)); the files under
`scenarios/validation/` are resilience files with `validation` checks ([validation](../validation.md),
part 3). Unknown keys are errors, reported with file, line and column. The engine's semantics are in
the docstring of `clustersim/sim/strategy.py`."""


def resilience_reference() -> str:
    """The text of docs/reference/resilience.md: every key, from the pydantic models."""
    from clustersim.docsgen.reference import GENERATED_NOTE, _anchor, _sections
    from clustersim.fleet.reference import _key_rows

    sections = _sections(ResilienceFile)
    anchors = {model: _anchor(path) for path, model in sections}
    note = (GENERATED_NOTE.replace("`python -m clustersim.docsgen`", "`python -m clustersim.resilience.reference`")
            .replace("tests/test_docs.py", "tests/test_resilience.py")
            .format(source="the pydantic models in clustersim/resilience/spec.py"))
    lines = [note, "", "# Resilience file reference", "", _INTRO, "", "Sections:", ""]
    lines += [f"- [`{path or '(top level)'}`](#{anchors[model]})" for path, model in sections]
    for path, model in sections:
        lines += ["", f'<a id="{anchors[model]}"></a>', "", f"## `{path or '(top level)'}`", ""]
        doc = inspect.getdoc(model)
        if doc and "__doc__" in model.__dict__ and model.__doc__:
            lines += [" ".join(doc.split("\n\n")[0].split()), ""]
        lines += _key_rows(model, anchors)
    return "\n".join(lines) + "\n"


def write_reference(docs: Path = DOCS) -> None:
    (docs / "resilience.md").write_text(resilience_reference(), encoding="utf-8")


if __name__ == "__main__":
    write_reference()
