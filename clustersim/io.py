"""Output files: every file clustersim writes appears whole or not at all, and means what the user meant.

:func:`atomic_write_bytes` writes

* ``-``: to standard output;
* a symbolic link: through it, to the file it points to (the link stays a link);
* a character device, a pipe or a socket that exists (``/dev/null``, ``/dev/stdout``, a FIFO): by opening
  and writing it, never by replacing it (a rename over ``/dev/null`` would turn the system's device node
  into a regular file);
* a regular file, or a new one: to a temporary file in the same folder, flushed and fsync'ed, then
  renamed over the target (POSIX ``rename(2)`` is atomic), keeping an existing file's permission bits
  (and owner, where allowed); the temporary file is removed if anything fails or the process is
  interrupted (Ctrl-C, or SIGTERM under the ``clustersim`` command).

Problems the user can act on (a folder that cannot be written, a target that is a folder) are
:class:`~clustersim.errors.ClustersimError` naming the path.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from pathlib import Path

from clustersim.errors import ClustersimError

__all__ = ["atomic_write_text", "atomic_write_bytes", "STDOUT"]

#: The output name that means standard output.
STDOUT = "-"


def _write_stream(data: bytes) -> None:
    out = getattr(sys.stdout, "buffer", None)
    if out is None:  # a text-only stream (e.g. under a test runner)
        sys.stdout.write(data.decode("utf-8"))
        sys.stdout.flush()
        return
    out.write(data)
    out.flush()


def _write_special(target: Path, data: bytes) -> None:
    """Open an existing device, pipe or socket and write to it (no temporary file, no rename)."""
    try:
        with open(target, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise ClustersimError(f"cannot write {target}: {exc.strerror or exc}") from None


def _unwritable(target: Path, exc: OSError) -> ClustersimError:
    folder = target.parent
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return ClustersimError(f"cannot write {target}: the folder {folder} is not writable ({exc.strerror})")
    return ClustersimError(f"cannot write {target}: {exc.strerror or exc}")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, make_parents: bool = True) -> None:
    """Write ``data`` to ``path`` as the module doc says (``make_parents``: create missing folders)."""
    if os.fspath(path) == STDOUT:
        _write_stream(data)
        return
    try:
        st: os.stat_result | None = os.stat(path)  # follows symbolic links
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ClustersimError(f"cannot write {path}: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise ClustersimError(f"cannot write {path}: it is a folder; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_special(Path(path), data)  # by its own name: /dev/stdout's target may be "pipe:[...]"
        return
    # Write through symbolic links: the file a link names is the one replaced, and the link stays.
    target = Path(os.path.realpath(path))
    if make_parents:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _unwritable(target.parent, exc) from None
    elif not target.parent.is_dir():
        raise ClustersimError(f"cannot write {path}: the folder {target.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _unwritable(target, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            if st is not None:
                os.chmod(tmp, stat.S_IMODE(st.st_mode))
                try:
                    os.chown(tmp, st.st_uid, st.st_gid)
                except OSError:  # not ours to give away (non-root): the new file is the writer's
                    pass
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a result file is as readable as any
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError):
            raise _unwritable(target, exc) from None
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, *, make_parents: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), make_parents=make_parents)
