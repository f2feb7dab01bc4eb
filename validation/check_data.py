"""Self-check of the validation data: ``python validation/check_data.py`` (standard library only).

Checks ``published_runs.csv``, ``mfu_ranges.csv`` and ``repeatability.csv`` beside this file against the
rules in README.md: the columns and their order, unique ids, GPU names from the GPU catalog, the enumerations, numeric
fields, a source and source_detail on every row, the layout products (tp*pp*dp*cp == gpus; expert
parallelism dividing tp*dp*cp; the global batch a whole number of micro-batches per data-parallel
rank), ``tokens`` on whole-run rows and MFU values as fractions. Prints every problem with its CSV line,
then the counts table, and exits 1 if there was a problem.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent

COLUMNS = (
    "id desc source source_detail model_name layers hidden_size attention_heads kv_heads head_dim attention_head_dim v_head_dim kv_lora_rank "
    "q_lora_rank qk_nope_head_dim qk_rope_head_dim sliding_window sliding_window_layers ffn_hidden_size "
    "gated_mlp vocab_size experts experts_per_token moe_ffn_hidden_size shared_experts dense_layers expert_groups "
    "expert_groups_per_token tied_embeddings dropout seq_len gpu gpus gpus_per_node nic_gbit_per_s nics_per_node network_topology "
    "oversubscription nodes_per_leaf precision fp8_recipe framework attention moe_dispatcher torch_compile tp pp dp cp ep etp vpp "
    "zero grad_reduce_in_fp32 master_weights_dtype optimizer_moments_dtype micro_batch_seqs global_batch_seqs recompute recompute_layers recompute_modules activation_offload_layers "
    "sequence_parallel tp_comm_overlap ep_comm_overlap placement pipeline_split tokens metric value notes published_memory_gib"
).split()

REPEAT_COLUMNS = ("system model architecture gpus layout figure release_a tokens_per_s_per_gpu_a release_b "
                  "tokens_per_s_per_gpu_b validation_id source notes").split()

RANGE_COLUMNS = ("gpu precision params_b_min params_b_max mfu_min mfu_max best_published_mfu source "
                 "arch notes").split()

#: The GPU names of clustersim/scenario/catalog/gpus.yaml.
GPUS = {"v100-sxm-32gb", "a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm-80gb", "h100-sxm-96gb-500w", "h800-sxm-80gb", "h200-sxm-141gb",
        "b200-sxm-192gb", "gb200-nvl72", "mi300x-192gb"}

#: Megatron-core's selective recomputation modules a row may name (training.recompute_modules; "-" = none)
RECOMPUTE_MODULES = {"core_attn", "mla_up_proj", "layernorm", "mlp", "moe_act", "-"}
#: Allowed values; "" (blank) means not stated and is allowed wherever the set includes it.
ENUMS: dict[str, set[str]] = {
    "precision": {"bf16", "fp16", "fp8", ""},
    "fp8_recipe": {"delayed", "current", "blockwise", "mxfp8", ""},
    "framework": {"megatron", "nemo", "torchtitan", "deepspeed", "fsdp", "other"},
    "attention": {"unfused", "flash1", "flash2", "flash3", "cudnn", ""},
    "moe_dispatcher": {"alltoall", "deepep", ""},
    "torch_compile": {"true", "false", ""},
    "recompute": {"none", "selective", "full", ""},
    "zero": {"0", "1", "2", "3", ""},
    "metric": {"model_tflops_per_gpu", "hardware_tflops_per_gpu", "mfu", "step_time_s",
               "tokens_per_s_per_gpu", "gpu_hours"},
    "network_topology": {"fat-tree", "3-tier-clos", "rail-optimized", "hypercube", "nvl72", ""},
    "gated_mlp": {"true", "false", ""},
    "tied_embeddings": {"true", "false", ""},
    "dropout": {"true", "false", ""},
    "grad_reduce_in_fp32": {"true", "false", ""},
    "master_weights_dtype": {"fp32", "bf16", "fp16", ""},
    "optimizer_moments_dtype": {"fp32", "bf16", "fp16", "fp8", ""},
    "sequence_parallel": {"true", "false", ""},
    "tp_comm_overlap": {"true", "false", ""},
    "ep_comm_overlap": {"true", "false", ""},
    "pipeline_split": {"layers", "embedding", "loss", "embedding_and_loss", ""},
}
PLACEMENT_DIMS = {"tp", "cp", "ep", "dp", "pp"}

INT_FIELDS = ("layers hidden_size attention_heads kv_heads head_dim attention_head_dim v_head_dim kv_lora_rank "
              "q_lora_rank qk_nope_head_dim qk_rope_head_dim sliding_window sliding_window_layers ffn_hidden_size vocab_size experts experts_per_token "
              "moe_ffn_hidden_size shared_experts dense_layers expert_groups expert_groups_per_token seq_len gpus gpus_per_node nics_per_node "
              "nodes_per_leaf tp pp dp cp ep etp vpp recompute_layers activation_offload_layers micro_batch_seqs global_batch_seqs").split()
FLOAT_FIELDS = ["nic_gbit_per_s", "oversubscription", "tokens", "value", "published_memory_gib"]
REQUIRED = ("id", "desc", "source", "source_detail", "model_name", "seq_len", "gpu", "framework", "metric", "value")


def _num(text: str, integer: bool) -> float | int | None:
    """The number in ``text`` (None when blank); raises ValueError when it is not one."""
    text = text.strip()
    if not text:
        return None
    value = float(text)
    if integer:
        if value != int(value):
            raise ValueError(text)
        return int(value)
    return value


def _check_run(line: int, row: dict[str, str], problems: list[str]) -> None:
    def bad(msg: str) -> None:
        problems.append(f"published_runs.csv line {line} ({row.get('id', '?')}): {msg}")

    for name in REQUIRED:
        if not row[name].strip():
            bad(f"{name} is required")
    if row["gpu"] not in GPUS:
        bad(f"gpu {row['gpu']!r} is not a catalog name ({', '.join(sorted(GPUS))})")
    for name, allowed in ENUMS.items():
        if row[name] not in allowed:
            bad(f"{name} {row[name]!r} not in {sorted(allowed)}")
    modules = row["recompute_modules"].split()
    if any(m not in RECOMPUTE_MODULES for m in modules) or len(set(modules)) != len(modules):
        bad(f"recompute_modules {row['recompute_modules']!r}: space-separated, each once, of {sorted(RECOMPUTE_MODULES)}")
    if modules and row["recompute"] not in ("selective", ""):
        bad("recompute_modules needs recompute selective")
    nums: dict[str, float | int | None] = {}
    for name in INT_FIELDS + FLOAT_FIELDS:
        try:
            nums[name] = _num(row[name], name in INT_FIELDS)
        except ValueError:
            bad(f"{name} {row[name]!r} is not {'an integer' if name in INT_FIELDS else 'a number'}")
            nums[name] = None
    for name, value in nums.items():
        if value is not None and value <= 0:
            bad(f"{name} must be positive, got {value}")
    if row["fp8_recipe"] and row["precision"] != "fp8":
        bad("fp8_recipe given but precision is not fp8")
    if row["placement"]:
        dims = row["placement"].split("-")
        if not set(dims) <= PLACEMENT_DIMS or len(dims) != len(set(dims)):
            bad(f"placement {row['placement']!r}: dims from {sorted(PLACEMENT_DIMS)}, each once, '-'-joined")
    layout = [nums[k] for k in ("tp", "pp", "dp", "cp")]
    if nums["gpus"] is not None and all(v is not None for v in layout):
        product = layout[0] * layout[1] * layout[2] * layout[3]  # type: ignore[operator]
        if product != nums["gpus"]:
            bad(f"tp*pp*dp*cp = {product} but gpus = {nums['gpus']}")
    if nums["ep"] is not None and all(nums[k] is not None for k in ("tp", "dp", "cp")):
        span = nums["tp"] * nums["dp"] * nums["cp"]  # type: ignore[operator]
        etp = nums["etp"] if nums["etp"] is not None else nums["tp"]
        if span % (nums["ep"] * etp):  # type: ignore[operator]
            bad(f"ep x etp = {nums['ep']} x {etp} does not divide tp*dp*cp = {span} (MoE parallel folding)")
    if all(nums[k] is not None for k in ("micro_batch_seqs", "dp", "global_batch_seqs")):
        per_step = nums["micro_batch_seqs"] * nums["dp"]  # type: ignore[operator]
        if nums["global_batch_seqs"] % per_step:  # type: ignore[operator]
            bad(f"global_batch_seqs {nums['global_batch_seqs']} is not a multiple of micro_batch_seqs*dp = {per_step}")
    if row["metric"] == "gpu_hours" and nums["tokens"] is None:
        bad("a gpu_hours (whole-run) row needs tokens")
    if row["metric"] == "mfu" and nums["value"] is not None and not 0 < nums["value"] <= 1:
        bad(f"mfu is a fraction in (0, 1], got {nums['value']}")
    moe = [row[k].strip() for k in ("experts", "experts_per_token", "moe_ffn_hidden_size")]
    if any(moe) and not all(moe):
        bad("experts, experts_per_token and moe_ffn_hidden_size go together")


def _check_range(line: int, row: dict[str, str], problems: list[str]) -> None:
    def bad(msg: str) -> None:
        problems.append(f"mfu_ranges.csv line {line}: {msg}")

    if row["gpu"] not in GPUS:
        bad(f"gpu {row['gpu']!r} is not a catalog name")
    if row["precision"] not in {"bf16", "fp8"}:
        bad(f"precision {row['precision']!r} not in bf16|fp8")
    if row["arch"] not in {"dense", "moe"}:
        bad(f"arch {row['arch']!r} not in dense|moe")
    if not row["source"].strip():
        bad("source is required")
    try:
        lo_b, hi_b, lo, hi, best = (float(row[k]) for k in
                                    ("params_b_min", "params_b_max", "mfu_min", "mfu_max", "best_published_mfu"))
    except ValueError:
        bad("params_b_min, params_b_max, mfu_min, mfu_max and best_published_mfu must be numbers")
        return
    if not 0 < lo_b < hi_b:
        bad(f"need 0 < params_b_min < params_b_max, got {lo_b}, {hi_b}")
    if not 0 < lo <= hi <= 1 or not lo <= best <= hi:
        bad(f"need 0 < mfu_min <= best_published_mfu <= mfu_max <= 1, got {lo}, {best}, {hi}")


def _check_repeat(line: int, row: dict[str, str], problems: list[str], values: dict[str, str]) -> None:
    """One pair of repeatability.csv; ``values``: each published_runs.csv row's ``value`` by id, for the
    pair's ``validation_id`` (that row must hold one of the pair's two figures)."""
    def bad(msg: str) -> None:
        problems.append(f"repeatability.csv line {line}: {msg}")

    for name in ("system", "model", "layout", "figure", "release_a", "release_b", "source"):
        if not row[name].strip():
            bad(f"{name} is required")
    if row["architecture"] not in {"dense", "moe"}:
        bad(f"architecture {row['architecture']!r} not in dense|moe")
    if row["release_a"] == row["release_b"]:
        bad("the two releases must differ")
    figures = []
    for name in ("gpus", "tokens_per_s_per_gpu_a", "tokens_per_s_per_gpu_b"):
        try:
            value = _num(row[name], name == "gpus")
        except ValueError:
            value = None
        if value is None or value <= 0:
            bad(f"{name} must be a positive number, got {row[name]!r}")
        elif name != "gpus":
            figures.append(float(value))
    vid = row["validation_id"]
    if vid:
        try:
            published = _num(values.get(vid, ""), False)
        except ValueError:
            published = None
        if published is None or float(published) not in figures:
            bad(f"validation_id {vid!r} is not a published_runs.csv row whose value is one of the pair's two "
                "figures")


def _read(path: Path, columns: list[str], problems: list[str]) -> list[tuple[int, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != columns:
            problems.append(f"{path.name}: columns must be, in order: {','.join(columns)}; got "
                            f"{','.join(reader.fieldnames or [])}")
            return []
        rows = []
        for raw in reader:
            if None in raw or any(v is None for v in raw.values()):
                problems.append(f"{path.name} line {reader.line_num}: wrong number of fields")
                continue
            rows.append((reader.line_num, raw))
        return rows


def _context_band(seq: str) -> str:
    s = int(float(seq)) if seq.strip() else 0
    for limit, name in ((2048, "<=2k"), (4096, "4k"), (8192, "8k"), (32768, "16-32k"), (65536, "64k")):
        if s <= limit:
            return name
    return "128k+"


def _style(row: dict[str, str]) -> str:
    if row["zero"] == "3":
        return "fsdp/zero-3"
    if not any(row[k] for k in ("tp", "pp", "dp")):
        return "layout not stated"
    return "3d (megatron/deepspeed)"


def counts(rows: list[dict[str, str]]) -> str:
    """The counts table of README.md: rows by GPU, precision, parallelism style, dense/MoE and context band."""
    groups = {
        "gpu": Counter(r["gpu"] for r in rows),
        "precision": Counter(r["precision"] or "(not stated)" for r in rows),
        "style": Counter(_style(r) for r in rows),
        "arch": Counter("moe" if r["experts"].strip() else "dense" for r in rows),
        "context": Counter(_context_band(r["seq_len"]) for r in rows),
        "metric": Counter(r["metric"] for r in rows),
    }
    lines = [f"{len(rows)} rows", "| group | value | rows |", "|---|---|---|"]
    for group, counter in groups.items():
        for value, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"| {group} | {value} | {n} |")
    return "\n".join(lines)


def main(directory: Path = HERE) -> int:
    problems: list[str] = []
    runs = _read(directory / "published_runs.csv", COLUMNS, problems)
    seen: dict[str, int] = {}
    for line, row in runs:
        if row["id"] in seen:
            problems.append(f"published_runs.csv line {line}: id {row['id']!r} repeats line {seen[row['id']]}")
        seen.setdefault(row["id"], line)
        _check_run(line, row, problems)
    for line, row in _read(directory / "mfu_ranges.csv", RANGE_COLUMNS, problems):
        _check_range(line, row, problems)
    values = {row["id"]: row["value"] for _, row in runs}
    for line, row in _read(directory / "repeatability.csv", REPEAT_COLUMNS, problems):
        _check_repeat(line, row, problems, values)
    for problem in problems:
        print(problem)
    print(counts([row for _, row in runs]))
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
