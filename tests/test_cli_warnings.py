"""Warnings a valid scenario earns (clustersim.scenario.warnings), as ``validate --json`` reports them."""

from __future__ import annotations

import json

from click.testing import CliRunner

from clustersim.cli import cli


def _warnings(write, text: str) -> list[str]:
    result = CliRunner().invoke(cli, ["validate", str(write(text)), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["files"][0]["warnings"]


DEEPSEEK_LIKE = """\
model:
  layers: 61
  hidden_size: 7168
  ffn_hidden_size: 2048
  attention_heads: 128
  kv_heads: 128
  vocab_size: 129280
  gated_mlp: true
  experts: {experts}
  params_b: 671
training:
  tokens: 1e9
cluster:
  gpu: h100-sxm-80gb
  nodes: 256
"""


def test_declared_size_against_the_counted_one(write):
    counted = _warnings(write, DEEPSEEK_LIKE.format(experts=256))
    assert any("params_b = 671 but the architecture fields count" in w for w in counted), counted


def test_an_expert_count_without_a_usable_divisor(write):
    prime = _warnings(write, DEEPSEEK_LIKE.format(experts=257))
    assert any("257 experts: no expert-parallel degree" in w for w in prime), prime
    even = _warnings(write, DEEPSEEK_LIKE.format(experts=256))
    assert not any("expert-parallel" in w for w in even)


def test_a_sequence_longer_than_the_released_context(write):
    text = "model: gpt3-1.3b\ntraining:\n  tokens: 1e9\n  seq_len: 8192\ncluster:\n  gpu: h100-sxm-80gb\n  nodes: 2\n"
    assert any("above the model's released context length (max_seq_len 2,048)" in w for w in _warnings(write, text))
    fine = text.replace("8192", "2048")
    assert not any("context length" in w for w in _warnings(write, fine))


def test_gb200_nodes_are_trays_of_four(write):
    text = "model: llama3-8b\ntraining:\n  tokens: 1e9\ncluster:\n  gpu: gb200-nvl72\n  nodes: 256\n"
    assert any("256 nodes = 1,024 GPUs (14.2 NVLink domains of 72 GPUs)" in w for w in _warnings(write, text))


def test_a_gpu_without_a_price_is_said(write):
    text = "model: llama3-8b\ntraining:\n  tokens: 1e9\n  precision: fp16\ncluster:\n  gpu: v100-sxm-32gb\n  nodes: 2\n"
    assert any(w.startswith("no price: the catalog has no on-demand price for v100-sxm-32gb")
               for w in _warnings(write, text))
