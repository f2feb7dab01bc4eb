"""The docs cannot go stale: every example runs and prints what the page records; generated pages are current.

* Each page's ``$ clustersim ...`` and Python examples are run (:mod:`clustersim.docsgen.examples`) and
  compared with the recorded output after :data:`~clustersim.docsgen.examples.NORMALISERS`.
* docs/reference/{scenario,cli,python-api}.md and docs/validation.md (+ its SVG plot) equal what
  ``python -m clustersim.docsgen`` generates from the code now.
* Every page is reachable from docs/index.md, and every relative link resolves.

When a test here fails because the code changed on purpose, run ``make docs`` and review the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from clustersim.docsgen.examples import DOCS, REPO, doc_pages, is_example, normalise, run_page, split_console
from clustersim.docsgen.markdown import parse_blocks, replace_bodies

PAGES_WITH_EXAMPLES = [p for p in doc_pages() if any(is_example(b, p) for b in parse_blocks(p))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


# ------------------------------------------------------------------ the machinery itself
def test_parse_blocks_attributes_skip_and_rewrite(tmp_path: Path) -> None:
    text = ("# t\n\n```console exit=2\n$ clustersim a\nold\n```\n\n<!-- docs: no-run -->\n\n```python\n"
            "print(1)\n```\n```yaml file=x.yaml\nk: v\n```\n")
    page = tmp_path / "p.md"
    page.write_text(text)
    blocks = parse_blocks(page)
    assert [(b.lang, b.attrs, b.skip) for b in blocks] == [
        ("console", {"exit": "2"}, False), ("python", {}, True), ("yaml", {"file": "x.yaml"}, False)]
    assert split_console(blocks[0]) == [("clustersim a", ["old"])]
    new = replace_bodies(text, {blocks[0].start: ["$ clustersim a", "new", "lines"]})
    assert "old" not in new and "new\nlines\n```" in new and new.count("```") == text.count("```")


def test_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```console\n$ clustersim --version\n")
    with pytest.raises(ValueError, match="unclosed"):
        parse_blocks(page)


def test_normalise_hides_only_what_varies() -> None:
    a = '"clustersim_version": "0.1.0",\n"elapsed_s": 0.42,\nevaluated in 1.25 s (12,000 configs/s)\n/tmp/x/y.csv'
    b = '"clustersim_version": "0.2.0",\n"elapsed_s": 3.1,\nevaluated in 0.5 s (900 configs/s)\n/tmp/z.csv'
    assert normalise(a) == normalise(b)
    # a figure that matters is never normalised away
    assert normalise('"train_days": 1.63') != normalise('"train_days": 1.64')
    assert normalise("│ step time │ 5.908 s │") != normalise("│ step time │ 5.909 s │")


def test_stale_recorded_output_fails_and_update_fixes_it(tmp_path: Path) -> None:
    from clustersim import __version__
    from clustersim.docsgen.examples import update_page

    (tmp_path / "how-to").mkdir()
    page = tmp_path / "how-to" / "p.md"
    page.write_text("```console\n$ clustersim schema --help\nUsage: nothing like this\n```\n\n"
                    "```python\nprint(6 * 7)\n```\n\n```text\n41\n```\n")
    result = run_page(page)
    assert len(result.examples) == 2 and len(result.failures) == 2
    update_page(page)
    assert run_page(page).failures == []
    assert "\n42\n" in page.read_text() and "Usage: clustersim schema" in page.read_text()
    assert __version__  # the version is importable for the --version normaliser


def test_python_runs_only_in_how_to_guides_and_tutorial(tmp_path: Path) -> None:
    page = tmp_path / "reference.md"
    page.write_text("```python\nraise SystemExit(3)\n```\n")
    assert run_page(page).examples == []
    (tmp_path / "how-to").mkdir()
    guide = tmp_path / "how-to" / "g.md"
    guide.write_text("```python\nraise SystemExit(3)\n```\n")
    assert "exit status 3" in run_page(guide).failures[0].message


def test_wrong_exit_status_fails(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```console\n$ clustersim validate missing.yaml\n```\n")
    result = run_page(page)
    assert result.failures and "exit status 2, expected 0" in result.failures[0].message


# ------------------------------------------------------------------ the pages
@pytest.mark.parametrize("page", PAGES_WITH_EXAMPLES, ids=_rel)
def test_doc_examples_match_recorded_output(page: Path) -> None:
    result = run_page(page)
    assert result.examples, f"{page} has no examples"
    messages = [f"{e.where} {e.command}\n{e.message}" for e in result.failures]
    assert not messages, "stale docs (run `make docs` and review the diff):\n\n" + "\n\n".join(messages)


def test_some_pages_have_examples() -> None:
    names = {p.name for p in PAGES_WITH_EXAMPLES}
    assert {"tutorial.md", "embed-in-cost-script.md"} <= names


@pytest.mark.parametrize("rel", ["reference/scenario.md", "reference/cli.md", "reference/python-api.md"])
def test_reference_page_is_current(rel: str) -> None:
    from clustersim.docsgen.__main__ import REFERENCE_PAGES

    committed = (DOCS / rel).read_text(encoding="utf-8")
    assert committed == REFERENCE_PAGES[rel](), f"docs/{rel} is stale: run `make docs`"


def test_scenario_reference_lists_every_field() -> None:
    from clustersim.docsgen.reference import _sections
    from clustersim.scenario import Scenario

    text = (DOCS / "reference" / "scenario.md").read_text(encoding="utf-8")
    for path, model in _sections(Scenario):
        for name, info in model.model_fields.items():
            assert f"| `{info.alias or name}` |" in text, f"{path}.{name} missing from scenario.md"


def test_constants_named_in_the_model_page_exist() -> None:
    """explanation/model.md names the kernel's constants instead of quoting values that may be retuned."""
    from clustersim.cost import efficiency, memory

    text = (DOCS / "explanation" / "model.md").read_text(encoding="utf-8")
    names = set(re.findall(r"`([A-Z][A-Z0-9_]{3,})`", text))
    assert names, "model.md names no constants"
    missing = sorted(n for n in names if not hasattr(efficiency, n) and not hasattr(memory, n))
    assert not missing, f"model.md names constants that no longer exist: {missing}"


@pytest.mark.slow
def test_validation_page_is_current() -> None:
    from clustersim.docsgen import validation as v

    table = v.published_table()
    page = v.validation_page(table, v.daly_checks(), v.interval_checks())
    assert (DOCS / "validation.md").read_text(encoding="utf-8") == page, "docs/validation.md is stale: make docs"
    assert (DOCS / "img" / "parity.svg").read_text(encoding="utf-8") == v.parity_plot_svg(table)
    assert (DOCS / "img" / "parity.png").is_file()


def test_validation_page_reports_every_published_row() -> None:
    from clustersim.published import validation_table

    text = (DOCS / "validation.md").read_text(encoding="utf-8")
    for row in validation_table():
        if row["error"] is not None:
            assert f"| `{row['id']}` |" in text


def _links(page: Path) -> list[str]:
    """Markdown link targets of a page, outside fenced blocks."""
    lines = page.read_text(encoding="utf-8").split("\n")
    for block in parse_blocks(page):
        lines[block.start:block.end + 1] = [""] * (block.end + 1 - block.start)
    return [m.group(1) for m in _LINK.finditer("\n".join(lines))]


def test_every_page_is_reachable_from_the_index() -> None:
    seen: set[Path] = set()
    todo = [DOCS / "index.md"]
    while todo:
        page = todo.pop()
        if page in seen or not page.is_file() or page.suffix != ".md":
            continue
        seen.add(page)
        for link in _links(page):
            target = link.split("#")[0]
            if target and "://" not in target:
                todo.append((page.parent / target).resolve())
    missing = [_rel(p) for p in doc_pages() if p.resolve() not in seen]
    assert not missing, f"pages not linked from docs/index.md: {missing}"


@pytest.mark.parametrize("page", [*doc_pages(), REPO / "README.md"], ids=_rel)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for link in _links(page):
        target = link.split("#")[0]
        if target and "://" not in target and not target.startswith("mailto:"):
            if not (page.parent / target).exists():
                broken.append(link)
    assert not broken, f"{_rel(page)}: broken links {broken}"
