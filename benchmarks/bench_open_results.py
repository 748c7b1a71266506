"""``qbsd.open_results`` on a sweep of 10^4 trajectory files.

The results directory is fabricated quickly: one real small point (the
3-cell chain, relaxation, J = 2, gamma12 = 0.5, with the default study's
states and time grid) is simulated with ``qbsd.simulate`` and summarised by
the workflow's ``write_summaries``, then its trajectory is copied under
``--n-files`` distinct paths, one per label of a square (J, gamma12) grid,
with a matching manifest, layout and summary tables. A copy is a valid file:
its checksum covers the content, not the path; the manifest names the source
point, which the copies record.

Reported (wall times, the machine as it is):

- ``open``: ``qbsd.open_results`` (median of 3, and the CPU time of one), which
  reads no trajectory;
- ``one label, first variable``: ``energy`` of one label and state (reads and
  checks its file);
- ``one label, second variable``: ``population`` of the same label (cached);
- ``one J row``: ``ergotropy`` at the last time for every gamma12 of one J;
- ``whole variable``: ``ergotropy`` at the last time for every label (reads
  every file once; skip with ``--no-whole``).

    python benchmarks/bench_open_results.py                  # 10^4 files
    python benchmarks/bench_open_results.py --n-files 1000 --keep /tmp/sweep
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import qbsd
from qbsd.config import load_study
from qbsd.dataset import write_netcdf
from qbsd.results import SUMMARY_TABLES, clear_cache
from qbsd.workflow import summary_outputs, write_layout, write_summaries

SOURCE = {
    "grid": {
        "n_cells": [3],
        "geometry": ["linear"],
        "J": [2.0],
        "gamma12": [0.5],
        "channel": ["relaxation"],
    },
    "states": ["full", "classical", "quantum"],
    "time": {"t_max": 10.0, "n_points": 1001},
    "paper_figures": False,
    "extension_figures": False,
    "large_n": None,
}


def source_results(workdir: Path):
    """The one real point, simulated and summarised as the workflow does."""
    study = load_study(SOURCE)
    results = workdir / "source" / "results"
    (point,) = study.points.values()
    grid = SOURCE["grid"]
    ds = qbsd.simulate(
        grid["n_cells"][0],
        grid["geometry"][0],
        grid["J"][0],
        grid["gamma12"][0],
        grid["channel"][0],
        states=SOURCE["states"],
        **SOURCE["time"],
    )
    ds.attrs["point_id"] = point.id  # as the workflow records it
    write_netcdf(ds, workdir / "source" / point.path)
    write_summaries(study, summary_outputs(str(results)), results=results)
    return study, results


def fabricate(workdir: Path, n_files: int) -> Path:
    """A results directory of ``n_files`` labels on a (J, gamma12) grid, one file each."""
    study, source = source_results(workdir)
    side = math.isqrt(n_files)
    if side * side != n_files:
        raise ValueError(f"--n-files must be a square (a J x gamma12 grid), got {n_files}")
    values = np.round(np.linspace(0.05, 5.0, side), 6)
    labels = pd.read_csv(source / "summary" / "labels.csv", keep_default_na=False)
    row = labels.iloc[0]
    source_file = source / row["trajectory"]
    results = workdir / "results"
    rows = []
    for J in values:
        for g in values:
            rel = f"trajectories/relaxation/N3/linear/J{J:g}_g{g:g}.nc"
            rows.append({**row.to_dict(), "J": float(J), "gamma12": float(g), "trajectory": rel})
            target = results / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_file, target)
    manifest = pd.DataFrame(rows, columns=labels.columns)
    (results / "summary").mkdir(parents=True, exist_ok=True)
    manifest.to_csv(results / "summary" / "labels.csv", index=False)
    write_layout(study, results / "summary" / "labels.csv")
    grid = pd.DataFrame([(float(J), float(g)) for J in values for g in values], columns=["J", "g"])
    for kind in SUMMARY_TABLES:
        table = pd.read_csv(source / "summary" / f"{kind}.csv")
        many = table.merge(grid, how="cross")
        many["J"], many["gamma12"] = many.pop("J_y"), many.pop("g")
        many = many.drop(columns="J_x")[table.columns]
        many.to_csv(results / "summary" / f"{kind}.csv", index=False)
    return results


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-files", type=int, default=10_000, help="a square (default 10^4)")
    parser.add_argument("--keep", type=Path, help="fabricate here and keep it (else a temp dir)")
    parser.add_argument("--no-whole", action="store_true", help="skip reading every file")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="bench_open_results_"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(f"load average {os.getloadavg()[0]:.2f}; fabricating {args.n_files} files ...")
        took = timed(lambda: fabricate(workdir, args.n_files))
        results = workdir / "results"
        size = sum(p.stat().st_size for p in (results / "trajectories").rglob("*.nc"))
        print(f"fabricated in {took:.1f} s: {args.n_files} files, {size / 2**20:.0f} MiB")

        opens = [timed(lambda: qbsd.open_results(results)) for _ in range(3)]
        cpu = time.process_time()
        res = qbsd.open_results(results)
        cpu = time.process_time() - cpu
        shown = ", ".join(f"{t:.2f}" for t in opens)
        print(f"open (median of 3)            {statistics.median(opens):7.3f} s  ({shown})")
        print(f"open, CPU time of one         {cpu:7.3f} s  (wall time less the machine's load)")
        clear_cache()
        label = dict(channel="relaxation", n_cells=3, geometry="linear", state="quantum")
        one = res.sel(J=res.J[len(res.J) // 2], gamma12=res.gamma12[1], **label)
        print(f"one label, first variable     {timed(lambda: one.energy.values):7.3f} s")
        print(f"one label, second variable    {timed(lambda: one.population.values):7.3f} s")
        row = res.ergotropy.sel(J=res.J[0], **label).isel(time=-1)
        print(
            f"one J row ({res.sizes['gamma12']} labels)         {timed(lambda: row.values):7.3f} s"
        )
        if not args.no_whole:
            whole = res.ergotropy.sel(**label).isel(time=-1)
            seconds = timed(lambda: whole.values)
            per = seconds / args.n_files * 1e3
            print(
                f"whole variable ({args.n_files} labels) {seconds:7.1f} s  ({per:.1f} ms a file)"
            )
        print(f"load average {os.getloadavg()[0]:.2f}")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
