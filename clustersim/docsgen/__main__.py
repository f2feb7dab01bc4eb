"""``python -m clustersim.docsgen``: regenerate the generated docs and every recorded example output.

    python -m clustersim.docsgen             # everything: reference pages, validation page + plot, examples
    python -m clustersim.docsgen --update    # only re-run the examples and rewrite their recorded outputs
    python -m clustersim.docsgen --reference # only docs/reference/{scenario,cli,python-api}.md
    python -m clustersim.docsgen --validation  # only docs/validation.md and docs/img/parity.{svg,png}
    python -m clustersim.docsgen --check     # write nothing; exit 1 if anything is stale

``make docs`` runs the first form.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from clustersim.docsgen.examples import DOCS, check_page, doc_pages, update_page
from clustersim.docsgen.reference import cli_reference, python_api_reference, scenario_reference

REFERENCE_PAGES = {
    "reference/scenario.md": scenario_reference,
    "reference/cli.md": cli_reference,
    "reference/python-api.md": python_api_reference,
}


def _reference(docs: Path, check: bool) -> int:
    stale = 0
    for rel, make in REFERENCE_PAGES.items():
        path = docs / rel
        text = make()
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"stale: {path}")
                stale += 1
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return stale


def _validation(docs: Path, check: bool) -> int:
    from clustersim.docsgen import validation as v

    if check:
        table = v.published_table()
        page = v.validation_page(table, v.daly_checks(), v.interval_checks())
        stale = 0
        for path, text in ((docs / "validation.md", page), (docs / "img" / "parity.svg", v.parity_plot_svg(table))):
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                print(f"stale: {path}")
                stale += 1
        return stale
    info = v.write_validation(docs)
    print(f"wrote {docs / 'validation.md'} ({info['rows']} published rows) and {docs / 'img' / 'parity.svg'}")
    if info["png"]:
        print(f"wrote {docs / 'img' / 'parity.png'} (headless Chromium screenshot of the SVG)")
    elif info["png_current"]:
        print(f"{docs / 'img' / 'parity.png'} is current (the plot did not change)")
    else:
        print("no Chromium found: docs/img/parity.png is stale (docs/img/parity.svg is current)", file=sys.stderr)
    return 0


def _examples(docs: Path, check: bool) -> int:
    bad = 0
    total = 0.0
    for page in doc_pages(docs):
        result = check_page(page) if check else update_page(page)
        total += result.elapsed_s
        if not result.examples:
            continue
        print(f"{page.relative_to(docs.parent)}: {len(result.examples)} examples, {result.elapsed_s:.1f} s")
        for ex in result.failures if check else result.broken:
            bad += 1
            what = "differs" if check else "failed"
            print(f"  {what}: {ex.where} {ex.command}\n{ex.message}")
    print(f"examples: {total:.1f} s in all")
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clustersim.docsgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help="only re-run examples and rewrite their outputs")
    parser.add_argument("--reference", action="store_true", help="only the generated reference pages")
    parser.add_argument("--validation", action="store_true", help="only docs/validation.md and its plot")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is stale")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs directory (default: the repo's)")
    args = parser.parse_args(argv)
    everything = not (args.update or args.reference or args.validation)
    start = time.perf_counter()
    problems = 0
    # Reference and validation first: the examples may show pages that these generate.
    if everything or args.reference:
        problems += _reference(args.docs, args.check)
    if everything or args.validation:
        problems += _validation(args.docs, args.check)
    if everything or args.update:
        problems += _examples(args.docs, args.check)
    print(f"done in {time.perf_counter() - start:.1f} s; {problems} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
