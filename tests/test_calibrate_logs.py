"""Step-time parsers for Megatron-LM, NeMo and torchtitan logs (sample lines written for these tests)."""

import math

import pytest

from clustersim.calibrate.logs import (
    detect_format,
    parse_log,
    parse_megatron,
    parse_nemo,
    parse_torchtitan,
    read_log,
    summarize,
)
from clustersim.errors import ScenarioError

MEGATRON = [
    "building GPT model ...",
    " [2024-05-01 10:00:00] iteration        1/    5000 | consumed samples:          512 | elapsed time per "
    "iteration (ms): 98765.4 | learning rate: 1.000000E-06 | global batch size:   512 | lm loss: 1.100000E+01 |"
    " loss scale: 1.0 | number of skipped iterations:   0 | number of nan iterations:   0 |",
    " [2024-05-01 10:05:00] iteration       20/    5000 | consumed samples:        10240 | elapsed time per "
    "iteration (ms): 12345.6 | throughput per GPU (TFLOP/s/GPU): 412.3 | learning rate: 2.000000E-05 | "
    "global batch size:   512 | lm loss: 7.654321E+00 | loss scale: 1.0 | grad norm: 1.234 |",
    " [2024-05-01 10:09:00] iteration       30/    5000 | consumed samples:        15360 | elapsed time per "
    "iteration (ms): 12400.0 | throughput per GPU (TFLOP/s/GPU): 410.5 | learning rate: 3.000000E-05 | "
    "global batch size:   512 | lm loss: 7.1 | loss scale: 1.0 | grad norm: 1.1 |",
    " [2024-05-01 10:13:00] iteration       40/    5000 | consumed samples:        20480 | elapsed time per "
    "iteration (ms): 12290.2 | throughput per GPU (TFLOP/s/GPU): 414.2 | learning rate: 4.000000E-05 | "
    "global batch size:   512 | lm loss: 6.9 | loss scale: 1.0 | grad norm: 0.9 |",
]
NEMO1 = [
    "Epoch 0: :   5%|5         | 50/1000 [01:40<31:40, reduced_train_loss=6.51, global_step=49.0, "
    "consumed_samples=25600.0, train_step_timing in s=1.98]",
    "Epoch 0: :   6%|6         | 60/1000 [02:00<31:20, reduced_train_loss=6.40, global_step=59.0, "
    "consumed_samples=30720.0, train_step_timing in s=2.02]",
]
NEMO2 = [
    "[NeMo I 2025-01-01 10:00:00 nemo_logging:393] Training epoch 0, iteration 49/999 | lr: 1.499e-05 | "
    "global_batch_size: 512 | global_step: 49 | reduced_train_loss: 6.512 | train_step_timing in s: 1.975 | "
    "consumed_samples: 25600",
]
TITAN = [
    "[rank0]:[titan] 2025-01-01 10:00:00,000 - root - INFO - Training starts at step 1.",
    "[rank0]:[titan] 2025-01-01 10:00:09,000 - root - INFO - \x1b[31mstep:  1  \x1b[32mloss: 12.2541  "
    "\x1b[33mmemory: 35.12GiB(44.37%)  \x1b[34mtps: 412  \x1b[36mtflops: 21.3  \x1b[35mmfu: 2.15%\x1b[39m",
    "[rank0]:[titan] 2025-01-01 10:01:00,000 - root - INFO - step: 20  loss:  8.1234  memory: 35.12GiB(44.37%)  "
    "tps: 6,789  tflops: 345.67  mfu: 34.95%",
    "[rank0]:[titan] 2025-01-01 10:02:00,000 - root - INFO - step: 30  loss:  7.9  memory: 35.12GiB(44.37%)  "
    "wps: 6,811  mfu: 35.06%",
]


def test_megatron_lines():
    steps = parse_megatron(MEGATRON)
    assert [s.step for s in steps] == [1, 20, 30, 40]
    assert steps[1].step_time_s == pytest.approx(12.3456) and steps[1].tflops_per_gpu == pytest.approx(412.3)
    assert steps[0].tflops_per_gpu is None and steps[0].line == 2
    s = summarize(steps, skip_steps=10)
    assert s.metric == "step_time_s" and s.steps_used == 3 and s.steps_skipped == 1
    assert s.value == pytest.approx(12.3456)  # the median, warm-up iteration 1 dropped
    assert 0 < s.log_sd < 0.01


def test_nemo_lines_both_generations():
    steps = parse_nemo(NEMO1 + NEMO2)
    assert [s.step for s in steps] == [49, 59, 49]
    assert [s.step_time_s for s in steps] == pytest.approx([1.98, 2.02, 1.975])
    assert detect_format(NEMO2) == "nemo"


def test_torchtitan_lines_with_colours_and_old_wps():
    steps = parse_torchtitan(TITAN)
    assert [s.step for s in steps] == [1, 20, 30]
    assert steps[0].tokens_per_s_per_gpu == 412 and steps[0].mfu == pytest.approx(0.0215)
    assert steps[1].tokens_per_s_per_gpu == 6789 and steps[1].tflops_per_gpu == pytest.approx(345.67)
    assert steps[2].tokens_per_s_per_gpu == 6811 and steps[2].tflops_per_gpu is None
    s = summarize(steps, skip_steps=10)
    assert s.metric == "tokens_per_s_per_gpu" and s.value == pytest.approx(math.sqrt(6789 * 6811))


def test_detection_and_refusals(tmp_path):
    assert detect_format(MEGATRON) == "megatron" and detect_format(TITAN) == "torchtitan"
    assert detect_format(["nothing here"]) is None
    with pytest.raises(ValueError, match="no Megatron-LM"):
        parse_log(["hello"], "auto")
    with pytest.raises(ValueError, match="unknown log format"):
        parse_log(MEGATRON, "deepspeed")
    with pytest.raises(ValueError, match="warm-up"):
        summarize(parse_megatron(MEGATRON), skip_steps=100)
    log = tmp_path / "train.log"
    log.write_text("\n".join(MEGATRON) + "\n", encoding="utf-8")
    fmt, summary = read_log(log)
    assert fmt == "megatron" and summary.steps_used == 3
    empty = tmp_path / "empty.log"
    empty.write_text("no steps\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="no Megatron-LM, NeMo or torchtitan step line"):
        read_log(empty)
    with pytest.raises(ScenarioError, match="cannot read"):
        read_log(tmp_path / "missing.log")


CHECKPOINT_LINES = [
    "saving checkpoint at iteration    1000 to /ckpt/gpt in torch_dist format",
    "  successfully saved checkpoint from iteration    1000 to /ckpt/gpt [ t 1/8, p 1/4 ]",
    "(min, max) time across ranks (ms):",
    "    save-checkpoint ................................: (11650.12, 11802.47)",
    "    load-checkpoint ................................: (4801.00, 4899.50)",
    "[rank0]:[titan] 2025-01-01 11:00:00,000 - root - INFO - Finished saving the checkpoint (or staging if async is "
    "enabled)in 13.07 seconds.",
    "[rank0]:[titan] 2025-01-01 09:00:00,000 - root - INFO - Finished loading the checkpoint in 5.20 seconds.",
]


def test_checkpoint_times_from_megatron_and_torchtitan_lines(tmp_path):
    from clustersim.calibrate.logs import parse_checkpoint_ops, read_checkpoint_ops

    ops = parse_checkpoint_ops(CHECKPOINT_LINES)
    assert [(op, round(sec, 5), line) for op, sec, line in ops] == [
        ("write", 11.80247, 4), ("read", 4.8995, 5), ("write", 13.07, 6), ("read", 5.2, 7)]
    log = tmp_path / "ckpt.log"
    log.write_text("\n".join(MEGATRON) + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="no checkpoint save or load time"):
        read_checkpoint_ops(log)
