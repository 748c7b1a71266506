"""Atomic file writes, and one clear error when the disk is full.

Every result file (trajectories, summary tables, figures) is written to a
unique hidden temporary file next to its destination and renamed onto it, so
readers never see a partial file. When a write fails for lack of space, the
libraries underneath say other things: netCDF-C reports a file it cannot
create as "Permission denied" (errno 13) and a write cut short as "NetCDF: HDF
error". :func:`atomic_path` turns such failures into :class:`DiskFullError`,
which names the directory and its free space, and removes the temporary file.

This module decides no numbers, so it is not among the physics sources whose
change reruns every point (``qbsd.workflow.PHYSICS_MODULES``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: errno values that mean "no room": a full filesystem, an exhausted quota.
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})

# Read once at import (single-threaded): os.umask can only be read by setting it.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class DiskFullError(OSError):
    """A write failed for lack of space (errno ENOSPC), nothing partial left behind.

    Attributes ``path`` (the file being written), ``directory``, ``free``
    (bytes free there when the write failed, from ``shutil.disk_usage``) and
    ``needed`` (bytes the write was estimated to need, or None).
    """

    path: str = ""
    directory: str = ""
    free: int | None = None
    needed: int | None = None


def format_bytes(n: float | None) -> str:
    """``n`` bytes in SI units: ``0 B``, ``512 B``, ``12.3 kB``, ``4.1 GB``."""
    if n is None:
        return "an unknown amount"
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def free_bytes(directory: str | os.PathLike) -> int | None:
    """Bytes free to this user in ``directory``'s filesystem, or None when unknown."""
    try:
        return int(shutil.disk_usage(directory).free)
    except OSError:
        return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen and len(seen) < 20:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def space_errno(exc: BaseException) -> int | None:
    """ENOSPC or EDQUOT when ``exc`` (or an exception it came from) carries it, else None."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in SPACE_ERRNOS:
            return item.errno
    return None


def out_of_space(exc: BaseException, free: int | None, needed: int | None) -> bool:
    """Whether the failure ``exc`` of a write is due to lack of space.

    Yes when the error carries ENOSPC/EDQUOT; or when it is an I/O-like error
    (``OSError``, ``RuntimeError``: netCDF4's "Permission denied" and "HDF
    error") and ``free`` (bytes free when it failed) is below ``needed`` (the
    write's estimated size): the write could not have fitted.
    """
    if isinstance(exc, DiskFullError) or space_errno(exc) is not None:
        return True
    if not isinstance(exc, (OSError, RuntimeError)) or free is None or needed is None:
        return False
    return free < needed


def disk_full_error(
    path: str | os.PathLike,
    free: int | None,
    needed: int | None = None,
    code: int | None = errno.ENOSPC,
) -> DiskFullError:
    """The :class:`DiskFullError` of a failed write of ``path`` (message names dir and space)."""
    path = Path(path)
    directory = path.parent
    what = "no space left on device"
    if code == errno.EDQUOT:
        what += " (disk quota exceeded)"
    need = f", and this write needed about {format_bytes(needed)}" if needed else ""
    message = (
        f"{what}: could not write {path}; {directory} has {format_bytes(free)} free"
        f"{need}. Free some space there (or move the results elsewhere) and rerun"
    )
    error = DiskFullError(errno.ENOSPC, message)
    error.path, error.directory = str(path), str(directory)
    error.free, error.needed = free, needed
    return error


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, needed: int | None = None) -> Iterator[Path]:
    """Write to a unique hidden ``.<name>.*.part`` file, then rename it onto ``path``.

    Readers never see a partial file, and concurrent writers never share a
    temporary file. The result gets the usual permissions (0666 less the
    umask), not mkstemp's private 0600: results are meant to be shared.

    On any failure the temporary file is removed and ``path`` is left as it
    was. A failure due to lack of space (see :func:`out_of_space`; ``needed``
    is the write's size estimate in bytes, for errors that carry no errno)
    is raised as :class:`DiskFullError`, chained to the original error.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        # Measure before the temporary file goes: what was free when it failed.
        free = free_bytes(path.parent) if path.parent.is_dir() else None
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, DiskFullError) or not out_of_space(exc, free, needed):
            raise
        raise disk_full_error(path, free, needed, space_errno(exc) or errno.ENOSPC) from exc


class LogStream:
    """A job's log file whose write errors are kept, not raised (see :func:`log_file`)."""

    def __init__(self, path: Path) -> None:
        self.name = str(path)
        self.error: OSError | None = None
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close)

    def _guard(self, action, *args):
        if self.error is not None:
            return None
        try:
            return action(*args)
        except OSError as exc:
            self.error = exc
            return None

    def write(self, text: str) -> int:
        self._guard(self._file.write, text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._guard(self._file.flush)

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as exc:
            self.error = self.error or exc


@contextlib.contextmanager
def log_file(path: str | os.PathLike) -> Iterator[LogStream]:
    """Open a job's log for writing (text); a full disk never hides the job's own error.

    Writes that fail are not raised from the body (a log is a record, not a
    result): when the body fails, its exception (say the
    :class:`DiskFullError` of the output) is the one raised. When the body
    succeeds but the log could not be written for lack of space, that is
    raised as :class:`DiskFullError`; any other write error as itself.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = LogStream(path)
    try:
        yield out
    finally:
        out.close()
    if out.error is not None:
        if space_errno(out.error) is None:
            raise out.error
        raise disk_full_error(path, free_bytes(path.parent)) from out.error
