"""Output files: '-' is stdout, devices and pipes are written through, links are followed, regular files
are replaced atomically keeping their mode, and every failure is a ClustersimError naming the path."""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from clustersim.cli import cli
from clustersim.errors import ClustersimError
from clustersim.io import atomic_write_bytes, atomic_write_text


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_dash_is_stdout(capsysbinary):
    atomic_write_bytes("-", b"hello\n")
    assert capsysbinary.readouterr().out == b"hello\n"


def test_dev_null_stays_a_device():
    atomic_write_text(os.devnull, "x" * 1000)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_fifo_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    atomic_write_bytes(fifo, b"through the pipe")
    reader.join(timeout=10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_symlink_is_followed_and_kept(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    atomic_write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert _leftovers(tmp_path) == []


def test_existing_permissions_are_kept(tmp_path):
    out = tmp_path / "result.json"
    out.write_text("old")
    out.chmod(0o640)
    atomic_write_text(out, "new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() == "new"


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(ClustersimError, match="is a folder"):
        atomic_write_text(tmp_path, "x")


def test_unwritable_folder_is_a_clear_error(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(ClustersimError, match="is not writable"):
        atomic_write_text(tmp_path / "out.json", "x")


def test_missing_folder_refused_when_asked(tmp_path):
    with pytest.raises(ClustersimError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "out.json", "x", make_parents=False)


def test_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    out = tmp_path / "result.json"
    out.write_text("old")

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(out, "new")
    assert out.read_text() == "old" and _leftovers(tmp_path) == []


def test_disk_full_is_a_clear_error(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ClustersimError, match="No space left"):
        atomic_write_text(tmp_path / "out.json", "new")
    assert _leftovers(tmp_path) == []


def test_cli_writes_through_dev_null_and_dash():
    result = CliRunner().invoke(cli, ["schema", "-o", os.devnull])
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    result = CliRunner().invoke(cli, ["schema", "-o", "-"])
    assert result.exit_code == 0 and '"$defs"' in result.output


def test_cli_refuses_to_overwrite_its_input(tmp_path):
    result_file = tmp_path / "result.json"
    result_file.write_text("{}")
    result = CliRunner().invoke(cli, ["report", str(result_file), "-o", str(result_file)])
    assert result.exit_code == 2 and "refusing to overwrite" in result.output
    assert result_file.read_text() == "{}"


def test_cli_missing_output_folder_is_a_user_error(tmp_path):
    result = CliRunner().invoke(cli, ["schema", "-o", str(tmp_path / "typo" / "schema.json")])
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "typo").exists()


def test_cli_unwritable_output_is_a_user_error(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    result = CliRunner().invoke(cli, ["schema", "-o", str(tmp_path / "schema.json")])
    assert result.exit_code == 2 and "not writable" in result.output and "Traceback" not in result.output
