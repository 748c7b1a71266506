"""The qbsd study itself on a real single-node SLURM cluster, against a local run.

A study of 200 small distinct points (two channels, N <= 3, 11 x 3 couplings)
runs twice up to its summary tables (the ``summarise`` rule; the figures are
local rules, drawn the same way on a cluster, and are left out to keep the
test short):

* with ``snakemake --profile profiles/slurm`` on the cluster, the site values
  in the environment (QBSD_SLURM_PARTITION / QBSD_SLURM_ACCOUNT);
* with ``snakemake --cores 2`` in another directory, as a user without a
  cluster would.

The study sets ``batch_seconds: 300``, as the README advises for a cluster.
The tests check that every simulation ran inside a SLURM job, that the 200
points went out in at most 20 submissions (one per batch of qbsd.batches,
with the resources the batch derives from its points), and that every
trajectory and summary table of the cluster run equals the local run's.
"""

from __future__ import annotations

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

from qbsd.batches import plan
from qbsd.config import load_study

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 600  # seconds for the cluster run, then SIGTERM (SIGKILL 10 s later)

STUDY = {
    "grid": {
        "n_cells": [1, 2, 3],
        "geometry": ["linear", "circular"],
        "J": [0.5 * k for k in range(1, 12)],
        "gamma12": [0.1, 0.25, 0.5],
        "channel": ["relaxation", "phase_damping"],
    },
    "states": ["full", "quantum"],
    "time": {"t_max": 2.0, "n_points": 51},
    "paper_figures": False,
    "extension_figures": False,
    # what the README advises on a cluster: fewer, larger submissions (here
    # one per channel and N, the finest grouping a batch allows)
    "batch_seconds": 300,
}
# Distinct points per channel: N = 1: 1; N = 2: 33 (linear = circular);
# N = 3: 66 (chain and triangle, 33 couplings each).
N_POINTS = 2 * (1 + 33 + 66)
#: The most SLURM submissions the 200 points may take.
MAX_SUBMISSIONS = 20
TARGET = "summarise"

# Trajectory attributes that must agree; the others record how and when a file
# was made (command, history, solver timings, checksum, library versions).
SAME_ATTRS = ("point_id", "config_hash", "point_settings", "settings", "code_version", "health_ok")


def _study() -> dict:
    study = dict(STUDY)
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    # the default study's large-N and extension points are not small
    if "large_n" in schema.get("properties", {}):
        study["large_n"] = None
    if "extension_figures" in schema.get("properties", {}):
        study["extension_figures"] = False
    return study


def _study_yaml() -> str:
    return yaml.safe_dump(_study(), sort_keys=False)


def _snakefile_args() -> list[str]:
    # last: --configfile takes every argument that follows it
    return ["--snakefile", str(REPO / "Snakefile"), "--configfile", "study.yaml"]


def _explain(proc, cluster=None) -> str:
    logs = cluster.logs() if cluster is not None else ""
    return f"snakemake exited {proc.returncode}\n{proc.stdout[-6000:]}\n{logs}"


def _trajectories(workdir: Path) -> list[str]:
    root = workdir / "results"
    return sorted(str(p.relative_to(root)) for p in (root / "trajectories").rglob("*.nc"))


def _batch_log(workdir: Path, batch_name: str) -> str:
    return (workdir / "results" / "logs" / "simulate" / f"{batch_name}.log").read_text()


def _slurm_job_id(log: str) -> str | None:
    found = re.search(r"^batch of \d+ points on \S+ \(pid \d+, SLURM_JOB_ID (\d+)\)$", log, re.M)
    return found[1] if found else None


@pytest.fixture(scope="module")
def batches():
    study = load_study(_study())
    assert len(study.points) == N_POINTS
    planned = plan(study)
    assert len(planned) == 2 * 3  # batch_seconds: 300 packs each (channel, N) whole
    return planned


@pytest.fixture(scope="module")
def cluster_run(slurm_cluster, tmp_path_factory):
    """The study run on SLURM: (workdir, CompletedProcess, seconds)."""
    workdir = tmp_path_factory.mktemp("slurm_study")
    (workdir / "study.yaml").write_text(_study_yaml())
    start = time.monotonic()
    proc = slurm_cluster.run_snakemake_on_slurm(
        workdir, [TARGET, *_snakefile_args()], timeout=TIMEOUT
    )
    seconds = time.monotonic() - start
    assert proc.returncode == 0, _explain(proc, slurm_cluster)
    return workdir, proc, seconds


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The same study with the local executor, outside SLURM: (workdir, seconds)."""
    workdir = tmp_path_factory.mktemp("local_study")
    (workdir / "study.yaml").write_text(_study_yaml())
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))
    }
    env["PYTHONWARNINGS"] = "ignore"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", TARGET, "--cores", "2", *_snakefile_args()],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, _explain(proc)
    return workdir, time.monotonic() - start


def test_every_batch_is_one_slurm_submission(slurm_cluster, cluster_run, batches, slurm_report):
    workdir, proc, seconds = cluster_run
    trajectories = _trajectories(workdir)
    assert len(trajectories) == N_POINTS
    assert sorted(str(Path(p).relative_to("results")) for b in batches for p in b.paths) == (
        trajectories
    )

    # each batch's log names the SLURM job it ran in, and every point was written there
    job_of = {}
    for batch in batches:
        log = _batch_log(workdir, batch.name)
        job_of[batch.name] = _slurm_job_id(log)
        assert job_of[batch.name], f"{batch.name} ran outside SLURM:\n{log[:500]}"
        for point in batch.points:
            assert f"point {point.id}: wrote {point.path}" in log, (batch.name, point.id)
        assert f"batch: {len(batch.points)} computed, 0 kept, 0 failed" in log
    assert len(set(job_of.values())) == len(batches)  # one submission per batch

    # sacct: this run submitted exactly these jobs (summarise stayed on the
    # submit host), at most MAX_SUBMISSIONS, and each COMPLETED with the site's
    # partition and account and the batch's own resources
    run_id = re.search(r"^SLURM run ID: (\S+)$", proc.stdout, re.M)[1]
    records = {r["JobIDRaw"]: r for r in slurm_cluster.sacct() if r["JobName"] == run_id}
    assert len(records) <= MAX_SUBMISSIONS, len(records)
    assert set(records) == set(job_of.values()), (records, job_of)
    by_job = {job_id: name for name, job_id in job_of.items()}
    batch_named = {b.name: b for b in batches}
    for job_id, rec in records.items():
        batch = batch_named[by_job[job_id]]
        assert rec["State"] == "COMPLETED", rec
        assert rec["Partition"] == slurm_cluster.partition, rec
        assert rec["Account"] == slurm_cluster.account, rec
        assert rec["Comment"] == f"rule_{batch.name}", rec
        # the points run one after another: one CPU, the largest memory of a
        # point, five times the summed estimate (at least 10 minutes)
        assert rec["ReqCPUS"] == "1", rec
        assert rec["ReqMem"] == f"{batch.mem_mb()}M", rec
        assert int(rec["TimelimitRaw"]) == batch.runtime_minutes(), rec

    elapsed = sum(int(r["ElapsedRaw"]) for r in records.values())
    wrote = re.compile(r"^point \S+: wrote \S+ in ([0-9.]+) s$", re.M)
    physics = sum(float(s) for b in batches for s in wrote.findall(_batch_log(workdir, b.name)))
    slurm_report.append(
        f"qbsd study on SLURM: {N_POINTS} simulations in {len(records)} submissions, "
        f"{seconds:.1f} s in all; the jobs ran {elapsed} s, of which {physics:.1f} s "
        f"simulating ({physics / N_POINTS:.2f} s a point)"
    )


def test_cluster_results_equal_a_local_run(cluster_run, local_run, slurm_report):
    cluster_dir, _, cluster_seconds = cluster_run
    local_dir, local_seconds = local_run
    slurm_report.append(
        f"the same study with snakemake --cores 2: {local_seconds:.1f} s "
        f"(on SLURM: {cluster_seconds:.1f} s)"
    )
    trajectories = _trajectories(cluster_dir)
    assert trajectories == _trajectories(local_dir)
    logs = (local_dir / "results" / "logs" / "simulate").glob("*.log")
    assert not any(_slurm_job_id(log.read_text()) for log in logs)

    for relpath in trajectories:
        with (
            xr.open_dataset(cluster_dir / "results" / relpath) as on_slurm,
            xr.open_dataset(local_dir / "results" / relpath) as local,
        ):
            xr.testing.assert_allclose(on_slurm.load(), local.load(), rtol=1e-9, atol=1e-12)
            for name in SAME_ATTRS:
                assert on_slurm.attrs[name] == local.attrs[name], (relpath, name)

    summary = sorted(p.name for p in (local_dir / "results" / "summary").iterdir())
    assert summary == sorted(p.name for p in (cluster_dir / "results" / "summary").iterdir())
    assert {"half_lives.nc", "half_lives.csv", "labels.csv"} <= set(summary), summary
    for name in summary:
        on_slurm = cluster_dir / "results" / "summary" / name
        local = local_dir / "results" / "summary" / name
        if name.endswith(".nc"):
            with xr.open_dataset(on_slurm) as a, xr.open_dataset(local) as b:
                xr.testing.assert_allclose(a.load(), b.load(), rtol=1e-9, atol=1e-12)
                assert a.attrs["config_hash"] == b.attrs["config_hash"], name
        elif name.endswith(".csv"):
            pd.testing.assert_frame_equal(
                pd.read_csv(on_slurm), pd.read_csv(local), check_exact=False, rtol=1e-9
            )
        else:
            assert on_slurm.read_bytes() == local.read_bytes(), name
