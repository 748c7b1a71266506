"""Atomic writes and the disk-full error: every result writer says "no space left on device".

The end-to-end tests fill a small tmpfs (root only); they skip elsewhere.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import subprocess
import uuid

import numpy as np
import pandas as pd
import pytest

import qbsd
from qbsd import dataset, plots, storage, style
from qbsd.storage import DiskFullError, atomic_path
from qbsd.workflow import _atomic_csv

TMPFS_SIZE = 1024 * 1024


def _leftovers(directory) -> list[str]:
    """Every file under ``directory`` (hidden ones included), relative names."""
    found = []
    for root, _, files in os.walk(directory):
        found += [os.path.relpath(os.path.join(root, f), directory) for f in files]
    return sorted(found)


# --------------------------------------------------------------------------
# units: no filesystem tricks needed


def test_format_bytes():
    assert storage.format_bytes(0) == "0 B"
    assert storage.format_bytes(999) == "999 B"
    assert storage.format_bytes(73_000) == "73.0 kB"
    assert storage.format_bytes(4.1e9) == "4.1 GB"
    assert storage.format_bytes(None) == "an unknown amount"


def test_disk_full_error_is_an_enospc_oserror_that_pickles():
    error = storage.disk_full_error("/data/results/t.nc", free=0, needed=73_000)
    assert isinstance(error, OSError) and error.errno == errno.ENOSPC
    text = str(error)
    assert "no space left on device" in text and "/data/results has 0 B free" in text
    assert "73.0 kB" in text and "/data/results/t.nc" in text
    # Batch workers in other processes send their errors back pickled.
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is DiskFullError and str(back) == text
    assert (back.path, back.directory, back.free, back.needed) == (
        "/data/results/t.nc",
        "/data/results",
        0,
        73_000,
    )
    quota = storage.disk_full_error("/q/t.nc", free=10**9, code=errno.EDQUOT)
    assert "disk quota exceeded" in str(quota)


@pytest.mark.parametrize(
    ("exc", "free", "needed", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 10**12, None, True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), 10**12, None, True),
        (PermissionError(errno.EACCES, "Permission denied"), 0, 70_000, True),
        (RuntimeError("NetCDF: HDF error"), 10_000, 70_000, True),
        (RuntimeError("NetCDF: HDF error"), 10**9, 70_000, False),
        (PermissionError(errno.EACCES, "Permission denied"), 0, None, False),
        (ValueError("bad encoding"), 0, 70_000, False),
        (KeyboardInterrupt(), 0, 70_000, False),
    ],
)
def test_out_of_space(exc, free, needed, full):
    assert storage.out_of_space(exc, free, needed) is full


def test_out_of_space_finds_enospc_in_the_chain():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("NetCDF: HDF error") from inner
    except RuntimeError as outer:
        assert storage.out_of_space(outer, free=None, needed=None)


def test_atomic_path_reports_enospc_and_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "t.csv"
    with pytest.raises(DiskFullError, match="no space left on device") as info:
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(info.value.__cause__, OSError)
    assert str(target.parent) in str(info.value) and " free" in str(info.value)
    assert _leftovers(tmp_path) == []


def test_atomic_path_keeps_other_errors_and_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "t.nc"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="HDF error"):
        with atomic_path(target, needed=1000) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("NetCDF: HDF error")
    assert _leftovers(tmp_path) == ["t.nc"] and target.read_text() == "old"
    # The same error while less than `needed` is free: a full disk.
    monkeypatch.setattr(storage, "free_bytes", lambda directory: 10)
    with pytest.raises(DiskFullError, match="has 10 B free, and this write needed about 1.0 kB"):
        with atomic_path(target, needed=1000) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("NetCDF: HDF error")
    assert _leftovers(tmp_path) == ["t.nc"] and target.read_text() == "old"


def test_figure_save_is_all_or_nothing(tmp_path, monkeypatch):
    """A PDF that fails leaves neither a temporary file nor a new PNG."""
    fig = style.new_figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    real = type(fig).savefig

    def savefig(self, fname, *args, format=None, **kwargs):
        if format == "pdf":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, fname, *args, format=format, **kwargs)

    monkeypatch.setattr(type(fig), "savefig", savefig)
    with pytest.raises(DiskFullError, match=str(tmp_path)):
        style.save(fig, tmp_path / "fig_J3.6")
    assert _leftovers(tmp_path) == []


def test_dataset_module_exports_the_error():
    assert dataset.DiskFullError is DiskFullError
    assert dataset.atomic_path is atomic_path


# --------------------------------------------------------------------------
# a real full filesystem: a 1 MiB tmpfs (needs root)


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs mounted on a fresh directory; unmounted afterwards."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        pytest.skip("no mount/umount command on this machine")
    mount = tmp_path / f"fs-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(directory, leave: int = 0) -> None:
    """Write a filler file until at most ``leave`` bytes are free."""
    fd = os.open(os.path.join(directory, "filler"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while shutil.disk_usage(directory).free > leave:
            step = min(64 * 1024, shutil.disk_usage(directory).free - leave)
            os.write(fd, b"\0" * max(step, 1))
    except OSError as error:
        assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)


@pytest.fixture(scope="module")
def trajectory():
    states = ["full", "classical", "quantum"]
    return qbsd.simulate(3, "linear", 2.0, 0.5, "relaxation", states, 10.0, 2001)


def _check(info, directory):
    text = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert "no space left on device" in text and f"{directory} has 0 B free" in text


def test_full_disk_every_writer(small_fs, trajectory):
    _fill(small_fs)
    assert shutil.disk_usage(small_fs).free == 0
    results = small_fs / "results"
    with pytest.raises(DiskFullError) as info:  # netCDF4 says "Permission denied" here
        qbsd.write_netcdf(trajectory, results / "trajectories" / "J3.6_g0.25.nc")
    _check(info, results / "trajectories")
    frame = pd.DataFrame({"J": np.linspace(0, 1, 20_000), "gamma12": 0.25})
    with pytest.raises(DiskFullError) as info:
        _atomic_csv(frame, results / "summary" / "half_lives.csv")
    _check(info, results / "summary")
    fig = style.new_figure()
    fig.add_subplot().plot(np.arange(10), np.arange(10) ** 2)
    with pytest.raises(DiskFullError) as info:
        style.save(fig, results / "figures" / "half_life_vs_n_J3.6")
    _check(info, results / "figures")
    csv = small_fs / "t.csv"  # the table page writer of the report
    (small_fs / "filler").unlink()
    frame.head(3).to_csv(csv, index=False)
    _fill(small_fs)
    with pytest.raises(DiskFullError) as info:
        plots.table_html_job(csv, results / "report" / "t.html", small_fs / "t.log")
    _check(info, results / "report")
    assert [f for f in _leftovers(small_fs) if f not in ("filler", "t.csv", "t.log")] == []


def test_disk_filling_during_a_trajectory_write(small_fs, trajectory):
    """The disk fills part-way: netCDF4 says "HDF error"; the error says no space."""
    _fill(small_fs, leave=100 * 1024)
    target = small_fs / "N3" / "J1e-07_g10.nc"
    with pytest.raises(DiskFullError) as info:
        qbsd.write_netcdf(trajectory, target)
    _check(info, target.parent)
    assert "this write needed about" in str(info.value)
    assert _leftovers(small_fs) == ["filler"]
    # Space freed, the same write succeeds and reads back.
    (small_fs / "filler").unlink()
    qbsd.write_netcdf(trajectory, target)
    back = dataset.read_netcdf(target)
    np.testing.assert_array_equal(back["energy"].values, trajectory["energy"].values)
    assert _leftovers(small_fs) == ["N3/J1e-07_g10.nc"]


def test_a_full_disk_log_never_hides_the_jobs_error(small_fs):
    _fill(small_fs)
    with pytest.raises(KeyError, match="the job's own error"):
        with storage.log_file(small_fs / "logs" / "failed.log") as out:
            out.write("x" * 10_000)
            raise KeyError("the job's own error")
    with pytest.raises(DiskFullError) as info:
        with storage.log_file(small_fs / "logs" / "done.log") as out:
            out.write("x" * 10_000)
    _check(info, small_fs / "logs")
