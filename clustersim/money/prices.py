"""Prices per GPU-hour: catalog presets (each with its kind, date and source) and inline figures.

The catalog (``clustersim/scenario/catalog/prices.yaml``, from reference.md C.3) holds indicative
list prices with the month they applied to; a quote carries that date so every dollar figure says
how old its price is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from clustersim.errors import ClustersimError
from clustersim.scenario import catalog
from clustersim.scenario.model import Scenario

__all__ = ["PriceQuote", "quote", "presets_for_gpu", "newest_price", "scenario_price", "KINDS"]

#: The kinds of offer in the price catalog.
KINDS = ("on-demand", "reserved", "spot")


@dataclass(frozen=True)
class PriceQuote:
    """One price per GPU-hour and where it comes from (``preset`` is None for an inline figure)."""

    usd_per_gpu_hour: float
    preset: str | None = None
    gpu: str | None = None
    kind: str | None = None
    date: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        if self.preset is None:
            return f"${self.usd_per_gpu_hour:g}/GPU-h (given)"
        return f"${self.usd_per_gpu_hour:g}/GPU-h ({self.preset}, {self.kind}, {self.date})"


def _from_entry(name: str, entry: dict[str, Any]) -> PriceQuote:
    return PriceQuote(usd_per_gpu_hour=float(entry["usd_per_gpu_hour"]), preset=name, gpu=entry.get("gpu"),
                      kind=entry.get("kind"), date=str(entry.get("date")) if entry.get("date") else None,
                      source=entry.get("source"))


def quote(price: str | float | int) -> PriceQuote:
    """A price from a catalog preset name, or from a number of USD per GPU-hour (or its text)."""
    if isinstance(price, bool):
        raise ClustersimError(f"a price must be a preset name or USD per GPU-hour, got {price!r}")
    if isinstance(price, (int, float)):
        value = float(price)
    else:
        text = str(price).strip().lstrip("$")
        try:
            value = float(text)
        except ValueError:
            return _from_entry(str(price), catalog.price(str(price)))
    if not math.isfinite(value) or value < 0:
        raise ClustersimError(f"a price per GPU-hour must be >= 0, got {price!r}")
    return PriceQuote(usd_per_gpu_hour=value)


def presets_for_gpu(gpu: str, kind: str | None = None) -> list[PriceQuote]:
    """Every catalog price for this GPU (optionally of one kind), newest first."""
    out = [_from_entry(name, e) for name, e in catalog.prices().items()
           if e.get("gpu") == gpu and (kind is None or e.get("kind") == kind)]
    return sorted(out, key=lambda q: (q.date or "", q.preset or ""), reverse=True)


def newest_price(gpu: str, kind: str = "on-demand") -> PriceQuote | None:
    """The most recent catalog price of this kind for this GPU, or None when the catalog has none.

    Of several offers of the newest date, the cheapest (what a buyer shopping that month would pay);
    for on-demand this is :func:`clustersim.scenario.catalog.default_price`, the price a scenario
    without ``pricing`` gets.
    """
    if kind == "on-demand":
        found = catalog.default_price(gpu)
        return _from_entry(*found) if found else None
    offers = presets_for_gpu(gpu, kind)
    if not offers:
        return None
    newest = [q for q in offers if q.date == offers[0].date]
    return min(newest, key=lambda q: (q.usd_per_gpu_hour, q.preset or ""))


def scenario_price(s: Scenario) -> PriceQuote | None:
    """The scenario's price: inline, a preset, else the catalog's default for its GPU (as
    :meth:`Scenario.usd_per_gpu_hour`); None when it has none."""
    pr = s.pricing
    if pr.usd_per_gpu_hour is not None:
        return PriceQuote(usd_per_gpu_hour=float(pr.usd_per_gpu_hour), gpu=s.gpu().get("name"))
    if pr.preset is not None:
        return _from_entry(pr.preset, catalog.price(pr.preset))
    return newest_price(str(s.gpu().get("name")), "on-demand")
