"""A parity plot (predicted vs published) written as SVG text by hand, and rasterised to PNG.

The SVG is deterministic text (diffable, committed next to the PNG). The PNG is a screenshot of that
SVG by a headless Chromium when one is installed (the same browser the report's tests use); plotly's
static export would need kaleido plus a browser anyway, so this adds no dependency. Without a
browser the SVG is still written and the PNG is left as it was.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

__all__ = ["Panel", "parity_svg", "svg_to_png", "BROWSERS"]

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_W, _H = 330, 330  # one panel, pixels
_M = {"left": 62, "right": 14, "top": 40, "bottom": 52}
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass(frozen=True)
class Panel:
    """One metric: points (published, predicted, group label), axis title, log or linear axes."""

    title: str
    points: Sequence[tuple[float, float, str]]
    log: bool = False
    band: float = 0.10  # the +-band drawn around y = x (the per-row tolerance)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        out = []
        # 1-2-5 ticks per decade over up to two decades, only the powers of ten over more (else they collide)
        mantissas = (1, 2, 5) if math.log10(hi / lo) <= 2.5 else (1,)
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
            for m in mantissas:
                v = m * 10.0 ** e
                if lo <= v <= hi:
                    out.append(v)
        return out
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10)), key=lambda s: abs(s - raw))
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if abs(v) >= 1e4 and float(v).is_integer():
        return f"{v / 1e3:g}k"
    return f"{v:g}" if abs(v) >= 0.01 else f"{v:.2g}"


def _panel_svg(panel: Panel, x0: float, groups: list[str]) -> list[str]:
    vals = [v for p in panel.points for v in p[:2]]
    lo, hi = min(vals), max(vals)
    if panel.log:
        lo, hi = lo / 1.25, hi * 1.25
    else:
        pad = (hi - lo) * 0.12 or abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    f = math.log10 if panel.log else (lambda v: v)
    pw = _W - _M["left"] - _M["right"]
    ph = _H - _M["top"] - _M["bottom"]
    left, top = x0 + _M["left"], _M["top"]

    def sx(v: float) -> float:
        return left + (f(v) - f(lo)) / (f(hi) - f(lo)) * pw

    def sy(v: float) -> float:
        return top + ph - (f(v) - f(lo)) / (f(hi) - f(lo)) * ph

    out = [f'<text x="{left + pw / 2:.1f}" y="24" text-anchor="middle" font-size="14" '
           f'font-weight="bold">{escape(panel.title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#888"/>']
    for t in _ticks(lo, hi, panel.log):
        out.append(f'<line x1="{sx(t):.1f}" y1="{top}" x2="{sx(t):.1f}" y2="{top + ph}" stroke="#e4e4e4"/>')
        out.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + pw}" y2="{sy(t):.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle" font-size="11">{_fmt(t)}</text>')
        out.append(f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end" font-size="11">{_fmt(t)}</text>')
    # y = x and the tolerance band, sampled so that they are straight on either axis type
    xs = [lo * (hi / lo) ** (i / 40) if panel.log else lo + (hi - lo) * i / 40 for i in range(41)]
    for factor, dash in ((1.0, ""), (1 + panel.band, ' stroke-dasharray="4 3"'), (1 - panel.band, ' stroke-dasharray="4 3"')):
        pts = " ".join(f"{sx(x):.1f},{sy(x * factor):.1f}" for x in xs if lo <= x * factor <= hi)
        out.append(f'<polyline points="{pts}" fill="none" stroke="#555"{dash}/>')
    for pub, pred, group in panel.points:
        color = _COLORS[groups.index(group) % len(_COLORS)]
        out.append(f'<circle cx="{sx(pub):.1f}" cy="{sy(pred):.1f}" r="4" fill="{color}" fill-opacity="0.8" '
                   f'stroke="#222" stroke-width="0.5"><title>{escape(group)}: published {pub:g}, predicted '
                   f'{pred:.4g}</title></circle>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph + 36}" text-anchor="middle" font-size="12">published'
               f'{" (log)" if panel.log else ""}</text>')
    out.append(f'<text x="{x0 + 14}" y="{top + ph / 2:.1f}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 {x0 + 14} {top + ph / 2:.1f})">predicted</text>')
    return out


def parity_svg(panels: Sequence[Panel], caption: str) -> str:
    """An SVG document: one parity panel per metric side by side, a shared legend, and a caption."""
    groups = sorted({p[2] for panel in panels for p in panel.points})
    width = _W * len(panels)
    legend_y = _H + 8
    height = legend_y + 20 * len(groups) + 34
    body = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif">',
            f'<rect width="{width}" height="{height}" fill="white"/>']
    for i, panel in enumerate(panels):
        body.extend(_panel_svg(panel, i * _W, groups))
    for i, group in enumerate(groups):
        y = legend_y + 20 * i
        body.append(f'<circle cx="{_M["left"] + 6}" cy="{y + 6}" r="5" fill="{_COLORS[i % len(_COLORS)]}"/>')
        body.append(f'<text x="{_M["left"] + 18}" y="{y + 10}" font-size="12">{escape(group)}</text>')
    body.append(f'<text x="{_M["left"]}" y="{height - 12}" font-size="11" fill="#444">{escape(caption)}</text>')
    body.append("</svg>")
    return "\n".join(body) + "\n"


def svg_size(svg: str) -> tuple[int, int]:
    import re

    m = re.search(r'width="(\d+)" height="(\d+)"', svg)
    if not m:
        raise ValueError("no width/height in the SVG")
    return int(m.group(1)), int(m.group(2))


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def svg_to_png(svg: str, png: Path, timeout_s: float = 60.0) -> bool:
    """Screenshot the SVG with headless Chromium into ``png``; False (and nothing written) without one."""
    browser = find_browser()
    if browser is None:
        return False
    width, height = svg_size(svg)
    with tempfile.TemporaryDirectory(prefix="clustersim-svg-") as tmp:
        src = Path(tmp) / "plot.svg"
        src.write_text(svg, encoding="utf-8")
        out = Path(tmp) / "plot.png"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}",
               "--force-device-scale-factor=1", f"--screenshot={out}", src.as_uri()]
        subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        if not out.is_file() or out.stat().st_size == 0:
            return False
        png.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, png)
    return True
