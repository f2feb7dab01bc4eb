"""The estimate's tables as data, and their text without the table library where that text is certain.

:func:`estimate_layout` is what ``clustersim estimate`` shows: three tables (title, columns, rows of
markup strings), built without importing rich. :func:`clustersim.tables.estimate_tables` turns them into
rich tables for a terminal. When the output is not a terminal, :func:`plain_text` writes the same
characters rich writes there (a 120-column console without colour: the boxes, the column widths, the
word wrapping and the centred titles of rich's ``Table``) for the tables it can lay out with certainty,
and returns None for any other, which then go through rich: text outside printable ASCII, markup other
than this module's own tags, an emoji code, a word wider than its column, or a table whose columns must
shrink by more than rich's first narrowing step. Importing and running rich is some 30 ms of a 0.3 s
estimate (benchmarks/bench_startup.py); tests/test_cli_text.py holds the two equal, character for
character, over every scenario and over generated names, sources and widths.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from clustersim.errors import visible

__all__ = ["TextTable", "estimate_layout", "plain_text", "plain_output", "plain_value", "fmt_num", "fmt_pct"]

#: The console width of clustersim's tables when the output is not a terminal (clustersim.cli_shared._console).
PLAIN_WIDTH = 120
#: The markup tags of this module's own strings (everything from the user goes through ``esc``).
_TAGS = ("[bold]", "[red]", "[/]")
#: A ``:name:`` rich would look up as an emoji (rich.markup renders emoji codes in every string).
_EMOJI_LIKE = re.compile(r":\S*:")
#: Characters whose width is one cell and that rich prints as themselves.
_PRINTABLE = re.compile(r"[ -~]*")
#: A word and the spaces after it, as the word wrap takes them (a line breaks only before a word).
_WORD = re.compile(r"\s*\S+\s*")
#: The variables that make rich style or size output that is not a terminal (rich.console.Console).
_RICH_ENVIRONMENT = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")


class TextTable:
    """One table: its title, its columns ``(header, justify, style)``, its rows of markup strings (a plain
    class: a dataclass's generated methods are compiled at import, a cost on every estimate's start-up)."""

    __slots__ = ("title", "columns", "rows", "show_header")

    def __init__(self, title: str, columns: list[tuple[str, str, str | None]],
                 rows: list[tuple[str, ...]] | None = None, show_header: bool = True) -> None:
        self.title = title
        self.columns = columns
        self.rows: list[tuple[str, ...]] = [] if rows is None else rows
        self.show_header = show_header

    def __repr__(self) -> str:
        return f"TextTable({self.title!r}, {len(self.columns)} columns, {len(self.rows)} rows)"


def fmt_num(value: float | None, spec: str, missing: str = "n/a") -> str:
    """``value`` formatted, or ``missing`` where the result has none (None, or not finite)."""
    if value is None or not math.isfinite(value):
        return missing
    return format(value, spec)


def fmt_pct(x: float | None) -> str:
    """A share as a percentage with one decimal, ``n/a`` where there is none."""
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def estimate_layout(d: dict[str, Any], esc: Callable[[Any], str]) -> list[TextTable]:
    """The estimate as three small tables: headline, step-time breakdown, memory per GPU. ``esc`` turns
    a value from the user (a name, a source) into table text (rich's escaping, for rich)."""
    par = d["parallelism"]
    head = TextTable(f"{esc(d['name'])}: {esc(d['model'])} on {d['gpus']:,} x {esc(d['gpu'])}",
                     [("what", "left", "bold"), ("value", "left", None)], show_header=False)
    layout = (f"tp {par['tp']} x pp {par['pp']} x dp {par['dp']} x cp {par['cp']}, ep {par['ep']}, vpp {par['vpp']}, "
              f"ZeRO-{par['zero']}, SP {'on' if par['sequence_parallel'] else 'off'}, "
              f"micro-batch {par['micro_batch_seqs']}, recompute {par['recompute']}"
              + (f" ({par['recompute_layers']} layers a chunk)"
                 if par.get("recompute_layers") is not None and par["recompute"] == "full" else "")
              + (f" ({', '.join(par['recompute_modules']) or 'nothing rerun'})"
                 if par.get("recompute_modules") is not None and par["recompute"] == "selective" else "")
              + (" (searched)" if par.get("searched") else ""))
    rows = [
        ("parallelism", layout),
        ("parameters", f"{d['params_b']:.1f} B ({d['active_params_b']:.1f} B active)"),
        ("tokens", f"{d['tokens']:.3g}"),
        ("step time", f"{d['step_time_s']:.3f} s"),
        ("throughput", f"{d['tokens_per_s']:,.0f} tokens/s"),
        ("MFU / HFU", f"{fmt_pct(d['mfu'])} / {fmt_pct(d['hfu'])}"),
        ("TFLOP/s per GPU", f"{d['model_tflops_per_gpu']:.0f} model, {d['hardware_tflops_per_gpu']:.0f} hardware"),
        ("memory per GPU", f"{d['memory_per_gpu_gib']:.1f} GiB of {d['gpu_memory_gib']} GiB"
         + ("" if d["fits_in_memory"] else f"  [red]DOES NOT FIT: over by {d['memory_excess_gib']:.1f} GiB[/]")),
        ("train time (no failures)", f"{d['train_days']:.2f} days"),
        ("GPU-hours", f"{d['gpu_hours']:,.0f}"),
        ("cost (no failures)", f"${d['cost_usd']:,.0f} at ${d['usd_per_gpu_hour']:.2f}/GPU-h, {esc(d['price_source'])}"
         if d.get("cost_usd") is not None else "no price given"),
    ]
    iv = d.get("prediction_interval")
    if iv:
        level = f"{100 * iv['level']:.0f}%"
        parts = [f"step {iv['step_time_s'][0]:.3g}-{iv['step_time_s'][1]:.3g} s",
                 f"{iv['train_days'][0]:.3g}-{iv['train_days'][1]:.3g} days",
                 f"{iv['gpu_hours'][0]:,.0f}-{iv['gpu_hours'][1]:,.0f} GPU-h"]
        if iv.get("cost_usd"):
            parts.append(f"${iv['cost_usd'][0]:,.0f}-${iv['cost_usd'][1]:,.0f}")
        rows.append((f"{level} interval", ", ".join(parts) + f" ({esc(iv['method'])}: {esc(iv['source'])})"))
    if d.get("cannot_finish"):
        rows.append(("[red]cannot finish[/]", esc(d["cannot_finish"])))
    elif d.get("job_mtbf_hours") is not None:
        rows += [
            ("job MTBF (all sources)", f"{d['job_mtbf_hours']:.2f} h"),
            ("checkpoint", f"{d['checkpoint_size_gb']:,.0f} GB, write {d['checkpoint_write_s']:.0f} s, "
                           f"load {d['checkpoint_load_s']:.0f} s, every {d['checkpoint_interval_minutes']:.0f} min"),
            ("expected goodput (Daly)", fmt_pct(d["expected_goodput"])),
            ("expected wall time (Daly)",
             f"{fmt_num(d['expected_wall_days'], '.2f', 'no finite expectation')} days, "
             f"~{fmt_num(d.get('expected_interruptions'), '.0f')} interruptions"
             if d.get("expected_wall_days") is not None else "no finite expectation"),
        ]
    head.rows.extend(rows)
    step = TextTable("step time breakdown (exposed)",
                     [("part", "left", None), ("seconds", "right", None), ("share", "right", None)])
    total = d["step_time_s"] or 1.0
    for part, sec in d["breakdown_s"].items():
        step.rows.append((esc(part.replace("_", " ")), f"{sec:.4f}", fmt_pct(sec / total)))
    step.rows.append(("[bold]total[/]", f"[bold]{d['step_time_s']:.4f}[/]", "100%"))
    mem = TextTable("memory per GPU (heaviest stage)", [("part", "left", None), ("GiB", "right", None)])
    for part, gib in d["memory_breakdown_gib"].items():
        mem.rows.append((esc(part), f"{gib:.2f}"))
    mem.rows.append(("[bold]total[/]", f"[bold]{d['memory_per_gpu_gib']:.2f}[/]"))
    return [head, step, mem]


def plain_value(value: Any) -> str:
    """A value from the user as plain table text, control characters shown (as ``user_text`` shows them).
    A bracket becomes NUL, which no other table text holds (``visible`` writes a user's own NUL as
    ``\\x00``) and :func:`plain_text` refuses: rich's escaping would change such text, and a user's
    ``[bold]`` must not read as this module's own tag."""
    return visible(str(value)).replace("[", "\0")


def plain_output(stream: TextIO | None = None) -> bool:
    """Whether rich would print to ``stream`` (default stdout) as plain text at PLAIN_WIDTH columns: not
    a terminal, a UTF-8 encoding (else rich draws ASCII boxes), no variable that forces a terminal or
    sizes a notebook, not Windows' legacy console, not inside IPython."""
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    encoding = (getattr(stream, "encoding", "utf-8") or "utf-8").lower()
    if not encoding.startswith("utf") or sys.platform == "win32":
        return False
    if any(name in os.environ for name in _RICH_ENVIRONMENT):
        return False
    import builtins

    return not hasattr(builtins, "get_ipython")


def _plain(markup: str) -> str | None:
    """The characters rich prints for one of this module's markup strings, or None where rich would do
    more than drop the tags (an escape, other markup, an emoji code, a character outside printable ASCII)."""
    text = markup
    for tag in _TAGS:
        text = text.replace(tag, "")
    if "[" in text or "\\" in text or _EMOJI_LIKE.search(markup) or not _PRINTABLE.fullmatch(text):
        return None
    return text


def _wrap(text: str, width: int) -> list[str] | None:
    """``text`` broken into lines of at most ``width`` characters before words that do not fit on the
    line (each line without its trailing spaces); None when a word is wider than a line."""
    lines: list[str] = []
    begin = 0
    used = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - used >= length:
            used += len(word)
            continue
        if length > width:
            return None
        if used and start:
            lines.append(text[begin:start].rstrip())
            begin = start
            used = len(word)
    lines.append(text[begin:].rstrip())
    return lines


def _justify(line: str, width: int, how: str) -> str:
    if how == "right":
        return line.rjust(width)
    if how == "center":
        left = (width - len(line)) // 2
        return " " * left + line + " " * (width - left - len(line))
    return line.ljust(width)


def _widths(table: list[list[str]], limit: int) -> list[int] | None:
    """Each column's width with its one-space padding on either side: the widest cell, narrowed as rich
    narrows a table wider than ``limit``, but only where the widest column alone gives the excess up and
    stays at least as wide as the next; None otherwise."""
    widths = [max(len(cell) for cell in column) + 2 for column in zip(*table, strict=True)]
    excess = sum(widths) - limit
    if excess > 0:
        widest = max(widths)
        if widths.count(widest) != 1:
            return None
        others = [w for w in widths if w != widest]
        if widest - max(others, default=0) < excess:
            return None
        widths[widths.index(widest)] = widest - excess
    return widths


def _render(table: TextTable, width: int) -> list[str] | None:
    """The lines rich prints for ``table`` at a console ``width`` (its default box, heavy-headed), or None."""
    title = _plain(table.title)
    grid: list[list[str]] = []
    for row in ([tuple(h for h, _, _ in table.columns)] if table.show_header else []) + table.rows:
        cells = [_plain(cell) for cell in row]
        if len(cells) != len(table.columns) or any(c is None for c in cells):
            return None
        grid.append([c for c in cells if c is not None])
    if title is None or not table.rows:
        return None
    widths = _widths(grid, width - len(table.columns) - 1)
    if widths is None:
        return None
    justify = [how for _, how, _ in table.columns]
    body: list[list[list[str]]] = []
    for texts in grid:
        wrapped = [_wrap(cell, w - 2) for cell, w in zip(texts, widths, strict=True)]
        if any(lines is None for lines in wrapped):
            return None
        body.append([lines for lines in wrapped if lines is not None])
    total = sum(widths) + len(widths) + 1
    title_lines = _wrap(title, total)
    if title_lines is None:
        return None
    out = [_justify(line, total, "center") for line in title_lines]
    heavy = table.show_header
    out.append(("┏" + "┳".join("━" * w for w in widths) + "┓") if heavy else
               ("┌" + "┬".join("─" * w for w in widths) + "┐"))
    for i, row_lines in enumerate(body):
        bar = "┃" if heavy and i == 0 else "│"
        for k in range(max(len(lines) for lines in row_lines)):
            out.append(bar + bar.join(" " + _justify(lines[k] if k < len(lines) else "", w - 2, how) + " "
                                      for lines, w, how in zip(row_lines, widths, justify, strict=True)) + bar)
        if heavy and i == 0:
            out.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    out.append("└" + "┴".join("─" * w for w in widths) + "┘")
    return out


def plain_text(tables: list[TextTable], width: int = PLAIN_WIDTH) -> str | None:
    """The text rich prints for ``tables`` (built with ``esc=plain_value``) on a plain console of ``width``
    columns, one after the other; None when any of them needs rich itself."""
    lines: list[str] = []
    for table in tables:
        rendered = _render(table, width)
        if rendered is None:
            return None
        lines += rendered
    return "\n".join(lines) + "\n"
