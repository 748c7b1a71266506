"""Reliability: interrupted runs, dead workers, damaged files, numerical health,
reproducibility and concurrent writers. Bad input is in tests/test_config.py.

The slow tests share one study of 37 distinct points in 6 batches (N = 1..6,
so N = 5 and 6 simulations are running when a run is stopped): a clean run;
runs that are SIGKILLed, SIGTERMed or SIGINTed mid-sweep and resumed; a grown
grid. Everything else is in-process.
"""

from __future__ import annotations

import hashlib
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
import yaml
from snakerun import job_counts as _job_counts
from snakerun import snakemake_command as _snakemake_command

import qbsd
from qbsd import storage
from qbsd.batches import plan
from qbsd.config import load_study
from qbsd.dataset import read_netcdf, write_netcdf
from qbsd.jobs import shutdown_pool, simulate_batch
from qbsd.results import LABEL_DIMS, ResultsError
from qbsd.workflow import (
    code_version,
    remove_stale_temporaries,
    settings_hash,
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
    """What the workflow does, in-process: every batch job, then summarise."""
    results = workdir / "results"
    version = code_version()
    for batch in plan(study):
        simulate_batch(
            [study.point_settings(p) for p in batch.points],
            [str(workdir / path) for path in batch.paths],
            results / "logs" / "simulate" / f"{batch.name}.log",
            point_ids=[p.id for p in batch.points],
            code_version=version,
            processes=0,
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


# --------------------------------------------------------------------------
# 2. interrupted and resumed runs (snakemake: SIGKILL, SIGTERM, SIGINT, a dead worker)
#
# Simulations run in batches (qbsd.batches): one snakemake job computes its
# points one after another and writes each trajectory atomically as soon as it
# is done. A resume therefore recomputes only the points not yet written: the
# interrupted batch jobs run again (rerun-incomplete) and keep every
# trajectory already there (same settings, same code version); no trajectory
# written before the interruption is rewritten. The tests below check exactly
# that, on the files (inode, bytes, mtime) and on the batch logs' "kept" lines.

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
extension_figures: false
large_n: null
"""
N_POINTS = 37  # N = 1: 1; N = 2: 4; N = 3: 8 (chain, triangle); N = 5, 6: 12 each

#: How long SIGTERM or SIGINT may take to stop a running sweep.
STOP_SECONDS = 30

_EVENT = re.compile(r"^point (\S+): (started|wrote|kept|FAILED|STOPPED)\b", re.M)


def study_of(text: str):
    return load_study(yaml.safe_load(text))


def n_batches(text: str = STUDY) -> int:
    """Batch jobs of a study: several per N, far fewer than points (qbsd.batches)."""
    count = len(plan(study_of(text)))
    assert 1 < count < len(study_of(text).points)
    return count


def snakemake_command(workdir: Path, *args: str, config: str = "study.yaml") -> list[str]:
    return _snakemake_command(workdir, workdir / config, *args)


def snakemake(workdir: Path, *args: str, config: str = "study.yaml", env=None):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    command = snakemake_command(workdir, *args, config=config)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def start_snakemake(workdir: Path, *args: str, config: str = "study.yaml") -> subprocess.Popen:
    """``snakemake ARGS`` in the background, in its own session (process group)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with open(workdir / "run.out", "w") as out:
        return subprocess.Popen(
            snakemake_command(workdir, *args, config=config),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def job_counts(output: str) -> dict[str, int]:
    return _job_counts(output) if "Job stats:" in output else {}


def batch_rules(counts: dict[str, int]) -> set[str]:
    return {rule for rule in counts if rule.startswith("simulate_")}


def point_events(results: Path) -> dict[str, dict[str, str]]:
    """Per batch log (rule name): each point's last event (started, wrote, kept, ...)."""
    events = {}
    for log in sorted((results / "logs" / "simulate").glob("simulate_*.log")):
        try:
            text = log.read_text()
        except OSError:
            continue
        events[log.stem] = {point: event for point, event in _EVENT.findall(text)}
    return events


def running_points(results: Path) -> dict[str, list[str]]:
    """Per batch log: the points that have started and neither been written nor failed."""
    running = {}
    for batch, events in point_events(results).items():
        points = [p for p, event in events.items() if event == "started"]
        if points:
            running[batch] = points
    return running


def point_of(trajectory: str) -> str:
    """A point's identifier: its trajectory's path under results/, without the suffix."""
    return trajectory.removeprefix("trajectories/").removesuffix(".nc")


def trajectory_files(results: Path) -> dict[str, tuple[int, int, str]]:
    """Per trajectory (its path under results/): inode, mtime (ns) and a digest of its bytes.

    A trajectory is only ever replaced whole (written beside it, then renamed
    over it), so a rewritten file has a new inode and new bytes (its history
    and checksum attributes change). Snakemake touches every output of a job
    that succeeds: a trajectory kept by a batch job that ran again has a new
    mtime, and nothing else new.
    """
    files = {}
    for path in (results / "trajectories").rglob("*.nc"):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files[str(path.relative_to(results))] = (stat.st_ino, stat.st_mtime_ns, digest)
    return files


def assert_not_rewritten(before: dict, after: dict, touched: set[str] = frozenset()) -> None:
    """Every trajectory of ``before`` is the same file in ``after`` (inode and bytes), with
    the same mtime unless its batch job ran again and kept it (``touched``: point ids)."""
    for rel, (inode, mtime, digest) in before.items():
        assert rel in after, f"{rel} was deleted"
        assert after[rel][::2] == (inode, digest), f"{rel} was rewritten"
        if point_of(rel) not in touched:
            assert after[rel][1] == mtime, f"{rel} was touched by a job that did not run"


def wait_for(proc: subprocess.Popen, condition, what: str, timeout: float = 300):
    """Poll ``condition()`` until it returns something true; the run must still be going."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        found = condition()
        if found:
            return found
        time.sleep(0.02)


def live_processes(group: int) -> list[str]:
    """Processes of process group ``group`` that are still running (zombies aside)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = text.rsplit(")", 1)[1].split()[:3]
        if int(pgrp) == group and state != "Z":
            alive.append(text.split(")", 1)[0] + ")")
    return alive


def assert_every_trajectory_reads(results: Path) -> None:
    """Every visible trajectory is complete: it reads in full and matches its checksum."""
    for path in (results / "trajectories").rglob("*.nc"):
        read_netcdf(path)


def assert_resume_recomputed_only_what_was_missing(
    results: Path, before: dict, logs_before: dict[str, str]
) -> None:
    """After a resume: the trajectories there before are the same files, kept by the
    batches that ran again, and exactly the missing points were computed."""
    after = trajectory_files(results)
    assert len(after) == N_POINTS
    written_before = {point_of(rel) for rel in before}
    computed, kept = set(), set()
    for batch, events in point_events(results).items():
        log = results / "logs" / "simulate" / f"{batch}.log"
        if log.read_text() == logs_before.get(batch):
            continue  # a batch that did not run again
        computed |= {p for p, event in events.items() if event == "wrote"}
        kept |= {p for p, event in events.items() if event == "kept"}
    missing = {point_of(rel) for rel in after} - written_before
    assert computed == missing, sorted(computed ^ missing)
    assert kept <= written_before
    assert_not_rewritten(before, after, touched=kept)


def batch_logs(results: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in (results / "logs" / "simulate").glob("*.log")}


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("clean")
    (workdir / "study.yaml").write_text(STUDY)
    done = snakemake(workdir, "--cores", "2", "summarise")
    assert done.returncode == 0, done.stderr[-3000:]
    counts = job_counts(done.stdout + done.stderr)
    assert counts["simulate"] == n_batches(), counts
    return workdir


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> dict:
    """The same study, SIGKILLed (snakemake's whole process group) while N >= 5 runs."""
    workdir = tmp_path_factory.mktemp("killed")
    (workdir / "study.yaml").write_text(STUDY)
    results = workdir / "results"
    proc = start_snakemake(workdir, "--cores", "2", "summarise")

    def mid_sweep():
        done = list((results / "trajectories").rglob("*.nc"))
        running = [b for b in running_points(results) if re.search(r"_N[56]_", b)]
        return running and 10 <= len(done) < N_POINTS - 4

    try:
        wait_for(proc, mid_sweep, "N >= 5 simulation mid-sweep")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # every NetCDF file visible after the kill is a complete result
    assert_every_trajectory_reads(results)
    return {
        "workdir": workdir,
        "trajectories": trajectory_files(results),
        "running": running_points(results),
        "parts": sorted(str(p) for p in results.rglob("*.part")),
        "logs": batch_logs(results),
    }


@pytest.fixture(scope="module")
def resumed_run(killed_run) -> Path:
    workdir = killed_run["workdir"]
    results = workdir / "results"
    # What SIGKILL can leave in a writer's place: a temporary sibling of an
    # output whose job had not finished (one next to a trajectory, one next to
    # a summary table). The resumed jobs must remove them.
    point = next(iter(killed_run["running"].values()))[0]
    target = results / "trajectories" / f"{point}.nc"
    assert not target.exists()
    planted = [
        target.parent / f".{target.name}.x1y2z3.part",
        results / "summary" / ".half_lives.nc.a1b2c3.part",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x89HDF\r\n\x1a\n truncated by SIGKILL")
    unlock = snakemake(workdir, "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    resume = snakemake(workdir, "--cores", "2", "--rerun-incomplete", "summarise")
    assert resume.returncode == 0, resume.stderr[-3000:]
    # the batches that had not finished run again. A batch that finished its
    # points just before the kill, before snakemake recorded the job as done,
    # runs again too and keeps them all (the tests below check that nothing
    # but the missing points is computed).
    counts = job_counts(resume.stdout + resume.stderr)
    finished = {b for b, log in killed_run["logs"].items() if "\nbatch: " in log}
    unfinished = {b.name for b in plan(study_of(STUDY))} - finished
    assert unfinished <= batch_rules(counts), counts
    return workdir


@pytest.mark.slow
@pytest.mark.workflow
def test_killed_run_leaves_no_partial_result(killed_run):
    assert killed_run["running"], "the kill did not hit a running simulation"
    assert 10 <= len(killed_run["trajectories"]) < N_POINTS
    # a temporary file, if SIGKILL left one, is hidden and never named like a result
    for part in killed_run["parts"]:
        assert Path(part).name.startswith(".") and part.endswith(".part")


@pytest.mark.slow
@pytest.mark.workflow
def test_resumed_run_equals_clean_run_and_recomputes_only_the_missing_points(
    clean_run, killed_run, resumed_run
):
    clean, resumed = clean_run / "results", resumed_run / "results"
    assert_resume_recomputed_only_what_was_missing(
        resumed, killed_run["trajectories"], killed_run["logs"]
    )
    assert_nothing_partial(resumed_run)  # the whole working directory
    assert_nothing_partial(clean_run)
    assert_same_outputs(clean, resumed)
    qbsd.open_results(resumed)  # the resumed sweep reloads in full


@pytest.mark.slow
@pytest.mark.workflow
@pytest.mark.parametrize(
    ("signum", "whole_group"),
    [
        (signal.SIGTERM, False),  # timeout, kill, CI runners, cluster time limits
        (signal.SIGINT, False),  # kill -INT on the snakemake process
        (signal.SIGINT, True),  # Ctrl-C in a terminal: the whole process group
    ],
    ids=["SIGTERM", "SIGINT", "Ctrl-C"],
)
def test_a_signal_stops_the_sweep_and_the_next_run_resumes(
    clean_run, tmp_path, signum, whole_group
):
    """The run stops within STOP_SECONDS; the interrupted batch keeps the points it had
    written, nothing partial is visible, and the next run completes only the rest."""
    workdir = tmp_path
    (workdir / "study.yaml").write_text(STUDY)
    results = workdir / "results"
    proc = start_snakemake(workdir, "--cores", "2", "summarise")

    def a_batch_mid_way():
        events = point_events(results)
        return [
            b
            for b, points in running_points(results).items()
            if "wrote" in events[b].values() and re.search(r"_N[56]_", b)
        ]

    try:
        (batch, *_) = wait_for(proc, a_batch_mid_way, "N >= 5 batch half-way")
        written = {p for p, e in point_events(results)[batch].items() if e == "wrote"}
        sent = time.monotonic()
        if whole_group:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        proc.wait(timeout=120)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = (workdir / "run.out").read_text()
    print(f"{signal.Signals(signum).name} stopped the sweep in {seconds:.1f} s")
    assert seconds < STOP_SECONDS, output[-3000:]
    assert proc.returncode != 0
    time.sleep(1)
    assert not live_processes(proc.pid), live_processes(proc.pid)  # no worker outlives it

    # nothing partial is visible, and the interrupted batch kept what it had written
    assert_every_trajectory_reads(results)
    before = trajectory_files(results)
    assert {f"trajectories/{p}.nc" for p in written} <= before.keys(), output[-3000:]
    assert len(before) < N_POINTS
    logs = batch_logs(results)
    assert "STOPPED by a signal" in logs[batch]

    if any((workdir / ".snakemake" / "locks").glob("*")):
        unlock = snakemake(workdir, "--unlock")
        assert unlock.returncode == 0, unlock.stderr[-2000:]
    resume = snakemake(workdir, "--cores", "2", "summarise")
    assert resume.returncode == 0, resume.stderr[-3000:]
    assert_resume_recomputed_only_what_was_missing(results, before, logs)
    assert_nothing_partial(workdir)
    assert_same_outputs(clean_run / "results", results)


# A study of four N = 5 points: one batch of a few seconds per point.
CRASH_STUDY = """
grid:
  n_cells: [5]
  geometry: [linear, circular]
  J: [1.0, 2.0]
  gamma12: [0.0]
  channel: [relaxation]
states: [full, classical, quantum]
time:
  t_max: 4.0
  n_points: 101
paper_figures: false
extension_figures: false
large_n: null
"""


def kill_worker_of_second_point(log: Path, proc: subprocess.Popen | None = None) -> str:
    """SIGKILL the worker process computing the batch's second point (what the
    kernel's out-of-memory killer does); return that point's identifier."""
    started = re.compile(r"^point (\S+): started \(pid (\d+)\)$", re.M)

    def second_started():
        found = started.findall(log.read_text()) if log.exists() else []
        return found[1] if len(found) > 1 else None

    if proc is None:
        deadline = time.monotonic() + 120
        while not (found := second_started()):
            assert time.monotonic() < deadline, "the second point did not start"
            time.sleep(0.01)
    else:
        found = wait_for(proc, second_started, "second point of the batch", timeout=120)
    point, pid = found
    assert int(pid) != os.getpid()  # a worker, never this process
    os.kill(int(pid), signal.SIGKILL)
    return point


def test_a_dead_worker_fails_its_batch_naming_the_point_and_the_rest_is_written(tmp_path):
    """In-process: the pool is rebuilt after the death, so the later points still run."""
    study = study_of(CRASH_STUDY)
    (batch,) = plan(study)
    points = list(batch.points)
    assert len(points) == 4
    log = tmp_path / "batch.log"
    outputs = [str(tmp_path / p.path) for p in points]
    errors: list[BaseException] = []

    def run():
        try:
            simulate_batch(
                [study.point_settings(p) for p in points],
                outputs,
                log,
                point_ids=[p.id for p in points],
                code_version=code_version(),
                processes=1,
            )
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        victim = kill_worker_of_second_point(log)
    finally:
        thread.join(timeout=300)
        shutdown_pool()
    assert victim == points[1].id
    (error,) = errors
    assert isinstance(error, RuntimeError) and victim in str(error) and str(log) in str(error)
    text = log.read_text()
    died = f"RuntimeError('the worker process computing point {victim} died"
    assert f"point {victim}: FAILED: {died}" in text
    assert "batch: 3 computed, 0 kept, 1 failed" in text
    for point, output in zip(points, outputs, strict=True):
        assert Path(output).exists() == (point.id != victim), point.id
        if point.id != victim:
            read_netcdf(output)
    assert not list(tmp_path.rglob("*.part"))


@pytest.mark.slow
@pytest.mark.workflow
def test_a_dead_worker_fails_the_batch_job_and_keeps_its_other_points(tmp_path):
    """Through snakemake: the failed batch job keeps the points it wrote, and the next
    run computes only the point whose worker died."""
    (tmp_path / "study.yaml").write_text(CRASH_STUDY)
    (batch,) = plan(study_of(CRASH_STUDY))
    results = tmp_path / "results"
    log = results / "logs" / "simulate" / f"{batch.name}.log"
    proc = start_snakemake(tmp_path, "--cores", "2", "summarise")
    try:
        victim = kill_worker_of_second_point(log, proc)
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = (tmp_path / "run.out").read_text()
    assert proc.returncode != 0, output[-3000:]
    assert f"point {victim}: FAILED" in log.read_text()
    assert victim in output  # the console names it too
    before = trajectory_files(results)
    assert sorted(before) == sorted(
        str(Path(p).relative_to("results")) for p in batch.paths if victim not in p
    ), output[-3000:]
    assert_every_trajectory_reads(results)
    logs = batch_logs(results)

    again = snakemake(tmp_path, "--cores", "2", "summarise", config="study.yaml")
    assert again.returncode == 0, again.stderr[-3000:]
    after = trajectory_files(results)
    assert sorted(after) == sorted(str(Path(p).relative_to("results")) for p in batch.paths)
    assert_not_rewritten(before, after, touched={point_of(rel) for rel in before})
    assert "batch: 1 computed, 3 kept, 0 failed" in log.read_text()
    assert logs[batch.name] != log.read_text()
    assert_nothing_partial(tmp_path)


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
    # t_max changes every trajectory: every batch again
    t_max = STUDY + "time:\n  t_max: 3.0\n  n_points: 101\n"
    (clean_run / "t_max.yaml").write_text(t_max)
    done = snakemake(clean_run, "-n", "--cores", "2", "summarise", config="t_max.yaml")
    rerun = batch_rules(job_counts(done.stdout + done.stderr))
    assert rerun == {b.name for b in plan(study_of(t_max))}, done.stdout
    # a new qbsd version (in every batch rule's params): every batch again
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.metadata as m\n"
        "_version = m.version\n"
        "m.version = lambda name: '99.0' if name == 'qbsd' else _version(name)\n"
    )
    path = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    done = snakemake(clean_run, "-n", "--cores", "2", "summarise", env={"PYTHONPATH": path})
    rerun = batch_rules(job_counts(done.stdout + done.stderr))
    assert rerun == {b.name for b in plan(study_of(STUDY))}, done.stdout

    # One more J value, run for real (in a copy: the other tests compare clean_run):
    # only the batches whose point set changed run again, they compute exactly the
    # new points, and they keep every old trajectory, which stays untouched.
    grown = tmp_path / "grown"
    shutil.copytree(clean_run, grown, symlinks=True)  # copy2: mtimes kept
    more_j = STUDY.replace("J: [1.0, 2.0]", "J: [0.5, 1.0, 2.0]")
    (grown / "more_j.yaml").write_text(more_j)
    old, new = study_of(STUDY), study_of(more_j)
    # a batch job runs again unless an old one had exactly its points (under any name:
    # then its params, the digest of those points' settings, are unchanged)
    old_batches = {tuple(b.paths) for b in plan(old)}
    changed = {b.name for b in plan(new) if tuple(b.paths) not in old_batches}
    assert changed and changed != {b.name for b in plan(new)}  # some batches unchanged
    results = grown / "results"
    before = trajectory_files(results)
    assert len(before) == N_POINTS
    done = snakemake(grown, "--cores", "2", "summarise", config="more_j.yaml")
    assert done.returncode == 0, done.stderr[-3000:]
    counts = job_counts(done.stdout + done.stderr)
    assert batch_rules(counts) == changed, counts
    assert counts["total"] == len(changed) + 1  # and the summary
    after = trajectory_files(results)
    new_points = {p.id for p in new.points.values()} - {p.id for p in old.points.values()}
    assert len(after) == len(new.points) == N_POINTS + len(new_points)
    rerun = {p.id for b in plan(new) if b.name in changed for p in b.points}
    assert_not_rewritten(before, after, touched=rerun - new_points)
    events = point_events(results)
    for batch in plan(new):
        if batch.name not in changed:
            continue
        expected = {p.id: ("wrote" if p.id in new_points else "kept") for p in batch.points}
        assert events[batch.name] == expected, batch.name
    assert_nothing_partial(grown)


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
    simulate_batch(
        [study.point_settings(point)],
        [str(output)],
        tmp_path / "x.log",
        point_ids=[point.id],
        code_version=code_version(),
    )
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
    assert any(": health WARNING: numerical health" in text for text in logs.values())
    assert any(": health OK" in text for text in logs.values())  # N = 1 stays exact
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
    """The batch rules' `code_version` param: an edit of a physics source reruns points,
    in a top-level module or in a physics subpackage; figures and glue do not."""
    import qbsd.workflow as workflow

    package = Path(workflow.__file__).parent
    copy = tmp_path / "qbsd"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(workflow, "__file__", str(copy / "workflow.py"))
    before = workflow.code_version()
    assert before.startswith(workflow.qbsd_version() + "+")
    for glue in ("plots/__init__.py", "batches.py", "jobs.py", "results.py"):
        with open(copy / glue, "a") as source:
            source.write("\n# figures and workflow glue do not change trajectories\n")
    assert workflow.code_version() == before
    versions = {before}
    for physics in ("observables/events.py", "dynamics/sector.py", "simulate.py"):
        with open(copy / physics, "a") as source:
            source.write("\n# an edit of the physics\n")
        versions.add(workflow.code_version())
    assert len(versions) == 4, versions
