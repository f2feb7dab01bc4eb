"""Seeded generator of hostile and absurd scenario files, for tests/test_fuzz_scenarios.py (a sample in
CI) and benchmarks/fuzz_scenarios.py (the full run of 10,000 files through the real command).

File ``i`` of seed ``s`` is drawn from its own keyed stream (:func:`clustersim.rng.stream`), so a file can
be regenerated alone from ``(s, i)`` whatever the count. Each file starts from one of the repository's
scenarios (or the tests' minimal one) and gets one to three mutations of one class:

* ``value``: a leaf replaced by a wrong type, an extreme number (0, -1, 1e-300, 5e-324, 1e300, 1e16, a
  400-digit integer, NaN, infinity), a hostile string (rich markup, terminal escapes, 100,000 characters);
* ``edge``: a number set to the edge of (or just past) its documented range, parallelism switched to
  ``auto``, stragglers, Weibull sources, tiny intervals: files that often stay valid and stress estimate
  and simulate;
* ``structure``: keys deleted, renamed with a typo, duplicated, unknown keys added, a section replaced
  by a scalar or list;
* ``huge``: the cluster scaled to 32,768 .. 10^6 nodes (and just past the cap), with the data-parallel
  degree and the batch made to fit, sometimes ``parallelism: auto``, reliable nodes, spine and leaf
  failures, an elastic job: files that often stay valid and must be answered in bounded time and memory
  without a cluster graph;
* ``yaml``: text-level attacks: explicit tags (``!!bool maybe``, ``!!int``, ``!!float``, ``!!timestamp``,
  ``!!python/object``, ``!!binary``, local tags), self-referencing and undefined aliases, alias bombs,
  merge keys, deep flow and block nesting, several documents, truncation, tabs, invalid UTF-8, a BOM,
  NUL bytes, a file over the size limit.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from clustersim.rng import stream

REPO = Path(__file__).resolve().parents[1]
BASES = sorted((REPO / "scenarios").glob("*.yaml"))
MINIMAL = {"model": "llama3-8b", "training": {"tokens": 1.0e9},
           "cluster": {"gpu": "h100-sxm-80gb", "nodes": 2}}
CLASSES = ("value", "edge", "structure", "yaml", "huge")
#: Half the files get ``edge`` or ``huge`` mutations, which often stay valid, so that enough files reach
#: estimate and simulate; the other half are refused at validation.
_WEIGHTS = (0.15, 0.45, 0.15, 0.2, 0.05)

_NUMBERS: list[Any] = [0, -1, -0.0, 1e-300, 5e-324, 1e-9, 0.5, 1, 2, 3, 7, 1e6, 1e16, 1e300, 2**63, 10**400,
                       float("nan"), float("inf"), float("-inf")]
_STRINGS = ["", "oops [/] x", "run [v2]", "[bold red]x[/]", "\x1b[31mred\x1b]0;title\x07", "\u202eevil",
            "a" * 100_000, "chinchilla", "auto", "yes", "null", "1e9", "../../etc/passwd", "/dev/zero", "日本語"]
_WRONG: list[Any] = [[], [1, 2], {}, {"a": 1}, True, False, None]
#: (dotted key, values): each a value at or just past a documented range edge, or a stressful valid one.
_EDGES: list[tuple[str, list[Any]]] = [
    ("training.tokens", [1.0, 1e16, 1.0001e16, 1e15, "chinchilla", 0.5]),
    ("cluster.nodes", [1, 3, 125, 1024, 32768, 32769, 1e6, 1000001]),
    ("training.parallelism", ["auto"]),
    ("training.seq_len", [1, 131072, 16777216, 16777217]),
    ("training.global_batch_seqs", [1, 3, 1_000_000]),
    ("checkpoint.interval_minutes", [1.0, 0.99, 525600, 525601, "auto"]),
    ("checkpoint.write_gbyte_per_s", [1e-3, 1e6]),
    ("failures", [{"node_mtbf_hours": v} for v in (1 / 3600, 0.01, 1.0, 1e8, 1.1e8)]),
    ("failures", [{"sources": [{"component": c, "per": p, "mtbf_hours": m, "distribution": "weibull", "shape": k}]}
                  for c, p, m, k in (("gpu [x]", "gpu", 1.0, 0.1), ("sw", "job", 0.001, 20.0),
                                     ("n", "node", 1e8, 0.09))]),
    ("failures.stragglers", [{"fraction": 1, "slowdown": 100}, {"fraction": 1, "slowdown": 1e300},
                             {"fraction": 0.0, "slowdown": 1.0}]),
    ("failures.spare_nodes", [0, 1000, 32768]),
    ("failures.repair_hours", [0, 87600]),
    ("failures.restart_minutes", [0, 10080]),
    ("failures.maintenance", [{"period_hours": 0.1, "duration_minutes": 10080}]),
    ("simulation.horizon_factor", [1.0, 1000.0]),
    ("simulation.seed", [0, 2**64 - 1, 2**64]),
    ("cluster.network.oversubscription", [1.0, 1000.0]),
    ("cluster.network.nics_per_node", [1, 3, 1024]),
    ("model.layers", [1, 10000]),
    ("pricing.usd_per_gpu_hour", [0, 10000]),
    ("name", ["oops [/] x", "run [v2] \x1b[31m", "\u202e"]),
    ("model", [{"preset": "mixtral-8x7b", "expert_groups": g, "expert_groups_per_token": k}
               for g, k in ((1, 1), (8, 4), (3, 1), (2, 4), (65536, 1))]),
    ("software.moe_dispatcher", ["deepep", "alltoall", "nccl"]),
    ("training.activation_offload_layers", [0, 1, 31, 32, 100000]),
    ("training.recompute_layers", [None, 0, 1, 16, 17, 100000, -1]),
    ("model", [{"preset": "llama3-8b", "attention_head_dim": d} for d in (64, 192, 0, -1, "wide")]),
    ("model", [{"preset": "llama3-8b", "kv_heads": 32, "kv_lora_rank": r, "q_lora_rank": q, "qk_nope_head_dim": 128,
                "qk_rope_head_dim": d, "v_head_dim": v} for r, q, d, v in ((512, 1536, 64, 128), (512, None, 64, None),
                                                                            (0, 1, 1, 1), (512, 1536, None, 128),
                                                                            (64, 10**9, 64, 128), ("wide", 1, 1, 1))]),
    ("model", [{"preset": "mixtral-8x7b", "shared_experts": n, "dense_layers": d, "dense_ffn_hidden_size": w}
               for n, d, w in ((1, 3, 18432), (0, 1, None), (2, 31, 4096), (-1, 0, 1), (1, 32, 14336), ("one", 1, 1))]),
    ("model", ["deepseek-v3", "kimi-k2"]),
    ("model", [{"preset": "llama3-8b", "sliding_window": w, "sliding_window_layers": n}
               for w, n in ((128, 16), (4096, None), (8192, 32), (128, 33), (None, 4), (0, 1), ("wide", 1), (64, -1))]),
    ("training.recompute_modules", [[], ["core_attn"], ["layernorm", "mlp"], ["moe_act", "moe_act"], ["mla_up_proj"],
                                    "core_attn", [1], None]),
    ("training.grad_reduce_in_fp32", [False, True, "no"]),
    ("training.master_weights_dtype", ["fp32", "bf16", "fp16", "fp8", 4]),
    ("training.optimizer_moments_dtype", ["fp32", "bf16", "fp8", "int4", None]),
    ("software.torch_compile", [True, False, "maybe", 1]),
]


@dataclass(frozen=True)
class FuzzFile:
    """One generated file: its index, mutation class, what was done, and the bytes."""

    index: int
    kind: str
    mutations: tuple[str, ...]
    content: bytes

    @property
    def name(self) -> str:
        return f"fuzz-{self.index:05d}-{self.kind}.yaml"


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*path, i))
    else:
        yield path


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path of the mappings (for deleting and renaming)."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*path, k)
            yield from _paths(v, (*path, k))


def _get_parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node: Any = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = {"preset": child} if isinstance(child, str) and part in ("model", "gpu") else {}
            node[part] = child
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def _pick(rng: np.random.Generator, items: list[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _value(rng: np.random.Generator, data: dict[str, Any]) -> str:
    leaves = list(_leaves(data))
    path = _pick(rng, leaves)
    pool = _pick(rng, [_NUMBERS, _STRINGS, _WRONG])
    value = _pick(rng, pool)
    _get_parent(data, path)[path[-1]] = copy.deepcopy(value)
    return f"value {'.'.join(map(str, path))}={str(value)[:30]!r}"


def _edge(rng: np.random.Generator, data: dict[str, Any]) -> str:
    key, values = _pick(rng, _EDGES)
    value = _pick(rng, values)
    _set_dotted(data, key, value)
    return f"edge {key}={str(value)[:40]!r}"


_HUGE_NODES = [32_768, 100_000, 262_144, 500_000, 1_000_000, 1_000_001]
_HUGE_FAILURES: list[Any] = [
    {"node_mtbf_hours": 1e8, "restart_minutes": 10},
    {"sources": [{"component": "node", "per": "node", "mtbf_hours": 1e8},
                 {"component": "leaf switch", "per": "switch", "mtbf_hours": 1e7},
                 {"component": "spine switch", "per": "switch", "mtbf_hours": 1e4}], "elastic": True},
    {"node_mtbf_hours": 1e8, "elastic": True, "spare_nodes": 1000},
    None,  # the base's own failures (a preset at 10^6 nodes: the job cannot finish)
]


def _huge(rng: np.random.Generator, data: dict[str, Any]) -> str:
    """The cluster scaled up, with a data-parallel degree and batch that fit it (see the module docstring)."""
    nodes = _pick(rng, _HUGE_NODES)
    cluster = data.setdefault("cluster", {})
    cluster["nodes"] = nodes
    gpus = nodes * int(cluster.get("gpus_per_node") or 8)
    training = data.setdefault("training", {})
    par = training.get("parallelism")
    auto = not isinstance(par, dict) or rng.random() < 0.4
    if auto:
        training["parallelism"] = "auto"
        training["global_batch_seqs"] = int(_pick(rng, [2048, 65_536, 1_048_576]))
    else:
        par.pop("dp", None)
        replica = int(par.get("tp", 1)) * int(par.get("pp", 1)) * int(par.get("cp", 1))
        micro = int(training.get("micro_batch_seqs") or 1)
        training["global_batch_seqs"] = max(1, gpus // replica) * micro * int(par.get("pp", 1))
    training.pop("global_batch_tokens", None)
    failures = _pick(rng, _HUGE_FAILURES)
    if failures is not None:
        data["failures"] = copy.deepcopy(failures)
    if rng.random() < 0.3:
        cluster.setdefault("network", {})["nodes_per_leaf"] = int(_pick(rng, [16, 384, 4096, 500_000]))
    return f"huge nodes={nodes} {'auto' if auto else 'dp to fit'} failures={'base' if failures is None else 'set'}"


def _structure(rng: np.random.Generator, data: dict[str, Any]) -> str:
    paths = list(_paths(data))
    path = _pick(rng, paths)
    parent = _get_parent(data, path)
    op = int(rng.integers(4))
    if op == 0:
        del parent[path[-1]]
        return f"delete {'.'.join(map(str, path))}"
    if op == 1:
        key = str(path[-1])
        typo = key[:-1] if len(key) > 1 else key + "x"
        parent[typo] = parent.pop(path[-1])
        return f"rename {key}->{typo}"
    if op == 2:
        parent[_pick(rng, ["extra", "nodez", "tokenz", "\x1b[2J", "[x]", 12, True])] = 1
        return "unknown key"
    parent[path[-1]] = _pick(rng, ["x", [1, 2], 7, None])
    return f"section {'.'.join(map(str, path))} replaced"


_TAGS = ["!!bool maybe", "!!int abc", "!!float lots", "!!timestamp 2001-13-45", "!!timestamp yesterday",
         "!!int 0x", "!!null x", "!!str 1", "!!python/object:os.system ls", "!!python/object/apply:os.system [ls]",
         "!!binary aGVsbG8=", "!custom 1", "!!set {a, b}", "!!omap [a: 1]", "!<tag:yaml.org,2002:int> 12",
         "!!map [1]", "!!seq {a: 1}", "!!float 1e400", "!!int " + "9" * 5000]


def _bomb(depth: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n"


def _yaml(rng: np.random.Generator, text: str) -> tuple[str | bytes, str]:
    lines = text.splitlines()
    value_lines = [i for i, line in enumerate(lines) if ": " in line and not line.rstrip().endswith(":")]
    op = int(rng.integers(14))
    if op <= 2 and value_lines:
        i = _pick(rng, value_lines)
        head = lines[i].split(": ", 1)[0]
        tag = _pick(rng, _TAGS)
        lines[i] = f"{head}: {tag}"
        return "\n".join(lines) + "\n", f"tag {tag[:30]}"
    if op == 3:
        return text + "loop: &l [*l]\n", "self alias"
    if op == 4:
        return text + "loop: &m {a: [1, *m]}\n", "self alias in mapping"
    if op == 5:
        return _bomb(int(rng.integers(3, 10))) + text, "alias bomb"
    if op == 6:
        n = int(rng.integers(30, 100_000))
        return text + "deep: " + "[" * n + "]" * n + "\n", f"flow nesting {n}"
    if op == 7:
        n = int(rng.integers(30, 3000))
        return text + "deep:\n" + "".join("  " * (k + 1) + "-\n" for k in range(n)), f"block nesting {n}"
    if op == 8:
        cut = int(rng.integers(1, max(2, len(text))))
        return text[:cut], f"truncated at {cut}"
    if op == 9:
        raw = bytearray(text.encode())
        for _ in range(int(rng.integers(1, 8))):
            raw[int(rng.integers(len(raw)))] = int(rng.integers(256))
        return bytes(raw), "byte flips"
    if op == 10:
        return text + "---\n" + text, "two documents"
    if op == 11:
        return "\ufeff" + text.replace("  ", "\t", 1), "bom and a tab"
    if op == 12 and value_lines:
        i = _pick(rng, value_lines)
        return "\n".join(lines[: i + 1] + [lines[i]] + lines[i + 1:]) + "\n", "duplicate key"
    return text + "x: " + "y" * (1 << 20) + "\n", "over 1 MiB"


def _base(rng: np.random.Generator) -> dict[str, Any]:
    options = [*BASES, None]
    choice = _pick(rng, options)
    if choice is None:
        return copy.deepcopy(MINIMAL)
    data = yaml.safe_load(choice.read_text())
    failures = data.get("failures") if isinstance(data, dict) else None
    if isinstance(failures, dict) and isinstance(failures.get("trace"), str):
        failures["trace"] = str(choice.parent / failures["trace"])
    return data


def _dump(data: Any) -> str:
    return yaml.dump(data, sort_keys=False, allow_unicode=True, width=10_000)


def generate(seed: int, index: int) -> FuzzFile:
    """File ``index`` of ``seed`` (deterministic)."""
    rng = stream(seed, index, "fuzz-scenarios")
    kind = CLASSES[int(rng.choice(len(CLASSES), p=_WEIGHTS))]
    data = _base(rng)
    done: list[str] = []
    if kind == "yaml":
        content, what = _yaml(rng, _dump(data))
        done.append(what)
    else:
        mutate = {"value": _value, "edge": _edge, "structure": _structure, "huge": _huge}[kind]
        for _ in range(1 if kind == "huge" else int(rng.integers(1, 3 if kind == "edge" else 4))):
            try:
                done.append(mutate(rng, data))
            except (KeyError, TypeError, IndexError, ValueError):  # the path vanished under an earlier mutation
                done.append("skipped")
        content = _dump(data)
    raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    return FuzzFile(index, kind, tuple(done), raw)


def generate_files(seed: int, count: int, folder: Path, start: int = 0) -> list[tuple[Path, FuzzFile]]:
    """Write files ``start .. start+count-1`` into ``folder``; return (path, file) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + count):
        f = generate(seed, i)
        path = folder / f.name
        path.write_bytes(f.content)
        out.append((path, f))
    return out
