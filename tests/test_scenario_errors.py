"""Bad input never crashes: each gives a ScenarioError naming file:line, field and expectation, exit 2."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from clustersim import ScenarioError, load_scenario
from clustersim.cli import cli
from clustersim.errors import ErrorItem
from tests.conftest import VALID

ALIAS_BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def sub(old: str, new: str) -> str:
    if old not in VALID:
        raise ValueError(old)
    return VALID.replace(old, new, 1)


AUTO = sub("parallelism:\n    tp: 2\n    pp: 2\n    dp: 4", "parallelism: auto")

# (id, file content, fragments the message must contain, line the message must name or None)
CASES: list[tuple[str, str | bytes, list[str], int | None]] = [
    ("wrong-type", sub("nodes: 2", "nodes: many"), ["cluster.nodes", "'many'", "integer"], 16),
    ("negative-count", sub("nodes: 2", "nodes: -4"), ["cluster.nodes", "greater than 0"], 16),
    ("zero-count", sub("nodes: 2", "nodes: 0"), ["cluster.nodes", "greater than 0"], 16),
    ("unknown-key", sub("nodes: 2", "node: 2"), ["unknown key `node`", "did you mean `nodes`?"], 16),
    ("unknown-top-key", sub("training:", "trainig:"), ["unknown key `trainig`", "did you mean `training`?"], 3),
    ("tp-pp-dp-mismatch", sub("dp: 4", "dp: 8"), ["tp*pp*dp*cp = 2*2*8*1 = 32", "16"], 10),
    ("unknown-model", sub("model: llama3-8b", "model: llama3-8c"), ["model", "llama3-8b"], 2),
    ("unknown-gpu", sub("gpu: h100-sxm-80gb", "gpu: h100-sxm-81gb"), ["cluster.gpu", "h100-sxm-80gb"], 15),
    ("malformed-yaml", sub("  seq_len: 4096", "  seq_len: [4096"), ["YAML syntax error"], None),
    ("bad-indentation", sub("  seq_len: 4096", "   seq_len: 4096"), ["YAML syntax error"], 5),
    ("empty-file", "", ["empty"], None),
    ("only-comments", "# nothing here\n", ["empty"], None),
    ("list-top-level", "- model: llama3-8b\n- x\n", ["top level is a list", "mapping"], 1),
    ("scalar-top-level", "just a string\n", ["top level is a str"], 1),
    ("alias-bomb", ALIAS_BOMB, ["alias bomb"], None),
    ("invalid-utf8", VALID.encode() + b"name2: \xff\xfe\n", ["invalid UTF-8"], 27),
    ("python-tag", sub("name: test", "name: !!python/object:os.system ls"), ["tag", "not allowed"], 1),
    ("python-apply", sub("name: test", "name: !!python/object/apply:os.system [ls]"), ["not allowed"], 1),
    ("nan", sub("tokens: 1.0e9", "tokens: .nan"), ["training.tokens", "finite"], 4),
    ("infinity", sub("usd_per_gpu_hour: 2.5", "usd_per_gpu_hour: .inf"), ["pricing.usd_per_gpu_hour", "finite"], 23),
    ("duplicate-key", sub("  nodes: 2", "  nodes: 2\n  nodes: 4"), ["duplicate key 'nodes'"], 17),
    ("batch-divisibility", sub("global_batch_seqs: 64", "global_batch_seqs: 66"),
     ["global batch 66", "dp x micro-batch = 4 x 1"], 6),
    ("heads-by-tp", sub("tp: 2\n    pp: 2\n    dp: 4", "tp: 16\n    pp: 1\n    dp: 1").replace(
        "model: llama3-8b", "model:\n  preset: llama3-8b\n  attention_heads: 24"),
     ["attention_heads (24) is not divisible by tp (16)"], None),
    ("bad-enum", sub("recompute: selective", "recompute: some"), ["training.recompute", "'none'"], 9),
    ("missing-tokens", sub("  tokens: 1.0e9\n", ""), ["training.tokens", "required"], None),
    ("tokens-word", sub("tokens: 1.0e9", "tokens: lots"), ["training.tokens", "chinchilla"], 4),
    ("zero-stage", sub("dp: 4", "dp: 4\n    zero: 5"), ["training.parallelism.zero"], 14),
    ("fp8-on-a100", sub("gpu: h100-sxm-80gb", "gpu: a100-sxm-80gb").replace("bf16", "fp8"),
     ["training.precision", "no dense fp8 peak"], 8),
    ("seq-by-cp", sub("tp: 2\n    pp: 2\n    dp: 4", "tp: 1\n    pp: 1\n    dp: 1\n    cp: 16").replace(
        "seq_len: 4096", "seq_len: 4004").replace("global_batch_seqs: 64", "global_batch_seqs: 1"),
     ["seq_len (4004) must divide by 2 x cp = 32"], 5),
    ("vpp-without-pp", sub("tp: 2\n    pp: 2\n    dp: 4", "tp: 2\n    pp: 1\n    dp: 8\n    vpp: 2"),
     ["vpp > 1 needs pipeline parallelism"], None),
    ("batch-seqs-and-tokens", sub("global_batch_seqs: 64", "global_batch_seqs: 64\n  global_batch_tokens: 1000"),
     ["not both"], None),
    ("price-for-another-gpu", sub("usd_per_gpu_hour: 2.5", "preset: coreweave-a100-80gb"),
     ["pricing.preset", "is for a100-sxm-80gb", "h100-sxm-80gb"], 23),
    ("unknown-price-preset", sub("usd_per_gpu_hour: 2.5", "preset: no-such-cloud"), ["pricing.preset"], 23),
    ("inline-model-missing", sub("model: llama3-8b", "model:\n  layers: 4\n  attention_heads: 4"),
     ["model.hidden_size", "missing"], 2),
    ("kv-heads", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  kv_heads: 5"),
     ["attention_heads (32) must divide by kv_heads (5)"], None),
    ("expert-groups-per-token", sub("model: llama3-8b", "model:\n  preset: mixtral-8x7b\n  expert_groups: 2\n"
                                                    "  expert_groups_per_token: 4"),
     ["expert_groups_per_token (4) must not exceed expert_groups (2)"], None),
    ("expert-groups-divide", sub("model: llama3-8b", "model:\n  preset: mixtral-8x7b\n  experts: 8\n"
                                                 "  expert_groups: 3"),
     ["expert_groups (3) must divide experts (8)"], None),
    ("experts-by-ep", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  experts: 3\n  experts_per_token: 2").replace(
        "dp: 4", "dp: 4\n    ep: 2"), ["experts (3) must divide by ep (2)"], None),
    ("ep-beyond-folding", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  experts: 8\n  experts_per_token: 2").replace(
        "dp: 4", "dp: 4\n    ep: 8"), ["training.parallelism.ep", "ep x etp (8 x 2) must divide tp x cp x dp"], None),
    ("pipeline-split-divides", sub("tp: 2\n    pp: 2\n    dp: 4", "tp: 2\n    pp: 4\n    dp: 2").replace(
        "cluster:", "software:\n  pipeline_split: embedding_and_loss\ncluster:"),
     ["software.pipeline_split", "the 34 units must divide by pp x vpp = 4"], None),
    ("recompute-layers-need-full", sub("recompute: selective", "recompute: selective\n  recompute_layers: 4"),
     ["training.recompute_layers", "needs recompute full"], None),
    ("recompute-layers-beyond-chunk", sub("recompute: selective", "recompute: full\n  recompute_layers: 17"),
     ["training.recompute_layers", "at most the 16 layers of a model chunk"], None),
    ("fp32-master-of-fp32-run", sub("precision: bf16", "precision: fp32\n  master_weights_dtype: bf16"),
     ["master_weights_dtype bf16 with precision fp32", "expected master_weights_dtype fp32"], None),
    ("moments-dtype", sub("recompute: selective", "recompute: selective\n  optimizer_moments_dtype: int8"),
     ["training.optimizer_moments_dtype", "fp32"], None),
    # multi-head latent attention: all of its keys or none, every head its own key and value
    ("mla-key-without-rank", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  qk_rope_head_dim: 64"),
     ["model.qk_rope_head_dim", "model.kv_lora_rank as well"], None),
    ("mla-missing-dims", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  kv_heads: 32\n  kv_lora_rank: 512"),
     ["model.qk_nope_head_dim", "missing for multi-head latent attention"], None),
    ("mla-with-gqa", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  kv_lora_rank: 512\n  qk_nope_head_dim: 128\n  qk_rope_head_dim: 64"),
     ["model.kv_heads", "kv_heads (8) must equal attention_heads (32)"], None),
    ("mla-with-head-dim", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  kv_lora_rank: 512\n  qk_nope_head_dim: 128\n  qk_rope_head_dim: 64\n  kv_heads: 32\n  head_dim: 128"),
     ["model.head_dim", "no head_dim with model.kv_lora_rank"], None),
    # shared experts and leading dense layers: MoE models only, and the dense layers need their width
    ("shared-experts-on-dense", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  shared_experts: 1"),
     ["model.shared_experts", "experts is 1"], None),
    ("dense-layers-without-width", sub("model: llama3-8b", "model:\n  preset: mixtral-8x7b\n  dense_layers: 2"),
     ["model.dense_ffn_hidden_size", "missing"], None),
    ("dense-layers-all", sub("model: llama3-8b", "model:\n  preset: mixtral-8x7b\n  dense_layers: 32\n"
                                                  "  dense_ffn_hidden_size: 14336"),
     ["model.dense_layers", "leaves no MoE layer"], None),
    # sliding-window attention: a count of windowed layers needs a window and at most the layers
    ("window-layers-without-window", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  sliding_window_layers: 16"),
     ["model.sliding_window_layers", "no sliding window"], None),
    ("window-layers-too-many", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  sliding_window: 4096\n"
                                                        "  sliding_window_layers: 33"),
     ["model.sliding_window_layers", "exceeds the model's 32 layers"], None),
    ("window-with-cp", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  sliding_window: 128").replace(
        "dp: 4", "dp: 2\n    cp: 2", 1), ["training.parallelism.cp", "sliding-window attention", "use cp 1"], None),
    ("window-zero", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  sliding_window: 0"),
     ["model.sliding_window"], None),
    # Megatron-core's selective recomputation modules
    ("recompute-modules-with-full", sub("recompute: selective", "recompute: full\n  recompute_modules: [core_attn]"),
     ["training.recompute_modules", "but recompute is full"], None),
    ("recompute-modules-unknown", sub("recompute: selective", "recompute: selective\n  recompute_modules: [attn]"),
     ["training.recompute_modules", "core_attn"], None),
    ("mla-up-proj-without-mla", sub("recompute: selective", "recompute: selective\n  recompute_modules: [mla_up_proj]"),
     ["training.recompute_modules", "model.kv_lora_rank"], None),
    ("offload-with-pipeline", sub("recompute: selective", "recompute: none\n  activation_offload_layers: 4"),
     ["training.activation_offload_layers", "needs pp 1 and recompute none"], None),
    ("negative-replicas", sub("replicas: 10", "replicas: -1"), ["simulation.replicas"], 25),
    ("bool-for-int", sub("spare_nodes: 1", "spare_nodes: [1]"), ["failures.spare_nodes"], 19),
    # hostile YAML found by the fuzz harness (tests/test_fuzz_scenarios.py)
    ("self-alias", sub("name: test", "name: test\nloop: &l [*l]"), ["*l", "recursive"], 2),
    ("self-alias-map", sub("name: test", "name: test\nloop: &l {a: *l}"), ["*l", "recursive"], 2),
    ("deep-nesting", sub("name: test", "name: " + "[" * 200 + "]" * 200), ["nested more than 32 levels"], 1),
    ("deep-block-nesting", sub("name: test", "name:\n" + "".join("  " * (i + 1) + "-\n" for i in range(60))),
     ["nested more than 32 levels"], None),
    ("alias-chain-depth", sub("name: test", "\n".join(
        f"a{i}: &a{i} [*a{i - 1}]" if i else "a0: &a0 [1]" for i in range(60))), ["nested more than"], None),
    ("bool-tag", sub("  interval_minutes: 60", "  interval_minutes: 60\n  async: !!bool maybe"),
     ["checkpoint.async", "'maybe'", "!!bool", "true or false"], 22),
    ("int-tag", sub("nodes: 2", "nodes: !!int two"), ["cluster.nodes", "'two'", "!!int"], 16),
    ("float-tag", sub("tokens: 1.0e9", "tokens: !!float lots"), ["training.tokens", "!!float"], 4),
    ("timestamp-tag", sub("name: test", "name: !!timestamp 2001-13-45"), ["name", "!!timestamp"], 1),
    ("bad-timestamp-tag", sub("name: test", "name: !!timestamp yesterday"), ["!!timestamp"], 1),
    ("huge-integer", sub("nodes: 2", "nodes: 1" + "0" * 5000), ["cluster.nodes", "4,300 digits"], 16),
    ("two-documents", VALID + "---\nname: x\n", ["more than one YAML document"], 27),
    ("duplicate-anchor", sub("name: test", "name: &n test\nx: &n 1"), ["&n", "twice"], 2),
    ("undefined-alias", sub("nodes: 2", "nodes: *n"), ["*n", "no anchor"], 16),
    ("binary-tag", sub("name: test", "name: !!binary aGVsbG8="), ["not allowed"], 1),
    ("local-tag", sub("name: test", "name: !secret x"), ["not allowed"], 1),
    ("set-tag", sub("name: test", "name: !!set {a, b}"), ["not allowed"], 1),
    ("missing-trace", sub("  node_mtbf_hours: 5000", "  trace: no-such-trace.csv"),
     ["failures.trace", "does not exist"], 18),
    ("device-trace", sub("  node_mtbf_hours: 5000", "  trace: /dev/zero"), ["failures.trace", "not a regular file"], 18),
    ("folder-trace", sub("  node_mtbf_hours: 5000", "  trace: /"), ["failures.trace", "not a regular file"], 18),
    ("nics-do-not-divide", sub("  nodes: 2", "  nodes: 2\n  network: {nics_per_node: 3}"),
     ["cluster.network.nics_per_node", "divide one another"], 17),
    ("too-many-gpus", AUTO.replace("  nodes: 2", "  nodes: 1000000\n  gpus_per_node: 16"),
     ["cluster.nodes", "1,000,000 nodes x 16 GPUs = 16,000,000 GPUs", "at most 8,388,608"], 13),
    ("too-many-nics", AUTO.replace("  nodes: 2", "  nodes: 1000000\n  network: {nics_per_node: 16}"),
     ["cluster.network.nics_per_node", "16,000,000 NICs"], 14),
    # numbers outside their physical range (clustersim/scenario/spec.py)
    ("too-many-nodes", sub("nodes: 2", "nodes: 1.0e7"), ["cluster.nodes", "less than or equal to 1000000"], 16),
    ("absurd-tokens", sub("tokens: 1.0e9", "tokens: 1.0e300"), ["training.tokens", "less than or equal to"], 4),
    ("huge-int-for-float", sub("tokens: 1.0e9", "tokens: 1" + "0" * 400), ["training.tokens", "valid number"], 4),
    ("tiny-mtbf", sub("node_mtbf_hours: 5000", "node_mtbf_hours: 1.0e-300"),
     ["failures.node_mtbf_hours", "greater than or equal to"], 18),
    ("tiny-interval", sub("interval_minutes: 60", "interval_minutes: 0.01"),
     ["checkpoint.interval_minutes", "greater than or equal to 1"], 21),
    ("absurd-slowdown", sub("spare_nodes: 1", "spare_nodes: 1\n  stragglers: {fraction: 1, slowdown: 1.0e300}"),
     ["failures.stragglers.slowdown", "less than or equal to 100"], 20),
]


@pytest.mark.parametrize("name,content,fragments,line", CASES, ids=[c[0] for c in CASES])
def test_bad_input_message_and_exit_code(write, name, content, fragments, line):
    path = write(content)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = info.value.render()
    assert str(path) in text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    if line is not None:
        assert f"{path}:{line}:" in text, f"line {line} not named in:\n{text}"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.splitlines()) < 40  # one screen
    for fragment in fragments:
        assert fragment in result.output


def test_enough_distinct_cases():
    assert len({c[0] for c in CASES}) >= 25


def test_huge_file_refused_quickly(write):
    path = write(b"a: " + b"x" * (50 * 2**20) + b"\n")
    with pytest.raises(ScenarioError, match="limited to 1 MiB"):
        load_scenario(path)


def test_missing_file_and_directory(tmp_path: Path):
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "nope.yaml")
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2


def test_all_errors_reported_at_once(write):
    text = sub("nodes: 2", "nodes: -1").replace("seq_len: 4096", "seq_len: x").replace("recompute: selective", "recompute: y")
    path = write(text)
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    for field in ("cluster.nodes", "training.seq_len", "training.recompute"):
        assert field in result.output
    assert "3 errors" in result.output


def test_debug_shows_traceback(write):
    path = write(sub("nodes: 2", "nodes: 0"))
    result = CliRunner().invoke(cli, ["--debug", "estimate", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ScenarioError)


@pytest.mark.parametrize("override,fragment", [
    ("cluster.nodes=abc", "cluster.nodes"),
    ("cluster.nodez=4", "did you mean `nodes`"),
    ("novalue", "key.path=value"),
    ("training.tokens={a: 1}", "single value"),
    ("training.tokens=[1, 2]", "training.tokens"),
    ("training.recompute_modules=[[core_attn]]", "list of them, got list of lists"),
])
def test_bad_overrides(write, override, fragment):
    path = write(VALID)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, [override])
    assert fragment in info.value.render()


def test_errors_from_set_name_the_option_not_a_line(tmp_path):
    from tests.conftest import SCENARIOS

    path = SCENARIOS / "quickstart.yaml"
    for override, fragment in [("cluster.gpu=h100", "did you mean 'h100-sxm-80gb'"),
                               ("cluster.nodes=abc", "integer"), ("cluster.node=64", "did you mean `nodes`")]:
        with pytest.raises(ScenarioError) as info:
            load_scenario(path, [override])
        text = info.value.render()
        assert f"this comes from --set {override}" in text and fragment in text
        assert not re.search(re.escape(str(path)) + r":\d", text)  # no line is blamed for a value it lacks


_PARITY = [VALID, ALIAS_BOMB, "x: &a {k: 1}\ny:\n  <<: *a\n  j: 2\n", "a: 2001-12-14\nb: 1e9\nc: 0x1F\nd: ~\n"]


@pytest.mark.parametrize("text", _PARITY + [c[1] for c in CASES if isinstance(c[1], str) and "syntax" not in c[2][0]])
def test_libyaml_and_pure_python_read_the_same(monkeypatch, text):
    """The C parser (when PyYAML has it) and the pure-Python one give the same values, marks and refusals."""
    from clustersim.scenario import yamlsafe

    if not yamlsafe.LIBYAML:
        pytest.skip("PyYAML was built without libyaml")
    seen = []
    for loader in (yamlsafe._PyLoader, yamlsafe._Loader):
        monkeypatch.setattr(yamlsafe, "_Loader", loader)
        try:
            data, marks = yamlsafe.read_yaml_bytes(text.encode(), "f.yaml")
            seen.append((data, marks.value, marks.key))
        except ScenarioError as exc:
            seen.append(exc.render())
    assert seen[0] == seen[1]


def test_scenario_files_read_the_same_with_both_parsers(monkeypatch):
    from clustersim.scenario import yamlsafe
    from tests.conftest import SCENARIOS

    if not yamlsafe.LIBYAML:
        pytest.skip("PyYAML was built without libyaml")
    files = sorted(SCENARIOS.rglob("*.yaml"))
    assert files
    for path in files:
        raw = path.read_bytes()
        monkeypatch.setattr(yamlsafe, "_Loader", yamlsafe._PyLoader)
        py = yamlsafe.read_yaml_bytes(raw)
        monkeypatch.undo()
        c = yamlsafe.read_yaml_bytes(raw)
        assert (py[0], py[1].value, py[1].key) == (c[0], c[1].value, c[1].key), path


_ESTIMATE = importlib.import_module("clustersim.estimate")  # the module (the package exports the function)


def _boom(exc: BaseException):
    def raiser(*args, **kwargs):
        raise exc

    return raiser


@pytest.mark.parametrize("exc", [ValueError("need at least one array to concatenate"), OverflowError("math range"),
                                 MemoryError(), RecursionError("maximum recursion depth exceeded"), TypeError("x")])
def test_unexpected_exception_is_an_internal_error_not_a_traceback(write, monkeypatch, exc):
    path = write(VALID)
    monkeypatch.setattr(_ESTIMATE, "estimate", _boom(exc))
    result = CliRunner().invoke(cli, ["estimate", str(path)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "internal error" in result.output and "bug" in result.output and "--debug" in result.output
    assert str(path) in result.output and type(exc).__name__ in result.output
    assert len(result.output.splitlines()) < 10
    debug = CliRunner().invoke(cli, ["--debug", "estimate", str(path)])
    assert isinstance(debug.exception, type(exc))


def test_internal_error_under_json_is_a_json_object_on_stdout(write, monkeypatch):
    """The CLI convention: under --json the error object is on stdout, the message on stderr."""
    import json

    path = write(VALID)
    monkeypatch.setattr(_ESTIMATE, "estimate", _boom(ZeroDivisionError("float division by zero")))
    result = CliRunner().invoke(cli, ["estimate", str(path), "--json"])
    assert result.exit_code == 1
    err = json.loads(result.stdout)["error"]
    assert err["kind"] == "internal" and err["type"] == "ZeroDivisionError" and err["file"] == str(path)
    assert "internal error" in result.stderr


def test_user_errors_under_json_carry_the_located_items(write):
    import json

    path = write(sub("nodes: 2", "nodes: 0"))
    result = CliRunner().invoke(cli, ["estimate", str(path), "--json"])
    assert result.exit_code == 2
    err = json.loads(result.stdout)["error"]
    assert err["kind"] == "user" and err["problems"][0]["path"] == "cluster.nodes"
    assert err["problems"][0]["line"] == 16


def test_errors_without_a_filename_are_given_the_scenario_file(write, monkeypatch):
    from clustersim.errors import InfeasibleError

    path = write(VALID)
    for exc, fragment in [(ScenarioError(ErrorItem("must divide", path="cluster.network.nics_per_node")),
                           f"{path}: cluster.network.nics_per_node: must divide"),
                          (InfeasibleError("none of the 12 configurations fits"),
                           f"{path}: none of the 12 configurations fits"),
                          (PermissionError(13, "Permission denied", "/root/out.json"),
                           "/root/out.json: Permission denied")]:
        monkeypatch.setattr(_ESTIMATE, "estimate", _boom(exc))
        result = CliRunner().invoke(cli, ["estimate", str(path)])
        assert result.exit_code == 2, result.output
        assert fragment in result.output


def test_ctrl_c_exits_130_without_a_traceback(write, monkeypatch):
    path = write(VALID)
    monkeypatch.setattr(_ESTIMATE, "estimate", _boom(KeyboardInterrupt()))
    result = CliRunner().invoke(cli, ["estimate", str(path)])
    assert result.exit_code == 130 and "Traceback" not in result.output


HOSTILE_NAME = 'oops [/] x [v2] [bold]b[/bold] \\e]0;pwned\\a \\e[31mred'


@pytest.mark.parametrize("command", [["estimate"], ["search", "--top", "2"], ["simulate", "--replicas", "2"]])
def test_names_print_as_themselves_in_tables(write, command):
    """Square brackets are not markup and escape sequences do not reach the terminal."""
    text = sub("name: test", f'name: "{HOSTILE_NAME}"').replace(
        "  node_mtbf_hours: 5000", '  sources:\n    - {component: "gpu [x] [/]", per: node, mtbf_hours: 2}')
    path = write(text)
    result = CliRunner().invoke(cli, [*command, str(path)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\a" not in result.output
    assert "oops [/] x [v2] [bold]b[/bold]" in result.output and "\\x1b]0;pwned\\x07" in result.output
    if command[0] == "simulate":
        assert "gpu [x] [/]" in result.output


def test_control_characters_in_keys_are_shown_escaped(write):
    path = write(sub("  nodes: 2", '  nodes: 2\n  "no\\e[2Jdes": 3'))
    result = CliRunner().invoke(cli, ["validate", str(path)], color=True)  # color: click keeps escapes as on a tty
    assert result.exit_code == 2 and "\x1b" not in result.output and "no\\x1b[2Jdes" in result.output
    ok = CliRunner().invoke(cli, ["validate", str(write(sub("name: test", 'name: "a\\e[31mred"')))], color=True)
    assert ok.exit_code == 0 and "\x1b" not in ok.output and "a\\x1b[31mred" in ok.output
