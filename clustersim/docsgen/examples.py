"""Executable documentation: run every example of docs/*.md and compare it with its recorded output.

Three kinds of fenced block take part (see :mod:`clustersim.docsgen.markdown` for the fence syntax):

* ````` ```console ````` blocks hold one or more ``$ clustersim ...`` (or ``$ cat FILE``) commands, each
  followed by the output it printed. A command is run through click's ``CliRunner`` (the same ``cli`` object as the
  ``clustersim`` script) with ``COLUMNS=100`` and ``NO_COLOR=1``; stdout and stderr are recorded
  interleaved, as a terminal shows them. The exit status must be 0, or the block's ``exit=N``.
* ````` ```python ````` blocks of the how-to guides (docs/how-to/) and the tutorial are complete
  programs, run with ``python -c`` in a subprocess. When the next fenced block of the page is a
  ````` ```text ````` block, that block is the program's recorded standard output. (Elsewhere, e.g.
  the signatures of the generated Python API page, ``python`` only selects the highlighting.)
* Any block with a ``file=NAME`` attribute (````` ```yaml file=my-cluster.yaml `````) is written to
  ``NAME`` before the blocks after it run, so a page can create the scenario it then runs.

Each page runs in its own temporary directory holding a link to the repository's ``scenarios/``, so
the commands read exactly as a user types them in a checkout and leave nothing behind. A block right
after ``<!-- docs: no-run -->`` is not run (used only where the example needs something a test machine
does not have, e.g. a remote Dask scheduler).

Before comparing, both the recorded and the new output go through :data:`NORMALISERS`: the only parts
that legitimately vary between runs (versions, elapsed seconds, rates, temporary paths, and the layout
those change: column padding and where a long line wraps). Everything else, every figure and every
word, must match. Python ``warnings`` raised by libraries while a command runs are not recorded (they
depend on the machine, e.g. a port in use).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from clustersim.docsgen.markdown import Block, parse_blocks, replace_bodies

__all__ = ["NORMALISERS", "ENV", "REPO", "DOCS", "PageResult", "normalise", "doc_pages", "runs_python",
           "is_example", "run_page",
           "check_page", "update_page", "workdir"]

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

#: Environment of every example: a fixed width for tables and help text, no colour.
ENV = {"COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}

#: (what varies, pattern, replacement), applied in order to both sides before comparing.
NORMALISERS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("versions in JSON (clustersim, numpy, python)",
     re.compile(r'("[a-z_]*version": )"[^"]*"'), r'\1"<version>"'),
    ("the --version line", re.compile(r"(clustersim, version )\S+"), r"\1<version>"),
    ("elapsed seconds in JSON", re.compile(r'("elapsed_s": )[-+0-9.eE]+'), r"\1<elapsed>"),
    ("elapsed seconds in text", re.compile(r"\b(in|took|elapsed:?)\s[0-9][0-9.,]*\s?(s|seconds)\b"),
     r"\1 <elapsed> s"),
    ("elapsed seconds after a count", re.compile(r"(configurations|configs|points|replicas|tasks) \([0-9][0-9.,]* ?s\)"),
     r"\1 (<elapsed> s)"),
    ("rates", re.compile(r"[0-9][0-9.,]*\s*[kM]? ?(configs|points|replicas|tasks)/s"), r"<rate> \1/s"),
    ("temporary paths", re.compile(r"(/private)?/(tmp|var/folders)/[^\s\"',)]+"), "<tmp>"),
    ("column padding (runs of table rules)", re.compile(r"([─━═-])\1+"), r"\1"),
    ("layout: line wrapping and column padding (any run of whitespace)", re.compile(r"\s+"), " "),
)

_PROMPT = "$ "


def normalise(text: str) -> str:
    """The text with what legitimately varies between runs replaced (see :data:`NORMALISERS`)."""
    for _, pattern, repl in NORMALISERS:
        text = pattern.sub(repl, text)
    return text.strip()


def _readable(text: str) -> list[str]:
    """Lines for a diff: every normaliser but the whitespace one, applied line by line."""
    for _, pattern, repl in NORMALISERS[:-1]:
        text = pattern.sub(repl, text)
    return [" ".join(line.split()) for line in text.strip("\n").split("\n")]


def runs_python(path: Path) -> bool:
    """Whether a page's ``python`` blocks are programs to run (the how-to guides and the tutorial)."""
    return path.parent.name == "how-to" or path.name == "tutorial.md"


def is_example(block: Block, path: Path) -> bool:
    """Whether a block is an example that runs: console blocks, and Python in :func:`runs_python` pages."""
    return not block.skip and (block.lang == "console" or (block.lang == "python" and runs_python(path)))


def doc_pages(root: Path = DOCS) -> list[Path]:
    """Every Markdown page under docs/, sorted."""
    return sorted(root.rglob("*.md"))


@contextmanager
def workdir(repo: Path = REPO) -> Iterator[Path]:
    """A fresh temporary directory that looks like a checkout to the examples (``scenarios/`` linked)."""
    with tempfile.TemporaryDirectory(prefix="clustersim-docs-") as tmp:
        path = Path(tmp)
        for name in ("scenarios",):
            if (repo / name).exists():
                (path / name).symlink_to(repo / name, target_is_directory=True)
        yield path


@contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _clean(text: str, cwd: Path) -> str:
    """Output as a user in the checkout would see it: no absolute paths of this machine."""
    for root in (str(cwd.resolve()), str(cwd), str(REPO)):
        text = text.replace(root + os.sep, "").replace(root, ".")
    lines = [line.rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def run_cli(args: list[str], cwd: Path) -> tuple[str, int]:
    """Run ``clustersim ARGS`` in-process (click's CliRunner) in ``cwd``: (output, exit status)."""
    from click.testing import CliRunner

    from clustersim.cli import cli

    runner = CliRunner(env=ENV)
    # Python warnings from libraries depend on the machine (e.g. Dask's "port 8787 is already in use"):
    # not part of what clustersim prints. clustersim's own warnings are printed lines, kept.
    with _chdir(cwd), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.invoke(cli, args, prog_name="clustersim", catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else repr(result.exception)
        raise RuntimeError(f"clustersim {shlex.join(args)} raised:\n{tb}")
    return _clean(result.output, cwd), result.exit_code


def run_cat(files: list[str], cwd: Path) -> tuple[str, int]:
    """``cat FILE...`` relative to ``cwd`` (shows a scenario as it is on disk; read-only)."""
    parts = []
    for name in files:
        path = cwd / name
        if not path.is_file():
            return f"cat: {name}: No such file or directory", 1
        parts.append(path.read_text(encoding="utf-8"))
    return _clean("".join(parts), cwd), 0


def run_python(code: str, cwd: Path, timeout_s: float = 300.0) -> tuple[str, int, str]:
    """Run a Python example as a program in ``cwd``: (stdout, exit status, stderr)."""
    env = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)
    return _clean(proc.stdout, cwd), proc.returncode, proc.stderr


def split_console(block: Block) -> list[tuple[str, list[str]]]:
    """The (command line, recorded output lines) pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    lines = list(block.body)
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith(_PROMPT):
            if not pairs:
                raise ValueError(f"{block.where}: a console block must start with '$ clustersim ...'")
            pairs[-1][1].append(line)
            i += 1
            continue
        command = line[len(_PROMPT):]
        while command.endswith("\\") and i + 1 < len(lines):
            i += 1
            command = command[:-1].rstrip() + " " + lines[i].strip()
        pairs.append((command, []))
        i += 1
    return pairs


@dataclass
class Example:
    """One executed example: where, what ran, what was recorded and what it printed now."""

    where: str
    command: str
    recorded: str
    actual: str
    ok: bool
    message: str = ""
    broken: bool = False  # crashed or wrong exit status (not merely a different output)


@dataclass
class PageResult:
    path: Path
    examples: list[Example] = field(default_factory=list)
    new_bodies: dict[int, list[str]] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def failures(self) -> list[Example]:
        """Examples whose output differs from the recorded one, or that crashed or exited wrongly."""
        return [e for e in self.examples if not e.ok]

    @property
    def broken(self) -> list[Example]:
        """Examples that crashed or exited with the wrong status (what an update cannot fix)."""
        return [e for e in self.examples if e.broken]


def _write_file(block: Block, cwd: Path) -> None:
    name = Path(block.attrs["file"])
    if name.is_absolute() or ".." in name.parts:
        raise ValueError(f"{block.where}: file={name} must be a relative path inside the example directory")
    target = cwd / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(block.body) + "\n", encoding="utf-8")


def _compare(where: str, command: str, recorded: str, actual: str, status_msg: str = "") -> Example:
    ok = normalise(recorded) == normalise(actual) and not status_msg
    message = status_msg
    if normalise(recorded) != normalise(actual):
        diff = difflib.unified_diff(_readable(recorded), _readable(actual), "recorded (normalised)",
                                    "actual (normalised)", lineterm="", n=2)
        message = (message + "\n" if message else "") + "\n".join(diff)
    return Example(where, command, recorded, actual, ok, message, broken=bool(status_msg))


def _console(block: Block, cwd: Path, result: PageResult) -> None:
    expected_status = int(block.attrs.get("exit", "0"))
    body: list[str] = []
    for command, recorded_lines in split_console(block):
        argv = shlex.split(command)
        if argv and argv[0] == "cat":
            actual, status = run_cat(argv[1:], cwd)
        elif argv and argv[0] == "clustersim":
            try:
                actual, status = run_cli(argv[1:], cwd)
            except RuntimeError as exc:  # a crash, not a user error: report it, keep the recorded output
                recorded = "\n".join(recorded_lines)
                result.examples.append(Example(block.where, "$ " + command, recorded, "", False, str(exc), True))
                body.extend([_PROMPT + command, *recorded_lines])
                continue
        else:
            raise ValueError(f"{block.where}: console blocks run `clustersim ...` or `cat FILE`, got {command!r}")
        status_msg = "" if status == expected_status else f"exit status {status}, expected {expected_status}"
        recorded = "\n".join(recorded_lines)
        result.examples.append(_compare(block.where, "$ " + command, recorded, actual, status_msg))
        body.append(_PROMPT + command)
        body.extend(actual.split("\n") if actual else [])
    result.new_bodies[block.start] = body


def _python(block: Block, output_block: Block | None, cwd: Path, result: PageResult) -> None:
    stdout, status, stderr = run_python("\n".join(block.body) + "\n", cwd)
    status_msg = "" if status == 0 else f"exit status {status}; stderr:\n{stderr}"
    recorded = "\n".join(output_block.body) if output_block is not None else stdout
    result.examples.append(_compare(block.where, "python example", recorded, stdout, status_msg))
    if output_block is not None:
        result.new_bodies[output_block.start] = stdout.split("\n") if stdout else []


def run_page(path: Path) -> PageResult:
    """Run every example of one page, in order, in a fresh working directory."""
    start = time.perf_counter()
    blocks = parse_blocks(path)
    result = PageResult(path)
    with workdir() as cwd:
        for i, block in enumerate(blocks):
            if "file" in block.attrs:
                _write_file(block, cwd)
            if block.skip:
                continue
            if block.lang == "console":
                _console(block, cwd, result)
            elif block.lang == "python" and runs_python(path):
                following = blocks[i + 1] if i + 1 < len(blocks) else None
                output = following if following is not None and following.lang == "text" else None
                _python(block, output, cwd, result)
    result.elapsed_s = time.perf_counter() - start
    return result


def check_page(path: Path) -> PageResult:
    """Run one page's examples; ``result.failures`` lists the ones whose output differs (with a diff)."""
    return run_page(path)


def update_page(path: Path) -> PageResult:
    """Run one page's examples and rewrite their recorded outputs in the file (only if something changed)."""
    result = run_page(path)
    if result.new_bodies:
        text = path.read_text(encoding="utf-8")
        new_text = replace_bodies(text, result.new_bodies)
        if new_text != text:
            path.write_text(new_text, encoding="utf-8")
    return result
