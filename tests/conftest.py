from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

MINIMAL = """\
model: llama3-8b
training:
  tokens: 1.0e9
cluster:
  gpu: h100-sxm-80gb
  nodes: 2
"""

VALID = """\
name: test
model: llama3-8b
training:
  tokens: 1.0e9
  seq_len: 4096
  global_batch_seqs: 64
  micro_batch_seqs: 1
  precision: bf16
  recompute: selective
  parallelism:
    tp: 2
    pp: 2
    dp: 4
cluster:
  gpu: h100-sxm-80gb
  nodes: 2
failures:
  node_mtbf_hours: 5000
  spare_nodes: 1
checkpoint:
  interval_minutes: 60
pricing:
  usd_per_gpu_hour: 2.5
simulation:
  replicas: 10
  seed: 1
"""


@pytest.fixture
def write(tmp_path: Path):
    def _write(text: str | bytes, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    return _write
