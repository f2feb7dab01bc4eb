"""The catalogs: GPUs, model architectures, prices and reliability presets, as data with sources.

The figures live in the YAML files beside this module (package data, read from the package's folder
and PyYAML's safe loader, libyaml's ``CSafeLoader`` where PyYAML has it: the same safe constructors and
resolver as :func:`yaml.safe_load`, some ten times faster; the catalogs are trusted package data, so the
bounds of :mod:`clustersim.scenario.yamlsafe` are not needed); every entry carries its citation. A
look-up of one name parses only that entry's lines (:func:`_entry`), the whole file only when every entry
is asked for or the file's layout is not the plain one the index understands. This module only loads
them, looks names up (an unknown name raises :class:`~clustersim.errors.ScenarioError` with a "did you
mean" hint), and counts a model's parameters from its architecture.

Every accessor returns a fresh deep copy, so a caller can modify what it gets without changing the
catalog for anyone else.
"""

from __future__ import annotations

import copy
import datetime
import os
import re
from functools import cache
from typing import Any

import yaml

from clustersim.errors import ErrorItem, ScenarioError

__all__ = [
    "kernel_model",
    "gpus",
    "models",
    "prices",
    "reliability",
    "gpu",
    "model",
    "price",
    "reliability_preset",
    "params_from_architecture",
    "active_params_from_architecture",
]

#: PyYAML's safe loader with libyaml's parser where available (same resolver and constructors).
_SAFE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_KINDS = {"gpus": "GPU", "models": "model", "prices": "price", "reliability": "reliability preset"}


_FOLDER = os.path.dirname(os.path.abspath(__file__))


@cache
def _text(kind: str) -> str:
    """The text of ``<kind>.yaml`` (read once)."""
    with open(os.path.join(_FOLDER, f"{kind}.yaml"), encoding="utf-8") as f:
        return f.read()


@cache
def _load(kind: str) -> dict[str, dict[str, Any]]:
    """Parse ``<kind>.yaml`` once; callers get deep copies of it."""
    data = yaml.load(_text(kind), Loader=_SAFE_LOADER)  # noqa: S506  (a safe loader: SafeLoader or CSafeLoader)
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ScenarioError(f"catalog file {kind}.yaml must map names to entries")  # pragma: no cover
    return data


#: A top-level line of a catalog file: a plain name opening a block mapping (``h100-sxm-80gb:``).
_TOP_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*:[ \t]*(?:#.*)?")


@cache
def _index(kind: str) -> dict[str, tuple[int, int]] | None:
    """Each top-level name of ``<kind>.yaml`` and its entry's span of the text (from its line to the next
    name's), or None when a line at column 0 is anything else than such a name, a comment or blank (a
    flow value, a quoted key, a document marker) or a name repeats: then only the whole file is parsed."""
    text = _text(kind)
    spans: dict[str, tuple[int, int]] = {}
    name, start, at = None, 0, 0
    for line in text.splitlines(keepends=True):
        head = line[:1]
        if head and head not in " \t#\r\n":
            if not _TOP_KEY.fullmatch(line.rstrip("\r\n")):
                return None
            if name is not None:
                spans[name] = (start, at)
            name, start = line.split(":", 1)[0], at
            if name in spans:
                return None
        at += len(line)
    if name is not None:
        spans[name] = (start, at)
    return spans


@cache
def _entry(kind: str, name: str) -> dict[str, Any] | None:
    """One entry of ``<kind>.yaml`` by name, parsing only its lines (the same data as the whole file's
    entry: YAML builds a mapping's value from its own lines, and these files use no anchors); None when the
    file has no entry of that name. The whole file's entry when the index cannot be used or the entry's
    lines alone do not give exactly that one name."""
    index = _index(kind)
    if index is None:
        return _load(kind).get(name)
    span = index.get(name)
    if span is None:
        return None
    try:
        data = yaml.load(_text(kind)[span[0]:span[1]], Loader=_SAFE_LOADER)  # noqa: S506  (a safe loader)
    except yaml.YAMLError:  # pragma: no cover - an alias to another entry's anchor
        data = None
    if isinstance(data, dict) and len(data) == 1 and isinstance(data.get(name), dict):
        return data[name]
    return _load(kind).get(name)  # pragma: no cover - a name the resolver reads as another type


def _fresh(value: Any) -> Any:
    """A deep copy of parsed YAML data (mappings, lists, scalars), several times faster than
    :func:`copy.deepcopy`, which the accessors used to pay twice per resolved scenario."""
    kind = type(value)
    if kind is dict:
        return {k: _fresh(v) for k, v in value.items()}
    if kind is list:
        return [_fresh(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


#: Scalar types YAML's safe loader gives that need no copy.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, datetime.date, datetime.datetime})


def _all(kind: str) -> dict[str, dict[str, Any]]:
    return _fresh(_load(kind))


def _one(kind: str, name: str) -> dict[str, Any]:
    if isinstance(name, str):
        entry = _entry(kind, name)
        if entry is not None:
            return _fresh(entry)
    import difflib

    data = _load(kind)
    names = sorted(data)
    close = [n for n in names if n.startswith(str(name).lower())][:3] or difflib.get_close_matches(
        str(name), names, n=3, cutoff=0.5)
    hint = ("did you mean " + " or ".join(f"'{c}'" for c in close) + "?") if close else None
    raise ScenarioError(
        ErrorItem(
            f"unknown {_KINDS[kind]} '{name}'",
            given=str(name),
            expected="one of " + ", ".join(names),
            hint=hint,
        )
    )


def gpus() -> dict[str, dict[str, Any]]:
    """Every GPU entry (``gpus.yaml``), by name."""
    return _all("gpus")


def models() -> dict[str, dict[str, Any]]:
    """Every model architecture (``models.yaml``), by name."""
    return _all("models")


def prices() -> dict[str, dict[str, Any]]:
    """Every price entry (``prices.yaml``), by name."""
    return _all("prices")


def reliability() -> dict[str, dict[str, Any]]:
    """Every reliability preset (``reliability.yaml``), by name."""
    return _all("reliability")


def gpu(name: str) -> dict[str, Any]:
    """One GPU entry; :class:`ScenarioError` with a suggestion for an unknown name."""
    return _one("gpus", name)


def model(name: str) -> dict[str, Any]:
    """One model architecture; :class:`ScenarioError` with a suggestion for an unknown name."""
    return _one("models", name)


def price(name: str) -> dict[str, Any]:
    """One price entry; :class:`ScenarioError` with a suggestion for an unknown name."""
    return _one("prices", name)


def reliability_preset(name: str) -> dict[str, Any]:
    """One reliability preset; :class:`ScenarioError` with a suggestion for an unknown name."""
    return _one("reliability", name)


# ---- parameter counts -------------------------------------------------------------------------

_REQUIRED_ARCH = ("layers", "hidden_size", "attention_heads", "vocab_size")


def _arch(entry: dict[str, Any]) -> dict[str, Any]:
    """The architecture fields with the defaults of an inline model, validated."""
    missing = [k for k in _REQUIRED_ARCH if entry.get(k) is None]
    if missing:
        raise ScenarioError(
            [ErrorItem("missing to count the parameters", path=f"model.{k}", expected="a positive integer")
             for k in missing]
        )
    hidden = entry["hidden_size"]
    arch = {
        "layers": entry["layers"],
        "hidden_size": hidden,
        "ffn_hidden_size": entry.get("ffn_hidden_size") or 4 * hidden,
        "attention_heads": entry["attention_heads"],
        "kv_heads": entry.get("kv_heads") or entry["attention_heads"],
        "vocab_size": entry["vocab_size"],
        "experts": entry.get("experts") or 1,
        "experts_per_token": entry.get("experts_per_token") or 1,
        "gated_mlp": bool(entry.get("gated_mlp", False)),
        "tied_embeddings": bool(entry.get("tied_embeddings", False)),
        "dropout": bool(entry.get("dropout", True)),
    }
    bad = [
        ErrorItem("must be a positive integer", path=f"model.{k}", given=repr(v), expected="a positive integer")
        for k, v in arch.items()
        if k not in ("gated_mlp", "tied_embeddings", "dropout") and (isinstance(v, bool) or not isinstance(v, int) or v <= 0)
    ]
    if bad:
        raise ScenarioError(bad)
    return arch


def _count(entry: dict[str, Any], arch: dict[str, Any]) -> tuple[float, float]:
    """(total, active) parameters by the kernel's one rule (:func:`clustersim.cost.flops.model_params`),
    without biases."""
    from clustersim.cost import flops
    from clustersim.cost.inputs import attention_inputs

    dims = attention_inputs(entry)  # the kernel's attention fields, as a scenario's model gives them
    at = flops.attention_shape(arch["hidden_size"], arch["attention_heads"], arch["kv_heads"], dims["head_dim"],
                               dims["v_head_dim"], dims["q_lora_rank"], dims["kv_lora_rank"], dims["qk_rope_head_dim"])
    moe = arch["experts"] > 1
    total, active = flops.model_params(
        arch["layers"], arch["hidden_size"], arch["ffn_hidden_size"], at, arch["vocab_size"], float(arch["gated_mlp"]),
        arch["experts"], min(arch["experts_per_token"], arch["experts"]), float(arch["tied_embeddings"]),
        (entry.get("shared_experts") or 0) if moe else 0, (entry.get("dense_layers") or 0) if moe else 0,
        entry.get("dense_ffn_hidden_size") or 0, biases=0.0)
    return float(total), float(active)


def params_from_architecture(entry: dict[str, Any]) -> float:
    """Total parameter count (not billions) of a decoder-only transformer from its architecture.

    Narayanan et al. 2021 (arXiv:2104.04473) Eq. 2, P = 12 l h^2 (1 + 13/(12h) + (V+s)/(12 l h)),
    generalised to grouped-query attention, gated MLPs, mixtures of experts and untied output heads:

    * attention per layer: Q and output projections ``2 h^2``, K and V ``2 h (kv_heads h / heads)``
      (with kv_heads = heads this is Narayanan's ``4 h^2``), at the model's own ``head_dim`` where it
      sets one (Qwen3, gpt-oss), and multi-head latent attention's five matrices where it has them;
    * MLP per layer: ``2 h f`` (up, down) or ``3 h f`` for a gated MLP (gate, up, down; Shazeer 2020,
      as in LLaMA), times the number of experts, plus an ``h x experts`` router for a mixture of
      experts (Fedus et al. 2021; Jiang et al. 2024), its shared experts, and the dense MLPs of its
      leading dense layers (DeepSeek-V3);
    * norms: two scale vectors of ``h`` per layer and a final one;
    * embedding ``V h``, and an output head of another ``V h`` unless tied (Narayanan counts it once).

    Left out: linear-layer and LayerNorm biases (Narayanan's remaining ``13h`` term; under 0.1%) and
    learned position embeddings (``s h``, for the GPT-3 and OPT models: 0.3% of GPT-3 1.3B and 1.3% of
    GPT-3 125M, the largest shares in the catalog), since the architecture fields do not say whether
    a model has them. It is the kernel's count (:func:`clustersim.cost.flops.model_params`) without
    the biases: one rule for both.
    """
    arch = _arch(entry)
    return _count(entry, arch)[0]


def active_params_from_architecture(entry: dict[str, Any]) -> float:
    """Parameters used per token: as :func:`params_from_architecture` with only ``experts_per_token``
    experts counted in each MoE layer (the N of C = 6 N D for a mixture of experts, reference.md D.1;
    Mixtral 8x7B: 12.9B of 46.7B, Jiang et al. 2024). Equal to the total for a dense model."""
    arch = _arch(entry)
    return _count(entry, arch)[1]


def default_price(gpu_name: str) -> tuple[str, dict[str, Any]] | None:
    """The price a scenario without ``pricing`` gets: the newest on-demand catalog offer for its GPU
    (the cheapest of that month's offers), or None when the catalog has no on-demand price for it."""
    offers = [(str(e.get("date") or ""), float(e["usd_per_gpu_hour"]), name) for name, e in prices().items()
              if e.get("gpu") == gpu_name and e.get("kind") == "on-demand"]
    if not offers:
        return None
    newest = max(date for date, _, _ in offers)
    _, _, name = min(o for o in offers if o[0] == newest)
    return name, price(name)


@cache
def _kernel_model(gpu_name: str) -> dict[str, Any]:
    default = _entry("kernel_model", "default")
    if default is None:  # pragma: no cover - kernel_model.yaml has its defaults
        raise ScenarioError("catalog file kernel_model.yaml has no 'default' entry")
    base = copy.deepcopy(default)
    entry = _entry("kernel_model", gpu_name) or {}
    for key, value in entry.items():
        if key == "attention":
            base["attention"] = {**base["attention"], **value}
        elif key in ("gemm_peak_fraction", "gemm_half_size", "attention_head_dim_scale"):
            base[key] = {**base[key], **value}
        elif key != "notes":
            base[key] = value
    for kernel, other in base.get("fallback", {}).items():
        base["attention"][kernel] = base["attention"][other]
    return base


def kernel_model(gpu_name: str) -> dict[str, Any]:
    """The kernel's hardware parameters for a catalog GPU (kernel_model.yaml, derived from the measured
    figures of efficiency.yaml), the documented defaults for a GPU it does not list; a fresh copy."""
    return _fresh(_kernel_model(str(gpu_name)))
