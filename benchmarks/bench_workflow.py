"""The sweep's scale and speed: ``snakemake --cores C`` against one process per core.

The baseline is what a physicist would write by hand to use every core: the
same distinct points (``Study.point_settings``, what the batch rules pass),
each simulated and written by ``qbsd.workflow.simulate_settings`` +
``qbsd.dataset.write_netcdf`` in a pool of C worker *processes* (not threads:
small points would be serialised by the interpreter lock), dynamically load
balanced. Its summed per-point wall time is the study's physics time P.

Three measurements (each in a fresh ``git clone`` of the committed tree, the
venv's editable qbsd):

``small``
    A grid of small points (N = 2, 3; ~0.1 s each). Parallel efficiency of the
    workflow at C = 1 and 2 cores: P / (C x T_workflow(C)), where T_workflow is
    the simulation phase (start to the last trajectory written). Target >= 0.85.
``default``
    The default study (``config/config.yaml``) with ``--cores 2``: the
    simulation phase against P / 2. Target: within 1.2x.
``grid10k``
    About 10^4 distinct small points (N = 2..4, four geometries, 24 J x 20
    gamma12, three channels; two states on a short grid to keep the run
    affordable). ``snakemake -n`` time (target <= 30 s), the simulation phase
    with ``--cores 2`` against P / 2 (target <= 1.5x), and ``qbsd.open_results``
    on the finished sweep (target <= 5 s).

    python benchmarks/bench_workflow.py small
    python benchmarks/bench_workflow.py default
    python benchmarks/bench_workflow.py grid10k [--fraction 0.2]

Medians over ``--repeats`` runs where a measurement is cheap; the machine may be
shared, so the load averages are printed before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))

SMALL = {
    "grid": {
        "n_cells": [2, 3],
        "geometry": ["linear", "circular"],
        "J": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
        "gamma12": [0.1, 0.2, 0.3, 0.4, 0.5],
        "channel": ["relaxation", "amplitude_damping"],
    },
    "states": ["full", "classical", "quantum"],
    "time": {"t_max": 10.0, "n_points": 1001},
    "paper_figures": False,
    "extension_figures": False,
    "large_n": None,
    "unphysical": "skip",
}


def grid10k(fraction: float = 1.0) -> dict:
    """About 10^4 distinct points (times ``fraction`` along the J axis)."""
    n_j = max(1, round(24 * fraction))
    return {
        "grid": {
            "n_cells": [2, 3, 4],
            "geometry": ["central", "linear", "circular", "symmetric"],
            "J": [round(0.25 + 0.25 * k, 4) for k in range(n_j)],
            "gamma12": [round(0.025 * k, 4) for k in range(1, 21)],
            "channel": ["relaxation", "amplitude_damping", "phase_damping"],
        },
        "states": ["classical", "quantum"],
        "time": {"t_max": 5.0, "n_points": 101},
        "paper_figures": False,
        "extension_figures": False,
        "large_n": None,
        "unphysical": "skip",
    }


def load(update: dict | None):
    from qbsd.config import load_study, merge, read_config_file

    config = read_config_file(REPO / "config" / "config.yaml")
    if update:
        merge(config, update)
    return load_study(config)


# --------------------------------------------------------------------------
# the baseline: one process per core


def _one_point(args) -> float:
    settings, path = args
    from qbsd.dataset import write_netcdf
    from qbsd.workflow import simulate_settings

    started = time.perf_counter()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_netcdf(simulate_settings(settings), path)
    return time.perf_counter() - started


def _warm() -> None:
    import qbsd.workflow  # noqa: F401


def processes_per_core(study, workdir: Path, cores: int) -> tuple[float, float]:
    """(wall time, summed per-point time P) of the study on ``cores`` worker processes."""
    jobs = [(study.point_settings(p), str(workdir / p.path)) for p in study.points.values()]
    jobs.sort(key=lambda job: -job[0]["n_cells"])  # largest first: better balance
    with ProcessPoolExecutor(max_workers=cores, initializer=_warm) as pool:
        list(pool.map(_warm_noop, range(cores)))  # start-up is not the physics
        started = time.perf_counter()
        per_point = list(pool.map(_one_point, jobs, chunksize=1))
    return time.perf_counter() - started, float(sum(per_point))


def _warm_noop(_):
    time.sleep(0.2)


# --------------------------------------------------------------------------
# the workflow


def clone(workdir: Path, update: dict | None) -> Path:
    repo = workdir / "repo"
    subprocess.run(["git", "clone", "-q", str(REPO), str(repo)], check=True)
    if update:
        (repo / "override.yaml").write_text(yaml.safe_dump(update), encoding="utf-8")
    return repo


def snakemake(repo: Path, *args: str, override: bool) -> tuple[float, str]:
    command = [SNAKEMAKE, *args]
    if override:
        command += ["--configfile", "override.yaml"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return seconds, done.stdout + done.stderr


def workflow(repo: Path, cores: int, override: bool) -> dict:
    """Simulation phase (first batch started to last trajectory written) and the whole run."""
    total, _ = snakemake(repo, "summarise", "--cores", str(cores), "--quiet", override=override)
    newest = max(p.stat().st_mtime for p in (repo / "results" / "trajectories").rglob("*.nc"))
    logs = list((repo / "results" / "logs" / "simulate").glob("*.log"))
    # from the first batch job's start (its log is created first) to the last
    # trajectory: snakemake's own start-up and DAG are reported in the whole run
    first = min(_started(log) for log in logs)
    return {"simulation": newest - first, "total": total, "jobs": len(logs)}


def _started(log: Path) -> float:
    """The epoch time a batch job wrote in its log's ``started:`` line."""
    match = re.search(r"^started: (\d+\.\d+)", log.read_text(), re.M)
    return float(match[1]) if match else log.stat().st_mtime


def loads() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------
# the three measurements


def bench_small(repeats: int, batch_seconds: float | None = None) -> None:
    update = dict(SMALL, batch_seconds=batch_seconds)
    study = load(update)
    print(
        f"small points: {len(study.points)} distinct (N = 2, 3), "
        f"batch_seconds {batch_seconds}, load {loads()}"
    )
    for cores in (1, 2):
        walls, physics, flows = [], [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
                wall, p = processes_per_core(study, Path(tmp), cores)
                walls.append(wall)
                physics.append(p)
            with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
                repo = clone(Path(tmp), update)
                flows.append(workflow(repo, cores, override=True))
        p = statistics.median(physics)
        wall = statistics.median(walls)
        sim = statistics.median(f["simulation"] for f in flows)
        print(
            f"  --cores {cores}: physics P = {p:7.2f} s; one process per core {wall:7.2f} s "
            f"(efficiency {p / (cores * wall):.2f}); workflow simulation phase {sim:7.2f} s "
            f"in {flows[0]['jobs']} jobs (efficiency {p / (cores * sim):.2f}, target >= 0.85; "
            f"workflow / processes {sim / wall:.2f}); whole run "
            f"{statistics.median(f['total'] for f in flows):.2f} s"
        )
    print(f"  load after: {loads()}")


def recorded_physics(results: Path) -> float:
    """Summed ``solver_stats.total_seconds`` of every trajectory (each point's simulate)."""
    import json

    import netCDF4

    total = 0.0
    for path in (results / "trajectories").rglob("*.nc"):
        with netCDF4.Dataset(path) as nc:
            total += float(json.loads(nc.getncattr("solver_stats"))["total_seconds"])
    return total


def bench_default(baseline: bool = True) -> None:
    study = load(None)
    print(f"default study: {len(study.points)} distinct points, load {loads()}")
    wall = p = float("nan")
    if baseline:
        with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
            wall, p = processes_per_core(study, Path(tmp), 2)
    with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
        repo = clone(Path(tmp), None)
        flow = workflow(repo, 2, override=False)
        if not baseline:  # the physics as each point recorded it, inside the workflow
            p = recorded_physics(repo / "results")
    print(
        f"  physics P = {p:.1f} s; P / 2 = {p / 2:.1f} s; one process per core {wall:.1f} s; "
        f"workflow --cores 2: simulation phase {flow['simulation']:.1f} s in {flow['jobs']} "
        f"jobs = {flow['simulation'] / (p / 2):.2f} x P/2 (target <= 1.2), "
        f"{flow['simulation'] / wall:.2f} x processes; whole run {flow['total']:.1f} s"
    )
    print(f"  load after: {loads()}")


def bench_grid10k(fraction: float) -> None:
    import qbsd

    update = grid10k(fraction)
    started = time.perf_counter()
    study = load(update)
    print(
        f"grid: {len(study.assignments)} labels, {len(study.points)} distinct points "
        f"(study built in {time.perf_counter() - started:.1f} s), load {loads()}"
    )
    with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
        wall, p = processes_per_core(study, Path(tmp), 2)
    print(f"  physics P = {p:.1f} s; one process per core (2): {wall:.1f} s")
    with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
        repo = clone(Path(tmp), update)
        dry = [snakemake(repo, "-n", "summarise", override=True)[0] for _ in range(2)]
        print(f"  snakemake -n: {statistics.median(dry):.1f} s (target <= 30 s)")
        flow = workflow(repo, 2, override=True)
        print(
            f"  workflow --cores 2: simulation phase {flow['simulation']:.1f} s in "
            f"{flow['jobs']} jobs = {flow['simulation'] / (p / 2):.2f} x P/2 (target <= 1.5), "
            f"{flow['simulation'] / wall:.2f} x processes; whole run {flow['total']:.1f} s"
        )
        opens = []
        for _ in range(3):
            begun = time.perf_counter()
            res = qbsd.open_results(repo / "results")
            opens.append(time.perf_counter() - begun)
        one = res["ergotropy"].isel(channel=0, n_cells=0, geometry=0, J=0, gamma12=0)
        begun = time.perf_counter()
        np.asarray(one.values)
        first = time.perf_counter() - begun
        print(
            f"  open_results: {statistics.median(opens):.2f} s (target <= 5 s); one label's "
            f"series computed in {first:.2f} s"
        )
    print(f"  load after: {loads()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["small", "default", "grid10k"])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (small)")
    parser.add_argument(
        "--fraction", type=float, default=1.0, help="grid10k: share of the J axis to run"
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=None,
        help="small: the config's batch_seconds (default: automatic)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="default: take P from the trajectories' recorded solver time instead of "
        "running the points again in one process per core",
    )
    args = parser.parse_args()
    print(f"# qbsd workflow benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs")
    if args.what == "small":
        bench_small(args.repeats, args.batch_seconds)
    elif args.what == "default":
        bench_default(baseline=not args.no_baseline)
    else:
        bench_grid10k(args.fraction)


if __name__ == "__main__":
    main()
