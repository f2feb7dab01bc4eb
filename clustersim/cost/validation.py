"""Published training runs as kernel inputs: the mapping behind tests/test_validation_published.py.

Rows come from ``shared/validation/published_runs.csv`` (beside the repository; a copy lives in
``tests/data/published_runs.csv`` for when it is absent). Each row names a model, a cluster, a parallel
layout, one metric (``hardware_tflops_per_gpu``, ``mfu`` or ``step_time_s``) and its published value.
:func:`predict_row` runs the row through :func:`clustersim.cost.kernel.evaluate_one` and returns the
predicted value of that metric. There are no per-row or per-model correction factors: the inputs are
the row's own fields, the documented defaults below for blank fields, the GPU's datasheet figures and
the fabric the source describes.

Blank fields (documented defaults):

* micro_batch_seqs 1, cp 1, vpp 1, kv_heads = attention_heads, ffn_hidden_size = 4 x hidden_size,
  gated_mlp false, experts 1.
* zero 0: Megatron-LM's default (``--use-distributed-optimizer`` is off unless asked for); the 2021-2022
  papers predate or do not use it.
* recompute none (MegaScale's Megatron-LM baseline lists none), sequence_parallel false (Megatron-LM's
  default).
* flash_attention: the framework's default at the time. Narayanan 2021 and Korthikanti 2022 predate
  FlashAttention (Dao et al., May 2022) and use Megatron-LM's fused-softmax attention over the
  materialised s x s scores; MegaScale's Megatron-LM baseline is stock Megatron-LM (``--use-flash-attn``
  off by default; MegaScale lists FlashAttention-2 among its own changes, Sec. 3.3). Llama 3 runs fused
  attention.
* precision bf16 (all these runs), mode pretrain.

Fabric: DGX A100 nodes, 8 GPUs on NVSwitch at NVLink3 300 GB/s per direction, 8 x 200 Gb/s HDR NICs
(25 GB/s per GPU), full-bisection fat tree (spine = leaf bandwidth); DGX H100: NVLink4 450 GB/s,
8 x 400 Gb/s (50 GB/s per GPU). Llama 3: 3,072-GPU pods with full bisection and 1:7 oversubscription
above (reference.md C.2). Latencies per collective step: 2 us inside the NVLink domain, 5 us across the
fabric (typical NCCL small-message latencies; they matter little at these message sizes).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from clustersim import units
from clustersim.cost.kernel import evaluate_one

__all__ = ["GPUS", "ROW_TOLERANCE", "MAPE_TARGET", "csv_path", "published_rows", "row_inputs", "predict_row",
           "validation_table"]

#: Per-row tolerance (relative) and the mean absolute percentage error target of the issue.
ROW_TOLERANCE = 0.10
MAPE_TARGET = 0.04

#: The GPUs of the published rows: dense 16-bit peak, HBM size and bandwidth, NVLink per direction.
GPUS: dict[str, dict[str, float]] = {
    # reference.md C.1: A100 SXM 312 TFLOP/s dense BF16, 80 GB; 2,039 GB/s (A100 80GB datasheet);
    # NVLink3 300 GB/s per direction
    "a100-sxm-80gb": {"peak_flop_per_s": 312e12, "hbm_bytes": 80 * units.GIB, "hbm_bw_bytes_per_s": 2039e9,
                      "scaleup_bw_bytes_per_s": 300e9},
    # reference.md C.1: H100 SXM 989 TFLOP/s dense BF16, 80 GB HBM3 at 3.35 TB/s, NVLink4 450 GB/s
    "h100-sxm-80gb": {"peak_flop_per_s": 989e12, "hbm_bytes": 80 * units.GIB, "hbm_bw_bytes_per_s": 3350e9,
                      "scaleup_bw_bytes_per_s": 450e9},
}

_NVLINK_LATENCY_S = 2e-6
_FABRIC_LATENCY_S = 5e-6
_FULL_BISECTION_LEAF_GPUS = 256
#: Llama 3 (arXiv:2407.21783 Sec. 3.3.1; reference.md C.2): 3,072-GPU pods, 1:7 oversubscribed above.
_LLAMA3_POD_GPUS = 3072
_LLAMA3_OVERSUBSCRIPTION = 7.0

_INT_FIELDS = ("layers", "hidden_size", "attention_heads", "kv_heads", "ffn_hidden_size", "vocab_size", "seq_len",
               "gpus", "gpus_per_node", "nics_per_node", "tp", "pp", "dp", "cp", "vpp", "zero", "micro_batch_seqs",
               "global_batch_seqs")


def csv_path(repo_root: str | Path | None = None) -> Path | None:
    """``<repo>/../shared/validation/published_runs.csv`` if present, else the copy in tests/data."""
    root = Path(repo_root) if repo_root is not None else Path(__file__).resolve().parents[2]
    for candidate in (root.parent / "shared" / "validation" / "published_runs.csv",
                      root / "tests" / "data" / "published_runs.csv"):
        if candidate.is_file():
            return candidate
    return None


def _flash_default(row_id: str) -> bool:
    return not row_id.startswith(("megatron-", "korthikanti-", "megascale-"))


def _parse(raw: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = dict(raw)
    for name in _INT_FIELDS:
        text = (raw.get(name) or "").strip()
        row[name] = int(float(text)) if text else None
    for name in ("nic_gbit_per_s", "value", "tokens"):
        text = (raw.get(name) or "").strip()
        row[name] = float(text) if text else None
    h = row["hidden_size"]
    defaults = {"kv_heads": row["attention_heads"], "ffn_hidden_size": 4 * h, "cp": 1, "vpp": 1, "zero": 0,
                "micro_batch_seqs": 1}
    for name, value in defaults.items():
        if row[name] is None:
            row[name] = value
    row["gated_mlp"] = (raw.get("gated_mlp") or "").strip().lower() == "true"
    row["sequence_parallel"] = (raw.get("sequence_parallel") or "").strip().lower() == "true"
    row["recompute"] = (raw.get("recompute") or "").strip() or "none"
    row["flash_attention"] = _flash_default(row["id"])
    row["tokens"] = row["tokens"] or 0.0
    return row


def published_rows(path: str | Path | None = None) -> list[dict[str, Any]]:
    """Every published row, parsed, with the blank fields filled by the documented defaults."""
    source = Path(path) if path is not None else csv_path()
    if source is None:
        raise FileNotFoundError("published_runs.csv not found in ../shared/validation or tests/data")
    with open(source, newline="", encoding="utf-8") as fh:
        return [_parse(raw) for raw in csv.DictReader(fh)]


def _fabric(row: dict[str, Any]) -> dict[str, float]:
    gpu = GPUS[row["gpu"]]
    nic_bw = units.gbit_per_s_to_bytes_per_s(row["nic_gbit_per_s"]) * row["nics_per_node"] / row["gpus_per_node"]
    leaf_gpus = float(_FULL_BISECTION_LEAF_GPUS)
    spine_bw = nic_bw
    if row["id"].startswith("llama3-"):
        leaf_gpus = float(_LLAMA3_POD_GPUS)
        spine_bw = nic_bw / _LLAMA3_OVERSUBSCRIPTION
    return {"scaleup_gpus": float(row["gpus_per_node"]), "scaleup_bw_bytes_per_s": gpu["scaleup_bw_bytes_per_s"],
            "scaleup_latency_s": _NVLINK_LATENCY_S, "leaf_gpus": leaf_gpus, "leaf_bw_bytes_per_s": nic_bw,
            "spine_bw_bytes_per_s": spine_bw, "scaleout_latency_s": _FABRIC_LATENCY_S}


def row_inputs(row: dict[str, Any]) -> dict[str, Any]:
    """The kernel's keyword arguments for one parsed row."""
    gpu = GPUS[row["gpu"]]
    inputs: dict[str, Any] = {
        "layers": row["layers"], "hidden_size": row["hidden_size"], "ffn_hidden_size": row["ffn_hidden_size"],
        "attention_heads": row["attention_heads"], "kv_heads": row["kv_heads"], "vocab_size": row["vocab_size"],
        "gated_mlp": row["gated_mlp"], "experts": 1, "experts_per_token": 1, "tied_embeddings": False,
        "seq_len": row["seq_len"], "global_batch_seqs": row["global_batch_seqs"],
        "micro_batch_seqs": row["micro_batch_seqs"], "tokens": row["tokens"],
        "tp": row["tp"], "pp": row["pp"], "dp": row["dp"], "cp": row["cp"], "ep": 1, "vpp": row["vpp"],
        "zero": row["zero"], "recompute": row["recompute"], "sequence_parallel": row["sequence_parallel"],
        "precision": "bf16", "mode": "pretrain", "flash_attention": row["flash_attention"],
        "peak_flop_per_s": gpu["peak_flop_per_s"], "hbm_bytes": gpu["hbm_bytes"],
        "hbm_bw_bytes_per_s": gpu["hbm_bw_bytes_per_s"], "gpus_per_node": row["gpus_per_node"],
    }
    inputs.update(_fabric(row))
    return inputs


def predict_row(row: dict[str, Any]) -> float:
    """The kernel's prediction of the row's metric (``hardware_tflops_per_gpu``, ``mfu``, ``step_time_s``)."""
    out = evaluate_one(**row_inputs(row))
    if not out["valid"]:
        raise ValueError(f"{row['id']}: the kernel finds this layout invalid")
    return out[row["metric"]]


def validation_table(rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Predicted vs published for every row: id, metric, published, predicted, relative error."""
    table = []
    for row in rows if rows is not None else published_rows():
        pred = predict_row(row)
        table.append({"id": row["id"], "metric": row["metric"], "published": row["value"], "predicted": pred,
                      "error": (pred - row["value"]) / row["value"], "source": row["source"]})
    return table
