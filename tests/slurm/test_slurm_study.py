"""The qbsd study itself on a real single-node SLURM cluster, against a local run.

A small study (4 distinct points, N <= 3) runs twice up to its summary tables
(the ``summarise`` rule; the figures are local rules, drawn the same way on a
cluster, and are left out to keep the test short):

* with ``snakemake --profile profiles/slurm`` on the cluster, the site values
  in the environment (QBSD_SLURM_PARTITION / QBSD_SLURM_ACCOUNT);
* with ``snakemake --cores 2`` in another directory, as a user without a
  cluster would.

The tests check that every simulation ran inside a SLURM job, that the small
points were batched into fewer submissions than points, with the resources
the workflow derives from N, and that every trajectory and summary table of
the cluster run equals the local run's.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml

from qbsd.workflow import memory_mb, runtime_minutes

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 170  # seconds for the cluster run, then SIGTERM (SIGKILL 10 s later)

STUDY = {
    "grid": {
        "n_cells": [1, 2, 3],
        "geometry": ["linear", "symmetric"],
        "J": [2.0],
        "gamma12": [0.5],
        "channel": ["relaxation"],
    },
    "states": ["full", "quantum"],
    "time": {"t_max": 2.0, "n_points": 51},
    "paper_figures": False,
}
# Distinct points: N = 1; N = 2 (linear = symmetric); N = 3 chain and triangle.
N_POINTS = 1 + 1 + 2
N_STATES = len(STUDY["states"])
# Two simulations per group job, not the profile's 20: the 4 points become two
# submissions, which run side by side on the node's two CPUs. (The plugin's
# status checks back off by 10 s after each check that finds no finished job,
# at 1, 12, 33, 64 s after submission here: group jobs that end within about
# 30 s keep the test a half-minute shorter than one group of 4.)
GROUP_SIZE = 2
TARGET = "summarise"

# Trajectory attributes that must agree; the others record how and when a file
# was made (command, history, solver timings, checksum, library versions).
SAME_ATTRS = ("point_id", "config_hash", "point_settings", "settings", "health_ok")


def _study_yaml() -> str:
    study = dict(STUDY)
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    if "large_n" in schema.get("properties", {}):
        study["large_n"] = None  # the default study's large-N points are not small
    return yaml.safe_dump(study, sort_keys=False)


def _snakefile_args() -> list[str]:
    return ["--snakefile", str(REPO / "Snakefile"), "--configfile", "study.yaml"]


def _explain(proc, cluster=None) -> str:
    logs = cluster.logs() if cluster is not None else ""
    return f"snakemake exited {proc.returncode}\n{proc.stdout[-6000:]}\n{logs}"


def _trajectories(workdir: Path) -> list[str]:
    root = workdir / "results"
    return sorted(str(p.relative_to(root)) for p in (root / "trajectories").rglob("*.nc"))


def _log_of(workdir: Path, trajectory: str) -> Path:
    relative = Path(trajectory).relative_to("trajectories").with_suffix(".log")
    return workdir / "results" / "logs" / "simulate" / relative


def _slurm_job_id(log: Path) -> str | None:
    found = re.search(r"^SLURM_JOB_ID: (\d+)$", log.read_text(), re.M)
    return found[1] if found else None


def _n_cells(trajectory: str) -> int:
    return int(re.search(r"/N(\d+)/", trajectory)[1])


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, tmp_path_factory):
    """The study run on SLURM: (workdir, CompletedProcess, seconds)."""
    workdir = tmp_path_factory.mktemp("slurm_study")
    (workdir / "study.yaml").write_text(_study_yaml())
    start = time.monotonic()
    proc = slurm_cluster.run_snakemake_on_slurm(
        workdir,
        [*_snakefile_args(), f"--group-components=simulate_small={GROUP_SIZE}", TARGET],
        timeout=TIMEOUT,
    )
    seconds = time.monotonic() - start
    assert proc.returncode == 0, _explain(proc, slurm_cluster)
    return workdir, proc, seconds


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The same study with the local executor, outside SLURM."""
    workdir = tmp_path_factory.mktemp("local_study")
    (workdir / "study.yaml").write_text(_study_yaml())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))
    }
    env["PYTHONWARNINGS"] = "ignore"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", *_snakefile_args(), "--cores", "2", TARGET],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, _explain(proc)
    return workdir


def test_every_simulation_ran_as_a_batched_slurm_job(slurm_cluster, cluster_run, slurm_report):
    workdir, proc, seconds = cluster_run
    trajectories = _trajectories(workdir)
    assert len(trajectories) == N_POINTS, trajectories

    # each simulation's log names the SLURM job it ran in
    job_of = {t: _slurm_job_id(_log_of(workdir, t)) for t in trajectories}
    assert all(job_of.values()), f"simulations that ran outside SLURM: {job_of}"
    members: dict[str, list[str]] = {}
    for trajectory, job_id in job_of.items():
        members.setdefault(job_id, []).append(trajectory)

    # batching: the small points share group submissions of up to GROUP_SIZE
    assert len(members) == math.ceil(N_POINTS / GROUP_SIZE) < N_POINTS, members
    assert all(len(m) <= GROUP_SIZE for m in members.values()), members

    # sacct: this run submitted exactly these jobs (summarise stayed on the
    # submit host), and each COMPLETED with the site's partition and account
    run_id = re.search(r"^SLURM run ID: (\S+)$", proc.stdout, re.M)[1]
    records = {r["JobIDRaw"]: r for r in slurm_cluster.sacct() if r["JobName"] == run_id}
    assert set(records) == set(members), (records, members)
    for job_id, rec in records.items():
        assert rec["State"] == "COMPLETED", rec
        assert rec["Partition"] == slurm_cluster.partition, rec
        assert rec["Account"] == slurm_cluster.account, rec
        assert rec["Comment"] == "rule_simulate_small_simulate", rec
        # the members run one after another: one CPU, the largest memory of
        # a member, the sum of their runtimes (all estimated from N)
        sizes = [_n_cells(t) for t in members[job_id]]
        assert rec["ReqCPUS"] == "1", rec
        assert rec["ReqMem"] == f"{max(memory_mb(n, N_STATES) for n in sizes)}M", rec
        expected = sum(runtime_minutes(n, N_STATES, 2.0, 51) for n in sizes)
        assert int(rec["TimelimitRaw"]) == expected, rec

    # the cost of one simulation inside a group job, for the record
    elapsed = sum(int(r["ElapsedRaw"]) for r in records.values())
    physics = sum(
        float(re.search(r"^wall time: ([0-9.]+) s$", _log_of(workdir, t).read_text(), re.M)[1])
        for t in trajectories
    )
    slurm_report.append(
        f"qbsd study on SLURM: {N_POINTS} simulations in {len(records)} group jobs, "
        f"{seconds:.1f} s in all; inside the group jobs {elapsed / N_POINTS:.1f} s "
        f"per simulation, of which {physics / N_POINTS:.2f} s in simulate_point"
    )


def test_cluster_results_equal_a_local_run(cluster_run, local_run):
    cluster_dir, _, _ = cluster_run
    trajectories = _trajectories(cluster_dir)
    assert trajectories == _trajectories(local_run)
    assert not _slurm_job_id(_log_of(local_run, trajectories[0]))

    for relpath in trajectories:
        with (
            xr.open_dataset(cluster_dir / "results" / relpath) as on_slurm,
            xr.open_dataset(local_run / "results" / relpath) as local,
        ):
            xr.testing.assert_allclose(on_slurm.load(), local.load(), rtol=1e-9, atol=1e-12)
            for name in SAME_ATTRS:
                assert on_slurm.attrs[name] == local.attrs[name], (relpath, name)

    summary = sorted(p.name for p in (local_run / "results" / "summary").iterdir())
    assert summary == sorted(p.name for p in (cluster_dir / "results" / "summary").iterdir())
    assert {"half_lives.nc", "half_lives.csv", "labels.csv"} <= set(summary), summary
    for name in summary:
        on_slurm = cluster_dir / "results" / "summary" / name
        local = local_run / "results" / "summary" / name
        if name.endswith(".nc"):
            with xr.open_dataset(on_slurm) as a, xr.open_dataset(local) as b:
                xr.testing.assert_allclose(a.load(), b.load(), rtol=1e-9, atol=1e-12)
                assert a.attrs["config_hash"] == b.attrs["config_hash"], name
        elif name.endswith(".csv"):
            pd.testing.assert_frame_equal(
                pd.read_csv(on_slurm), pd.read_csv(local), check_exact=False, rtol=1e-9
            )
