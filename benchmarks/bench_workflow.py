"""Workflow overhead: ``snakemake --cores 2`` against the same simulations in one process.

The target: the default study through ``snakemake --cores 2`` within 1.3x
of the time its simulations take in one process with 2 workers, and a small
point's job (N <= 3) well under a second beyond its physics.

1. The study's distinct points come from ``config/config.yaml`` (optionally
   restricted: ``--no-large-n`` switches ``large_n`` off, ``--max-n`` keeps grid
   N <= max-n and drops the paper's extra points). The restriction is written as
   an override config, so both routes run exactly the same points.
2. One process: ``qbsd.workflow.simulate_point`` with ``Study.point_settings``
   (what the ``simulate`` rule passes) on a ThreadPoolExecutor with 2 workers,
   which is how snakemake runs ``run:`` jobs under ``force-use-threads``.
3. Workflow: ``snakemake --cores 2 summarise`` (trajectories and summary tables,
   no figures) in a fresh ``git clone`` of the repository (committed state; the
   qbsd package itself is the venv's editable install).

    python benchmarks/bench_workflow.py --quick        # grid N <= 3, no large N
    python benchmarks/bench_workflow.py --no-large-n   # the default grid
    python benchmarks/bench_workflow.py                # the whole default study
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from qbsd.config import load_study, merge, read_config_file
from qbsd.workflow import simulate_point

REPO = Path(__file__).resolve().parents[1]


def override(args) -> dict:
    """Config keys merged over config/config.yaml (empty for the default study)."""
    update: dict = {}
    if args.no_large_n:
        update["large_n"] = None
    if args.max_n is not None:
        grid = read_config_file(REPO / "config" / "config.yaml")["grid"]
        update["grid"] = {"n_cells": [n for n in grid["n_cells"] if n <= args.max_n]}
        update["paper_figures"] = False  # the paper's points reach beyond max-n
    return update


def study_for(update: dict):
    config = read_config_file(REPO / "config" / "config.yaml")
    merge(config, update)
    return load_study(config)


def one_process(study, workdir: Path, workers: int) -> float:
    points = list(study.points.values())
    started = time.perf_counter()

    def job(point):
        log = workdir / point.path.replace("trajectories", "logs/simulate").replace(".nc", ".log")
        simulate_point(
            study.point_settings(point), workdir / point.path, log, point_id=point.id, command=""
        )

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(job, points))
    return time.perf_counter() - started


def workflow(update: dict, workdir: Path, cores: int) -> float:
    clone = workdir / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    # the target first: --configfile and --quiet take any number of values
    command = [str(Path(sys.executable).with_name("snakemake")), "summarise"]
    command += ["--cores", str(cores), "--quiet"]
    if update:
        (clone / "override.yaml").write_text(yaml.safe_dump(update), encoding="utf-8")
        command += ["--configfile", "override.yaml"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    started = time.perf_counter()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(command, cwd=clone, env=env, check=True, **quiet)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="--max-n 3 --no-large-n")
    parser.add_argument("--no-large-n", action="store_true", help="switch large_n off")
    parser.add_argument("--max-n", type=int, default=None, help="keep grid N <= MAX_N")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    if args.quick:
        args.no_large_n = True
        args.max_n = 3 if args.max_n is None else args.max_n
    update = override(args)
    study = study_for(update)
    points = list(study.points.values())
    small = sum(p.n_cells <= 3 for p in points)
    print(f"study override: {update or 'none (default study)'}")
    print(f"distinct points (jobs): {len(points)}, of them N <= 3: {small}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "one").mkdir()
        direct = one_process(study, tmp / "one", args.cores)
        print(f"one process, {args.cores} worker threads: {direct:8.2f} s")
        shutil.rmtree(tmp / "one")
        piped = workflow(update, tmp, args.cores)
    print(f"snakemake --cores {args.cores} summarise: {piped:8.2f} s")
    print(f"ratio snakemake / one process: {piped / direct:.3f}  (target <= 1.3)")
    per_job = (piped - direct) / len(points)
    print(f"overhead per job: {per_job * 1e3:.0f} ms  ((snakemake - one process) / jobs)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
