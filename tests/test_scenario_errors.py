"""Bad input never crashes: each gives a ScenarioError naming file:line, field and expectation, exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from clustersim import ScenarioError, load_scenario
from clustersim.cli import cli
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
    ("experts-by-ep", sub("model: llama3-8b", "model:\n  preset: llama3-8b\n  experts: 3\n  experts_per_token: 2").replace(
        "dp: 4", "dp: 4\n    ep: 2"), ["experts (3) must divide by ep (2)"], None),
    ("negative-replicas", sub("replicas: 10", "replicas: -1"), ["simulation.replicas"], 25),
    ("bool-for-int", sub("spare_nodes: 1", "spare_nodes: [1]"), ["failures.spare_nodes"], 19),
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
    ("training.tokens=[1, 2]", "single value"),
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
