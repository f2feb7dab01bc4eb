"""Start-up: whole-process times of ``clustersim --help``, ``import clustersim`` and ``clustersim
estimate`` of GPT-3 175B, against a bare ``python -c pass`` and against a peer's single estimate of the
same run, all measured in this one run.

Each command runs ``--runs`` times, in turn with its baseline (A B A B ...), so that a drift in the
machine's speed moves both; the ratio is the median of the per-pair ratios. Targets (issue 16):
``--help`` at most 5x the bare interpreter (and under 0.3 s median); ``clustersim estimate`` of GPT-3
175B at most 0.6x a peer's single estimate (llm-analysis; Calculon is not on PyPI, so it is not timed
here). The machine is shared: the load average is printed with the figures. Prints figures; asserts
nothing.

The peer: llm-analysis 0.2.2 (``pip install llm-analysis==0.2.2`` into a scratch virtual environment,
never the project's; it pulls transformers) run as its documented CLI, ``python -m llm_analysis.analysis
train``, on the same run: Megatron-LM's GPT-3 175B (its ``megatron-lm-175b`` preset) on 1,024 A100-SXM
80 GB, TP 8 x PP 8, sequence 2048, batch 1536, micro-batch 1, full recompute, 300B tokens
(scenarios/gpt3-175b-megatron.yaml). Give its interpreter with ``--peer-python`` (or the environment
variable ``CLUSTERSIM_PEER_PYTHON``); without one the output says the peer was not timed.

Output: the commands write to a pipe (here /dev/null), where ``clustersim estimate`` prints its tables
without rich (clustersim.cli_text, the same characters); in a terminal rich draws them. The line
"through rich" times that path too (``FORCE_COLOR=`` sends the command through rich without styling), so
that both figures are printed, each paired with the peer.

Bytecode: both sides run from compiled modules, as installed packages do (pip compiles what it
installs; a peer's site-packages has its ``.pyc``). This script compiles clustersim's own modules first
(``compileall``, into the ignored ``__pycache__`` folders), because a development shell may run with
``PYTHONDONTWRITEBYTECODE`` set, which would otherwise compile every module from source on every run.

    python benchmarks/bench_startup.py [--runs 15] [--peer-python /tmp/peer/bin/python]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GPT3 = REPO / "scenarios" / "gpt3-175b-megatron.yaml"

COMMANDS = {
    "clustersim --help": [sys.executable, "-m", "clustersim", "--help"],
    "import clustersim": [sys.executable, "-c", "import clustersim"],
    "clustersim estimate gpt3-175b": [sys.executable, "-m", "clustersim", "estimate", os.fspath(GPT3)],
}
BARE = [sys.executable, "-c", "pass"]
TARGETS = {"clustersim --help": (5.0, 0.3)}  # (ratio to bare python, median seconds)
PEER_TARGET = 0.6  # clustersim estimate / the peer's single estimate
#: llm-analysis's CLI on scenarios/gpt3-175b-megatron.yaml's run (activation_recomputation 2: full).
PEER_ARGS = ["-m", "llm_analysis.analysis", "train", "--model_name", "megatron-lm-175b", "--gpu_name",
             "a100-sxm-80gb", "--total_num_gpus", "1024", "--tp_size", "8", "--pp_size", "8", "--seq_len", "2048",
             "--global_batch_size", "1536", "--batch_size_per_gpu", "1", "--activation_recomputation", "2",
             "--total_num_tokens", "300e9"]


#: The environment of the "through rich" run: FORCE_COLOR set to nothing makes rich treat the pipe as no
#: terminal (no styles, rich.console.Console.is_terminal) and keeps clustersim.cli_text from answering.
THROUGH_RICH = {**os.environ, "FORCE_COLOR": ""}


def _wall_s(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=REPO, env=env)
    return time.perf_counter() - t0


def paired(cmd: list[str], baseline: list[str], runs: int, env: dict[str, str] | None = None
           ) -> tuple[list[float], list[float], float]:
    """(A's seconds, B's seconds, median of the per-pair ratios A/B), A and B in turn after a warm-up
    (``env``: A's environment)."""
    _wall_s(cmd, env), _wall_s(baseline)  # warm the file cache
    pairs = [(_wall_s(cmd, env), _wall_s(baseline)) for _ in range(runs)]
    return [p[0] for p in pairs], [p[1] for p in pairs], statistics.median(x / y for x, y in pairs)


def peer_python(given: str | None) -> tuple[str | None, str]:
    """(the peer's interpreter, why not) after checking that it imports llm_analysis."""
    exe = given or os.environ.get("CLUSTERSIM_PEER_PYTHON")
    if not exe:
        return None, "no peer interpreter given (--peer-python or CLUSTERSIM_PEER_PYTHON)"
    try:
        done = subprocess.run([exe, "-c", "import llm_analysis.analysis"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{exe} does not run ({exc})"
    if done.returncode:
        return None, f"{exe} cannot import llm_analysis ({done.stderr.strip().splitlines()[-1:]})"
    return exe, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--peer-python", default=None, help="an interpreter with llm-analysis 0.2.2 installed")
    args = parser.parse_args()
    compileall.compile_dir(REPO / "clustersim", quiet=1)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; {args.runs} paired runs each")
    for name, cmd in COMMANDS.items():
        a, b, ratio = paired(cmd, BARE, args.runs)
        line = (f"{name:32s} median {statistics.median(a):.3f} s (min {min(a):.3f}, max {max(a):.3f}); bare python "
                f"median {statistics.median(b):.3f} s; ratio {ratio:.1f}x")
        if name in TARGETS:
            most_ratio, most_s = TARGETS[name]
            met = ratio <= most_ratio and statistics.median(a) < most_s
            line += f"  [target <= {most_ratio:g}x and < {most_s} s: {'met' if met else 'MISSED'}]"
        print(line, flush=True)

    exe, why = peer_python(args.peer_python)
    if exe is None:
        print(f"peer (llm-analysis 0.2.2) NOT timed: {why}; install it in a scratch venv "
              "(python -m venv /tmp/peer && /tmp/peer/bin/pip install llm-analysis==0.2.2) and pass --peer-python. "
              "Calculon is not on PyPI: not timed.")
    else:
        for how, env in (("", None), (" through rich", THROUGH_RICH)):
            a, b, ratio = paired(COMMANDS["clustersim estimate gpt3-175b"], [exe, *PEER_ARGS], args.runs, env)
            print(f"clustersim estimate gpt3-175b{how} vs llm-analysis 0.2.2 train (same run, paired): clustersim "
                  f"median {statistics.median(a):.3f} s, llm-analysis median {statistics.median(b):.3f} s (min "
                  f"{min(b):.3f}, max {max(b):.3f}); ratio {ratio:.2f}x  [target <= {PEER_TARGET:g}x: "
                  f"{'met' if ratio <= PEER_TARGET else 'MISSED'}]", flush=True)
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
