"""Reliability: interrupted runs, damaged files, numerical health,
reproducibility and concurrent writers. Bad input is in tests/test_config.py.

The slow tests share one study of 37 distinct points (N = 1..6, so N = 5 and
6 simulations are running when the run is killed): a clean run, and a run
that is SIGKILLed mid-sweep and resumed; everything else is in-process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from snakerun import snakemake_command as _snakemake_command

import qbsd
from qbsd import storage
from qbsd.config import load_study, read_config_file
from qbsd.dataset import read_netcdf, write_netcdf
from qbsd.results import LABEL_DIMS, ResultsError
from qbsd.workflow import (
    remove_stale_temporaries,
    settings_hash,
    simulate_point,
    summary_outputs,
    write_summaries,
)

REPO = Path(__file__).resolve().parents[1]

# Attributes that differ between two runs of the same config by design: when
# and from where (the working directory is in the command) it ran, timings, and
# the file's checksum, which covers those.
VOLATILE_ATTRS = ("history", "command", "solver_stats", "checksum")


# --------------------------------------------------------------------------
# helpers


def small_study(**solver):
    """Seven distinct points (N = 1, 2, 3; one channel): a second of simulation."""
    config = {
        "grid": {
            "n_cells": [1, 2, 3],
            "geometry": ["linear", "circular"],
            "J": [0.0, 2.0],
            "gamma12": [0.25],
            "channel": ["relaxation"],
        },
        "states": ["full", "quantum"],
        "time": {"t_max": 3.0, "n_points": 31},
        "paper_figures": False,
    }
    if solver:
        config["solver"] = solver
    return load_study(config)


def run_study(study, workdir: Path) -> Path:
    """What the workflow does, in-process: every simulate job, then summarise."""
    results = workdir / "results"
    for point in study.points.values():
        simulate_point(
            study.point_settings(point),
            workdir / point.path,
            results / "logs" / "simulate" / f"{point.id}.log",
            point_id=point.id,
        )
    outputs = summary_outputs(str(results))
    write_summaries(study, outputs, results=results, log=results / "logs" / "summarise.log")
    return results


def nc_files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.nc"))}


def assert_same_outputs(a: Path, b: Path) -> None:
    """Every NetCDF and CSV under results ``a`` equals its twin under ``b``; same file sets."""
    files_a, files_b = nc_files(a), nc_files(b)
    assert files_a.keys() == files_b.keys(), set(files_a) ^ set(files_b)
    for rel, path in files_a.items():
        with xr.open_dataset(path) as x, xr.open_dataset(files_b[rel]) as y:
            x, y = x.load(), y.load()
        xr.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-13)
        xa = {k: v for k, v in x.attrs.items() if k not in VOLATILE_ATTRS}
        ya = {k: v for k, v in y.attrs.items() if k not in VOLATILE_ATTRS}
        assert xa == ya, rel
    csv_a = sorted(str(p.relative_to(a)) for p in a.rglob("*.csv"))
    assert csv_a == sorted(str(p.relative_to(b)) for p in b.rglob("*.csv"))
    for rel in csv_a:
        pd.testing.assert_frame_equal(
            pd.read_csv(a / rel), pd.read_csv(b / rel), check_exact=False, rtol=1e-10
        )


def assert_nothing_partial(root: Path) -> None:
    """No temporary file anywhere under ``root`` and every NetCDF file opens in full."""
    leftovers = sorted(str(p) for p in root.rglob("*.part"))
    assert not leftovers, leftovers
    for path in root.rglob("*.nc"):
        read_netcdf(path)


@pytest.fixture(scope="module")
def small_results(tmp_path_factory) -> Path:
    return run_study(small_study(), tmp_path_factory.mktemp("small"))


@pytest.fixture
def results_copy(small_results, tmp_path) -> Path:
    copy = tmp_path / "results"
    shutil.copytree(small_results, copy)
    return copy


# --------------------------------------------------------------------------
# 2. interrupted and resumed runs (snakemake, SIGKILL)

STUDY = """
grid:
  n_cells: [1, 2, 3, 5, 6]
  geometry: [linear, circular, central]
  J: [1.0, 2.0]
  gamma12: [0.0, 0.25]
  channel: [relaxation]
states: [full, classical, quantum]
time:
  t_max: 4.0
  n_points: 101
unphysical: error
paper_figures: false
large_n: null
"""
N_POINTS = 37  # N = 1: 1; N = 2: 4; N = 3: 8 (chain, triangle); N = 5, 6: 12 each


def snakemake_command(workdir: Path, *args: str, config: str = "study.yaml") -> list[str]:
    return _snakemake_command(workdir, workdir / config, *args)


def snakemake(workdir: Path, *args: str, config: str = "study.yaml", env=None):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    command = snakemake_command(workdir, *args, config=config)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def job_counts(output: str) -> dict[str, int]:
    if "Job stats:" not in output:
        return {}
    table = output.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("clean")
    (workdir / "study.yaml").write_text(STUDY)
    done = snakemake(workdir, "--cores", "2", "summarise")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def _running_logs(results: Path) -> list[Path]:
    """Simulate logs of jobs that have started and not finished."""
    running = []
    for log in (results / "logs" / "simulate").rglob("*.log"):
        try:
            text = log.read_text()
        except OSError:
            continue
        if text and "wall time:" not in text:
            running.append(log)
    return running


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> dict:
    """The same study, SIGKILLed (snakemake's whole process group) while N >= 5 runs."""
    workdir = tmp_path_factory.mktemp("killed")
    (workdir / "study.yaml").write_text(STUDY)
    results = workdir / "results"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with open(workdir / "killed.out", "w") as out:  # its own process group: killed whole
        proc = subprocess.Popen(
            snakemake_command(workdir, "--cores", "2", "summarise"),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, "the run finished before it could be killed"
            assert time.monotonic() < deadline, "no N >= 5 simulation started in time"
            done = list((results / "trajectories").rglob("*.nc"))
            running = [p for p in _running_logs(results) if re.search(r"/N[56]/", str(p))]
            if running and 10 <= len(done) < N_POINTS - 4:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    state = {
        "workdir": workdir,
        "done": len(list((results / "trajectories").rglob("*.nc"))),
        "running": [str(p.relative_to(results)) for p in _running_logs(results)],
        "parts": sorted(str(p) for p in results.rglob("*.part")),
    }
    # every NetCDF file visible after the kill is a complete result
    for path in results.rglob("*.nc"):
        read_netcdf(path)
    return state


@pytest.fixture(scope="module")
def resumed_run(killed_run) -> Path:
    workdir = killed_run["workdir"]
    results = workdir / "results"
    # What SIGKILL can leave in a writer's place: a temporary sibling of an
    # output whose job had not finished (one next to a trajectory, one next to
    # a summary table). The resumed jobs must remove them.
    pending = sorted(
        p
        for p in (results / "logs" / "simulate").rglob("*.log")
        if "wall time:" not in p.read_text()
    )
    assert pending, "every simulation had finished: nothing left to resume"
    rel = pending[0].relative_to(results / "logs" / "simulate").with_suffix(".nc")
    planted = [
        results / "trajectories" / rel.parent / f".{rel.name}.x1y2z3.part",
        results / "summary" / ".half_lives.nc.a1b2c3.part",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89HDF\r\n\x1a\n truncated by SIGKILL")
    unlock = snakemake(workdir, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resume = snakemake(workdir, "--cores", "2", "--rerun-incomplete", "summarise")
    assert resume.returncode == 0, resume.stderr[-3000:]
    counts = job_counts(resume.stdout + resume.stderr)
    assert 0 < counts.get("simulate", 0) <= N_POINTS - killed_run["done"] + 2, counts
    return workdir


@pytest.mark.slow
@pytest.mark.workflow
def test_killed_run_leaves_no_partial_result(killed_run):
    assert killed_run["running"], "the kill did not hit a running simulation"
    assert 10 <= killed_run["done"] < N_POINTS
    # a temporary file, if SIGKILL left one, is hidden and never named like a result
    for part in killed_run["parts"]:
        assert Path(part).name.startswith(".") and part.endswith(".part")


@pytest.mark.slow
@pytest.mark.workflow
def test_resumed_run_equals_clean_run_and_leaves_nothing_partial(clean_run, resumed_run):
    clean, resumed = clean_run / "results", resumed_run / "results"
    assert len(list((resumed / "trajectories").rglob("*.nc"))) == N_POINTS
    assert_nothing_partial(resumed_run)  # the whole working directory
    assert_nothing_partial(clean_run)
    assert_same_outputs(clean, resumed)
    qbsd.open_results(resumed)  # the resumed sweep reloads in full


# --------------------------------------------------------------------------
# 5. reproducibility: equal numbers, provenance, rerun triggers


@pytest.mark.slow
@pytest.mark.workflow
def test_same_config_twice_gives_equal_numbers_and_provenance(clean_run, resumed_run):
    """Two runs of one config in two directories (one of them interrupted): same files."""
    assert_same_outputs(clean_run / "results", resumed_run / "results")
    # each trajectory carries what reproduces it
    for path in sorted((clean_run / "results" / "trajectories").rglob("*.nc"))[:5]:
        with xr.open_dataset(path) as ds:
            attrs = dict(ds.attrs)
        settings = json.loads(attrs["point_settings"])
        assert attrs["config_hash"] == settings_hash(settings)
        for key in ("channel", "n_cells", "edges", "J", "gamma12", "states"):
            assert key in settings
        assert settings["t_max"] == 4.0 and settings["n_points"] == 101
        assert settings["rtol"] == attrs["solver_rtol"] == 1e-8
        assert settings["atol"] == attrs["solver_atol"] == 1e-10
        versions = json.loads(attrs["versions"])
        assert {"qbsd", "qutip", "numpy", "scipy", "xarray", "netCDF4"} <= versions.keys()
        assert "snakemake" in attrs["command"] and str(clean_run) in attrs["command"]
        assert attrs["qbsd_version"] == versions["qbsd"]
    with xr.open_dataset(clean_run / "results" / "summary" / "half_lives.nc") as ds:
        attrs = dict(ds.attrs)
    assert json.loads(attrs["config"])["time"] == {"t_max": 4.0, "n_points": 101}
    assert attrs["config_hash"] and "snakemake" in attrs["command"] and attrs["versions"]


@pytest.mark.slow
@pytest.mark.workflow
def test_changed_parameters_and_version_rerun_the_affected_points(clean_run, tmp_path):
    # unchanged: nothing to do
    done = snakemake(clean_run, "-n", "--cores", "2", "summarise")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Nothing to be done" in done.stdout + done.stderr
    # t_max changes every trajectory: every point again
    (clean_run / "t_max.yaml").write_text(STUDY + "time:\n  t_max: 3.0\n  n_points: 101\n")
    done = snakemake(clean_run, "-n", "--cores", "2", "summarise", config="t_max.yaml")
    assert job_counts(done.stdout + done.stderr).get("simulate") == N_POINTS, done.stdout
    # one more J value: only the new points (and the summary), the rest is reused
    (clean_run / "more_j.yaml").write_text(STUDY.replace("J: [1.0, 2.0]", "J: [0.5, 1.0, 2.0]"))
    done = snakemake(clean_run, "-n", "--cores", "2", "summarise", config="more_j.yaml")
    counts = job_counts(done.stdout + done.stderr)
    new_points = len(load_study(read_config_file(clean_run / "more_j.yaml")).points)
    assert counts == {"simulate": new_points - N_POINTS, "summarise": 1, "total": counts["total"]}
    # a new qbsd version (the simulate rule's params): every point again
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.metadata as m\n"
        "_version = m.version\n"
        "m.version = lambda name: '99.0' if name == 'qbsd' else _version(name)\n"
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    done = snakemake(clean_run, "-n", "--cores", "2", "summarise", env={"PYTHONPATH": path})
    assert job_counts(done.stdout + done.stderr).get("simulate") == N_POINTS, done.stdout


# --------------------------------------------------------------------------
# stale temporaries (what a SIGKILL between mkstemp and rename leaves)


def test_a_job_removes_the_temporaries_a_killed_writer_left(tmp_path):
    study = small_study()
    point = next(iter(study.points.values()))
    output = tmp_path / point.path
    output.parent.mkdir(parents=True)
    stale = output.parent / f".{output.name}.k1ll3d.part"
    other = output.parent / f".other_{output.name}.k1ll3d.part"  # another output's: kept
    for path in (stale, other):
        path.write_bytes(b"partial")
    simulate_point(study.point_settings(point), output, tmp_path / "x.log", point_id=point.id)
    assert not stale.exists() and other.exists() and output.exists()
    assert "removed a temporary file" in (tmp_path / "x.log").read_text()
    assert remove_stale_temporaries(tmp_path / "nowhere" / "x.nc") == []


# --------------------------------------------------------------------------
# 3. damaged files on reload


def test_intact_results_open_with_health_flags(small_results):
    res = qbsd.open_results(small_results)
    assert int(res["requested"].sum()) == 3 * 2 * 2  # every label, 7 distinct points
    assert "health_ok" in res
    for kind in ("half_lives", "xi0_scaling", "quantumness"):
        frame = pd.read_csv(small_results / "summary" / f"{kind}.csv")
        assert frame["health_ok"].all(), kind


def _a_trajectory(results: Path) -> tuple[str, Path]:
    manifest = pd.read_csv(results / "summary" / "labels.csv")
    rel = manifest.loc[manifest["n_cells"] == 3, "trajectory"].iloc[0]
    return rel, results / rel


def _assert_names_file_and_command(message: str, path: Path, rel: str, force: bool) -> None:
    assert str(path) in message, message
    assert f"snakemake --cores 2{' --force' if force else ''} results/{rel}" in message, message
    assert f"run in {path.parents[len(Path(rel).parts)].resolve()}" in message, message


def _label_of(results: Path, rel: str) -> dict:
    """The label axes of the first label that ``rel`` serves."""
    manifest = pd.read_csv(results / "summary" / "labels.csv")
    row = manifest[manifest["trajectory"] == rel].iloc[0]
    return {dim: row[dim] for dim in LABEL_DIMS}


def _read_error(res: xr.Dataset, label: dict) -> str:
    """The message computing ``label``'s energy raises (it must raise ResultsError)."""
    with pytest.raises(ResultsError) as caught:
        res["energy"].sel(**label).values  # noqa: B018 - computing is the point
    return str(caught.value)


def test_truncated_trajectory_is_named_when_its_data_is_read(results_copy):
    """Opening reads no trajectory; the first read of a damaged one names it, and no
    computation that needs its numbers returns any; the other files still read."""
    rel, path = _a_trajectory(results_copy)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    res = qbsd.open_results(results_copy)
    message = _read_error(res, _label_of(results_copy, rel))
    _assert_names_file_and_command(message, path, rel, force=True)
    assert "damaged or truncated" in message and "n_cells=3" in message
    with pytest.raises(ResultsError, match=re.escape(str(path))):
        float(res["ergotropy"].sel(n_cells=3).mean())
    with pytest.raises(ResultsError, match=re.escape(str(path))):
        res.compute()
    assert np.isfinite(res["ergotropy"].sel(n_cells=[1, 2]).values).all()
    with pytest.raises(ResultsError, match=re.escape(str(path))):  # all checked up front
        qbsd.open_results(results_copy, verify=True)


def _header_opens(path: Path) -> bool:
    try:
        xr.open_dataset(path, engine="netcdf4", chunks={}).close()
    except Exception:  # noqa: BLE001 - any failure to open counts
        return False
    return True


def _energy_chunk(path: Path, tmp: Path) -> int:
    """Rewrite ``path`` (same content); the offset of the middle of its ``energy`` chunk.

    Found without HDF5 internals: two writes of the dataset that differ only in
    the energy values differ in the bytes of that chunk (the longest run of
    differing bytes) and in the 64 hex digits of the checksum attribute.
    """
    ds = read_netcdf(path)
    write_netcdf(ds, path)
    a = path.read_bytes()
    # compressed sizes differ now and then by a byte: take a variant of equal size
    for scale in (1.7, 1.3, 2.1, 0.9, 1.1, 3.3, 0.7, 1.9, 2.7, 1.05):
        write_netcdf(ds.assign(energy=ds["energy"] * scale + 0.3), tmp)
        b = tmp.read_bytes()
        if len(a) == len(b):
            break
    assert len(a) == len(b)
    differ = np.flatnonzero(np.frombuffer(a, np.uint8) != np.frombuffer(b, np.uint8))
    breaks = np.flatnonzero(np.diff(differ) > 8)
    starts = np.concatenate([[differ[0]], differ[breaks + 1]])
    stops = np.concatenate([differ[breaks], [differ[-1]]])
    longest = int(np.argmax(stops - starts))
    assert stops[longest] - starts[longest] >= 100
    return int(starts[longest] + stops[longest]) // 2


def test_corrupted_trajectory_is_named_when_its_data_is_read(results_copy, tmp_path):
    """Overwritten bytes: never wrong numbers, and the file is named when first read.

    16 bytes overwritten at 48 places in turn either change nothing (unused
    space) or fail to read (HDF5 errors, Fletcher-32 chunk checksums, the
    file's content checksum). Bytes inside a data chunk leave the header
    intact, so a lazy open of the file alone would return the other variables;
    open_results reads each file whole, checksum included, when a value of it
    is first computed, and names it; so it does for a damaged header.
    """
    rel, path = _a_trajectory(results_copy)
    chunk = _energy_chunk(path, tmp_path / "other.nc")
    original = read_netcdf(path)
    data = path.read_bytes()

    def overwrite(offset: int) -> None:
        # A new inode each time: HDF5 keeps a file whose read failed open and would
        # serve its cached metadata for the same inode (a regenerated file is new).
        bad = bytearray(data)
        bad[offset : offset + 16] = bytes(16 * [0xA5])
        path.with_suffix(".tmp").write_bytes(bytes(bad))
        os.replace(path.with_suffix(".tmp"), path)

    for k in range(48):
        overwrite(len(data) * (2 * k + 1) // 96)
        try:
            values = read_netcdf(path)
        except Exception:  # noqa: BLE001, S112 - HDF5 reports damage as it likes
            continue
        xr.testing.assert_identical(values, original)  # untouched numbers, never wrong ones

    label = _label_of(results_copy, rel)
    for offset, where in ((chunk, "data"), (8, "header")):
        overwrite(offset)
        assert _header_opens(path) == (where == "data")
        if where == "data":
            with xr.open_dataset(path, chunks={}) as lazy, pytest.raises(Exception):  # noqa: B017
                lazy["energy"].load()  # what a lazy open alone would hit later
        res = qbsd.open_results(results_copy)  # reads no trajectory
        for name in ("energy", "population"):  # the damaged energy chunk or not
            with pytest.raises(ResultsError) as caught:
                res[name].sel(**label).values  # noqa: B018 - computing is the point
            message = str(caught.value)
            _assert_names_file_and_command(message, path, rel, force=True)
            assert "damaged or truncated" in message
    write_netcdf(original, path)  # what the suggested command does: then it reads again
    res = qbsd.open_results(results_copy)
    np.testing.assert_array_equal(
        res["energy"].sel(**label).values, original["energy"].sel(state=res["state"]).values
    )


def test_missing_trajectory_is_reported_not_nan(results_copy):
    rel, path = _a_trajectory(results_copy)
    res = qbsd.open_results(results_copy)
    path.unlink()
    with pytest.raises(ResultsError) as caught:  # at open time: one stat per file
        qbsd.open_results(results_copy)
    message = str(caught.value)
    _assert_names_file_and_command(message, path, rel, force=False)
    assert "is missing" in message and "requested label" in message
    message = _read_error(res, _label_of(results_copy, rel))  # gone since it was opened
    _assert_names_file_and_command(message, path, rel, force=False)
    assert "is missing" in message


def test_summary_table_lacking_a_label_is_reported(results_copy):
    table = results_copy / "summary" / "half_lives.csv"
    frame = pd.read_csv(table)
    frame.iloc[1:].to_csv(table, index=False)
    with pytest.raises(ResultsError) as caught:
        qbsd.open_results(results_copy)
    message = str(caught.value)
    assert str(table) in message and "lacks 1 row" in message
    assert "--force results/summary/half_lives.csv" in message


_REOPEN = """
import gc, sys
import qbsd
from qbsd.dataset import read_netcdf
first = qbsd.open_results(sys.argv[1])
float(first["energy"].sum())              # the first handles have read data
second = qbsd.open_results(sys.argv[1], verify=True)  # opens and closes more handles
float(second["energy"].sum())
del first
gc.collect()                              # closes the first handles
third = qbsd.open_results(sys.argv[1])
read_netcdf(sys.argv[2])                  # a whole file, while it is open lazily
print("ok")
"""


def test_reopening_an_open_sweep_does_not_crash(small_results):
    """netCDF-C/HDF5 crash (SIGSEGV) reopening a file another handle holds open when it
    has variable-length strings (Unidata/netcdf4-python#1444); qbsd writes text as
    characters, so a notebook can call open_results again. In a subprocess: a crash
    would take pytest down.
    """
    _, path = _a_trajectory(small_results)
    done = subprocess.run(
        [sys.executable, "-c", _REOPEN, str(small_results), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.split() == ["ok"], (done.returncode, done.stderr)


# --------------------------------------------------------------------------
# 4. numerical health: a loose tolerance trips the flag, through to the summary


def test_loose_tolerance_trips_the_health_flag_through_to_the_summary(tmp_path, capfd):
    loose = small_study(rtol=1e-2, atol=1e-2, method="adams")
    results = run_study(loose, tmp_path)
    err = capfd.readouterr().err
    assert "WARNING: numerical health of point relaxation/N3/" in err
    assert "min_eigenvalue" in err and "health_ok = False" in err
    logs = {
        p.relative_to(results / "logs" / "simulate"): p.read_text()
        for p in (results / "logs" / "simulate").rglob("*.log")
    }
    assert any("health: WARNING" in text for text in logs.values())
    assert any("health: OK" in text for text in logs.values())  # N = 1 stays exact
    half = pd.read_csv(results / "summary" / "half_lives.csv")
    assert not half.loc[half["n_cells"] == 3, "health_ok"].all()
    assert half.loc[half["n_cells"] == 1, "health_ok"].all()
    for kind in ("xi0_scaling", "quantumness"):
        frame = pd.read_csv(results / "summary" / f"{kind}.csv")
        pd.testing.assert_series_equal(frame["health_ok"], half["health_ok"])
    with xr.open_dataset(results / "summary" / "half_lives.nc") as ds:
        assert int(ds["health_ok"].min()) == 0
    assert "WARNING" in (results / "logs" / "summarise.log").read_text()
    res = qbsd.open_results(results)
    assert float(res["health_ok"].min()) == 0.0


# --------------------------------------------------------------------------
# 6. concurrency


def test_concurrent_writers_never_share_a_temporary_file(small_results, tmp_path, monkeypatch):
    _, path = _a_trajectory(small_results)
    base = read_netcdf(path)
    versions = [base.assign(energy=base["energy"] + k) for k in range(6)]
    names: list[str] = []
    mkstemp = storage.tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):
        fd, name = mkstemp(*args, **kwargs)
        names.append(name)
        return fd, name

    monkeypatch.setattr(storage.tempfile, "mkstemp", recording_mkstemp)
    jobs = [(ds, tmp_path / "many" / f"point{k}.nc") for k, ds in enumerate(versions)]
    jobs += [(ds, tmp_path / "one" / "same.nc") for ds in versions]  # one target, 6 writers
    jobs += [(None, path)] * 4  # readers at the same time
    start = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def work(ds, target):
        try:
            start.wait()
            for _ in range(3):
                write_netcdf(ds, target) if ds is not None else read_netcdf(target)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(names) == len(set(names)) == 12 * 3
    assert not list(tmp_path.rglob("*.part"))
    for k, ds in enumerate(versions):
        xr.testing.assert_identical(read_netcdf(tmp_path / "many" / f"point{k}.nc"), ds)
    same = read_netcdf(tmp_path / "one" / "same.nc")
    assert any(same.identical(ds) for ds in versions)  # one whole writer's file, never a mix


_ENV_PROBE = """
import importlib.abc, os, sys
seen = {}
class Probe(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in ("netCDF4", "h5py") and name not in seen:
            seen[name] = os.environ.get("HDF5_USE_FILE_LOCKING")
sys.meta_path.insert(0, Probe())
import qbsd
import netCDF4
print(os.environ.get("HDF5_USE_FILE_LOCKING"), seen["netCDF4"])
"""


@pytest.mark.parametrize(("user", "expected"), [(None, "FALSE"), ("TRUE", "TRUE")])
def test_hdf5_file_locking_is_off_before_hdf5_loads_unless_the_user_set_it(user, expected):
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    if user is not None:
        env["HDF5_USE_FILE_LOCKING"] = user
    done = subprocess.run(
        [sys.executable, "-c", _ENV_PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # the value when qbsd is imported, and when netCDF4 (HDF5) is first loaded
    assert done.stdout.split() == [expected, expected]


def test_editing_the_physics_changes_the_code_version(tmp_path, monkeypatch):
    """The simulate rule's `code_version` param: an edit of a physics module reruns points."""
    import qbsd.workflow as workflow

    package = Path(workflow.__file__).parent
    copy = tmp_path / "qbsd"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(workflow, "__file__", str(copy / "workflow.py"))
    before = workflow.code_version()
    assert before.startswith(workflow.qbsd_version() + "+")
    (copy / "plots.py").write_text("# figures do not change trajectories\n")
    assert workflow.code_version() == before
    with open(copy / "observables.py", "a") as source:
        source.write("\n# an edit of the physics\n")
    assert workflow.code_version() != before
