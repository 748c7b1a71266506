"""Smoke tests of profiles/slurm against a real single-node SLURM cluster.

Self-contained Snakefiles (written into tmp_path) check that:

* every job runs as a SLURM job under the site's partition and account, which
  come from the environment (QBSD_SLURM_PARTITION / QBSD_SLURM_ACCOUNT),
  except local rules, which run on the submit host;
* the jobs see the submitting environment, so the venv's python/snakemake;
* the plugin sends a job group as one submission (small jobs of the group
  "simulate_small", with ``--group-components`` on the command line; the
  qbsd workflow batches its points in its own rules and needs no groups);
* a failed job is retried with more memory (the profile's mem_mb * attempt):
  a rule that needs more memory then succeeds, while a rule that always fails
  makes snakemake exit non-zero. This test gives the site values on the
  command line instead.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm

TIMEOUT = 170  # seconds per snakemake run, then SIGTERM (SIGKILL 10 s later)

SMOKE_SNAKEFILE = textwrap.dedent(
    """
    import json, os, shutil, sys

    rule all:
        input:
            "results/summary.txt",

    # Python code inside the SLURM job: what the job sees.
    rule job_env:
        output:
            "results/env.json",
        run:
            with open(output[0], "w") as fh:
                json.dump(
                    {
                        "SLURM_JOB_ID": os.environ["SLURM_JOB_ID"],
                        "SLURM_JOB_PARTITION": os.environ.get("SLURM_JOB_PARTITION"),
                        "sys_executable": sys.executable,
                        "which_snakemake": shutil.which("snakemake"),
                        "which_python": shutil.which("python"),
                    },
                    fh,
                )

    # Small independent jobs, batched by --group-components on the command line.
    rule simulate:
        output:
            "results/sim_{j}.txt",
        group:
            "simulate_small"
        shell:
            "echo $SLURM_JOB_ID > {output}"

    # Aggregation stays on the submit host, as in the study.
    localrules:
        summary,

    rule summary:
        input:
            "results/env.json",
            expand("results/sim_{j}.txt", j=[1, 2, 3, 4]),
        output:
            "results/summary.txt",
        shell:
            "echo ${{SLURM_JOB_ID:-local}} > {output}"
    """
)

FAILING_SNAKEFILE = textwrap.dedent(
    """
    rule all:
        input:
            "flaky.txt",
            "never.txt",

    # Fails unless given 4000 MB, as an OOM kill would: the retry gets
    # mem_mb = 2000 * attempt from the profile and succeeds.
    rule flaky:
        output:
            "flaky.txt",
        shell:
            "test {resources.mem_mb} -ge 4000 && echo $SLURM_JOB_ID > {output}"

    rule broken:
        output:
            "never.txt",
        shell:
            "echo deliberate failure >&2; exit 3"
    """
)


def _job_id(path: Path) -> str:
    job_id = path.read_text().strip()
    assert job_id.isdigit(), f"{path} does not hold a SLURM job id: {job_id!r}"
    return job_id


def _explain(proc, cluster) -> str:
    return f"snakemake exited {proc.returncode}\n{proc.stdout[-6000:]}\n{cluster.logs()}"


def test_jobs_run_as_slurm_jobs(slurm_cluster, run_snakemake_on_slurm, tmp_path):
    (tmp_path / "Snakefile").write_text(SMOKE_SNAKEFILE)

    proc = run_snakemake_on_slurm(
        tmp_path, ["--group-components", "simulate_small=4"], timeout=TIMEOUT
    )

    assert proc.returncode == 0, _explain(proc, slurm_cluster)
    results = tmp_path / "results"
    env = json.loads((results / "env.json").read_text())
    sim_ids = {_job_id(results / f"sim_{j}.txt") for j in (1, 2, 3, 4)}
    # the local rule ran on the submit host, outside SLURM
    assert (results / "summary.txt").read_text().strip() == "local"

    # four small simulations, batched into one group submission
    assert len(sim_ids) == 1, f"group 'simulate_small' was not batched: {sim_ids}"
    job_ids = {env["SLURM_JOB_ID"]} | sim_ids
    assert len(job_ids) == 2  # job_env, the group job

    # sacct: every job COMPLETED, with the site's partition and account
    records = {r["JobIDRaw"]: r for r in slurm_cluster.sacct(*job_ids)}
    assert set(records) == job_ids, records
    for rec in records.values():
        assert rec["State"] == "COMPLETED", rec
        assert rec["Partition"] == slurm_cluster.partition, rec
        assert rec["Account"] == slurm_cluster.account, rec
        # the default mem_mb; the group's members run one at a time, so the
        # group asks for the largest of theirs, on one CPU (profile: cores 1)
        assert rec["ReqMem"] == "2000M", rec
        assert rec["ReqCPUS"] == "1", rec
    assert env["SLURM_JOB_PARTITION"] == slurm_cluster.partition

    # the submitting environment reached the jobs: same interpreter, and the
    # venv first on PATH (sbatch --export=ALL)
    venv_bin = str(Path(sys.executable).parent)
    assert env["sys_executable"] == sys.executable, env
    assert env["which_snakemake"] == f"{venv_bin}/snakemake", env
    assert env["which_python"] == f"{venv_bin}/python", env


def test_failed_jobs_are_retried_and_fail_the_run(slurm_cluster, run_snakemake_on_slurm, tmp_path):
    (tmp_path / "Snakefile").write_text(FAILING_SNAKEFILE)
    before = max((int(r["JobIDRaw"]) for r in slurm_cluster.sacct()), default=0)

    # The site values are on the command line this time, not in the
    # environment. --retries 1, not the profile's 2, keeps the test short.
    proc = run_snakemake_on_slurm(
        tmp_path,
        [*slurm_cluster.default_resources_cli(), "--retries", "1"],
        timeout=TIMEOUT,
        env_overrides={"QBSD_SLURM_PARTITION": None, "QBSD_SLURM_ACCOUNT": None},
    )

    assert proc.returncode not in (0, 124, 137), _explain(proc, slurm_cluster)
    assert not (tmp_path / "never.txt").exists()
    flaky_id = _job_id(tmp_path / "flaky.txt")  # keep-going: the rest still ran

    records = sorted(
        (r for r in slurm_cluster.sacct() if int(r["JobIDRaw"]) > before),
        key=lambda r: int(r["JobIDRaw"]),
    )
    by_rule = {
        rule: [(r["State"], r["ReqMem"]) for r in records if r["Comment"] == f"rule_{rule}"]
        for rule in ("flaky", "broken")
    }
    # first attempt and one retry, the retry with more memory (mem_mb * attempt)
    assert by_rule == {
        "flaky": [("FAILED", "2000M"), ("COMPLETED", "4000M")],
        "broken": [("FAILED", "2000M"), ("FAILED", "4000M")],
    }, records
    assert flaky_id in {r["JobIDRaw"] for r in records}
    for rec in records:
        assert rec["Partition"] == slurm_cluster.partition, rec
        assert rec["Account"] == slurm_cluster.account, rec
