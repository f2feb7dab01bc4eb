"""The estimate's plain text (clustersim.cli_text) is rich's, character for character, wherever it is used."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clustersim.cli import cli
from clustersim.cli_text import estimate_layout, plain_output, plain_text, plain_value

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p for p in (ROOT / "scenarios").rglob("*.yaml")
                   if p.parent.name in ("scenarios", "validation", "resilience"))


def _rich_text(d: dict, width: int = 120) -> str:
    """What ``clustersim estimate`` printed through rich on a plain console ``width`` columns wide."""
    from rich.console import Console

    from clustersim.tables import estimate_tables

    out = io.StringIO()
    console = Console(file=out, highlight=False, soft_wrap=False, width=width)
    for table in estimate_tables(d):
        console.print(table)
    return out.getvalue()


def _estimate_dict(path: Path) -> dict:
    from clustersim.estimate import estimate
    from clustersim.scenario.warnings import scenario_warnings

    est = estimate(path, feasible_only=False)
    d = est.to_dict()
    d["warnings"] = scenario_warnings(est.scenario)
    return d


@pytest.fixture(scope="module")
def gpt3() -> dict:
    return _estimate_dict(ROOT / "scenarios" / "gpt3-175b-megatron.yaml")


def test_the_gpt3_estimate_takes_the_plain_path_and_prints_riches_text(gpt3):
    text = plain_text(estimate_layout(gpt3, plain_value))
    assert text is not None
    assert text == _rich_text(gpt3)
    assert "(validation-residuals:" in text and "\u2502" in text  # a wrapped row, in the boxes


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_scenario_prints_riches_text_or_goes_through_rich(path):
    try:
        d = _estimate_dict(path)
    except Exception as exc:  # a scenario estimate refuses (e.g. no layout) has no tables to compare
        pytest.skip(f"no estimate: {exc}")
    text = plain_text(estimate_layout(d, plain_value))
    assert text is None or text == _rich_text(d)


_PLAIN_WORDS = ["a", "run", "llama3-405b", "x" * 30, "y" * 95, "-", "(2024-01)", "$5", "100%", "]", ":", "a:b",
                "on-demand,", "  "]
_ODD_WORDS = ["[v2]", "[bold]", "\\[x]", "a\\b", ":smile:", "10:30:00", "caf\u00e9", "\u5927\u6a21\u578b", "tab\there",
              "["]


def _text(rng: np.random.Generator, most: int) -> str:
    """Up to ``most`` words, one in twenty-five of them odd (markup, escapes, emoji codes, wide characters)."""
    words = [(_ODD_WORDS[int(rng.integers(len(_ODD_WORDS)))] if rng.random() < 0.04 else
              _PLAIN_WORDS[int(rng.integers(len(_PLAIN_WORDS)))]) for _ in range(int(rng.integers(0, most + 1)))]
    return " ".join(words) or "run"


def test_generated_names_sources_and_widths_print_riches_text_or_go_through_rich(gpt3):
    """Names, GPUs, price sources and interval sources of every length and kind (brackets, escapes, emoji
    codes, wide characters, long words), at console widths 40-200: whenever the plain path answers, its
    text is rich's; it answers for most of the plain ones."""
    rng = np.random.default_rng(20261202)
    answered = 0
    for _ in range(300):
        d = copy.deepcopy(gpt3)
        d["name"] = _text(rng, 12)
        d["model"] = _text(rng, 2)
        d["gpu"] = _text(rng, 2)
        d["price_source"] = _text(rng, 20)
        if rng.random() < 0.2:
            d["cost_usd"] = None
        if rng.random() < 0.2:
            d["prediction_interval"] = None
        elif d["prediction_interval"]:
            d["prediction_interval"]["source"] = _text(rng, 30)
        if rng.random() < 0.2:
            d["fits_in_memory"] = False
        if rng.random() < 0.1:
            d["cannot_finish"] = _text(rng, 15)
        width = int(rng.integers(40, 201))
        text = plain_text(estimate_layout(d, plain_value), width)
        if text is not None:
            answered += 1
            assert text == _rich_text(d, width), (d["name"], d["price_source"], width)
    assert answered >= 40


def test_markup_and_escapes_go_through_rich(gpt3):
    for name in ("run [v2]", "oops [/] x", "a\\b", ":thumbs_up:", "caf\u00e9", "tab\tname"):
        d = dict(gpt3, name=name)
        assert plain_text(estimate_layout(d, plain_value)) is None, name


def test_only_plain_streams_take_the_plain_path(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    class Latin1(io.StringIO):
        encoding = "latin-1"

    assert plain_output(io.StringIO())
    assert not plain_output(Tty())
    assert not plain_output(Latin1())
    for variable in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.setenv(variable, "1")
        assert not plain_output(io.StringIO())
        monkeypatch.delenv(variable)


def test_the_cli_prints_the_same_text_either_way(gpt3, monkeypatch):
    """``clustersim estimate``'s text is the same through the plain path and through rich (FORCE_COLOR=''
    makes rich treat the output as no terminal, and sends the command through rich)."""
    args = ["estimate", "scenarios/gpt3-175b-megatron.yaml"]
    monkeypatch.chdir(ROOT)
    plain = CliRunner().invoke(cli, args)
    monkeypatch.setenv("FORCE_COLOR", "")
    through_rich = CliRunner().invoke(cli, args)
    assert plain.exit_code == 0 and through_rich.exit_code == 0
    assert plain.stdout == through_rich.stdout == _rich_text(gpt3)
    assert json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)["name"] == gpt3["name"]
