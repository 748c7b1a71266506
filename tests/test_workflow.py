"""The Snakemake workflow end to end on a tiny study, and qbsd.open_results on its output."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from snakerun import job_counts, run_snakemake

import qbsd
from qbsd.batches import plan
from qbsd.config import load_study, read_config_file
from qbsd.dataset import read_netcdf
from qbsd.points import LABEL_KEYS
from qbsd.reference import HALF_LIVES
from qbsd.results import ResultsError
from qbsd.workflow import simulate_settings

pytestmark = [pytest.mark.workflow, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]

# Two channels; N = 1, 2, 3; central, linear, circular and a custom star whose
# hub is cell 2 (a relabelled 3-cell chain); J in {0, 2.5}; gamma12 in {0, 0.75}.
# gamma12 = 0.75 breaks complete positivity on the 3-cell chain (bound
# 1/sqrt 2 = 0.707) but not on the triangle (bound 1): skipped.
TINY = """
grid:
  n_cells: [1, 2, 3]
  geometry: [central, linear, circular, star]
  J: [0.0, 2.5]
  gamma12: [0.0, 0.75]
  channel: [relaxation, phase_damping]
custom_geometries:
  star: [[2, 0], [2, 1]]
states: [full, classical, quantum]
time:
  t_max: 4.0
  n_points: 201
unphysical: skip
paper_figures: false
extension_figures: false
large_n: null
"""
# Labels per channel: N = 1 and N = 2: 3 geometries x 4 (J, g) = 12 each;
# N = 3: 4 geometries x 4 = 16; 40 in all, of which (chain: central, linear,
# star) x (J = 0, 2) at g = 0.75 = 6 are skipped: 34 per channel, 68 in all.
N_LABELS = 2 * (12 + 12 + 16 - 6)
N_SKIPPED = 2 * 6
# Distinct points per channel: N = 1: 1. N = 2: uncoupled + 3 coupled (J, g) = 4.
# N = 3: uncoupled; chain at (2.5, 0); triangle at (0, .75), (2.5, 0), (2.5, .75) = 5.
N_POINTS = 2 * (1 + 4 + 5)
STATES = ["full", "classical", "quantum"]
CONTRACT_VARIABLES = [
    "energy",
    "ergotropy",
    "efficiency",
    "coherence",
    "concurrence",
    "concurrence_mean",
    "population",
]


def snakemake(workdir: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return run_snakemake(workdir, workdir / "tiny.yaml", *args, timeout=timeout)


@pytest.fixture(scope="module")
def study_config(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("study")
    (workdir / "tiny.yaml").write_text(TINY)
    return workdir


@pytest.fixture(scope="module")
def run(study_config) -> Path:
    done = snakemake(study_config, "--cores", "2", "summarise")
    assert done.returncode == 0, done.stderr[-4000:]
    return study_config


@pytest.fixture(scope="module")
def study(study_config):
    config = read_config_file(REPO / "config" / "config.yaml")
    for key, value in read_config_file(study_config / "tiny.yaml").items():
        config[key] = value
    return load_study(config)


def test_dry_run_batches_every_distinct_point_once(study_config, study):
    done = snakemake(study_config, "-n", "--cores", "2", "summarise")
    assert done.returncode == 0, done.stderr[-3000:]
    counts = job_counts(done.stdout + done.stderr)
    batches = plan(study)
    # small points share a job per channel and N; each point is one output of one job
    assert counts["simulate"] == len(batches) == 6
    outputs = [path for batch in batches for path in batch.paths]
    assert sorted(outputs) == sorted(study.trajectory_paths()) and len(outputs) == N_POINTS
    assert len(study.points) == N_POINTS
    assert counts["summarise"] == 1
    assert len(study.assignments) == N_LABELS


def test_every_trajectory_follows_the_contract_and_equals_simulate(run, study):
    paths = sorted((run / "results" / "trajectories").rglob("*.nc"))
    assert len(paths) == N_POINTS
    assert not list((run / "results").rglob("*.part"))
    for point in study.points.values():
        with xr.open_dataset(run / point.path) as ds:
            for name in ("time", "state", "cell", "link", *CONTRACT_VARIABLES):
                assert name in ds.variables, (point.id, name)
            for name in CONTRACT_VARIABLES:
                assert {"units", "long_name"} <= set(ds[name].attrs), (point.id, name)
            for name in ("n_cells", "geometry", "J", "gamma12", "channel"):
                assert name in ds.coords
            assert int(ds["n_cells"]) == point.n_cells
            assert str(ds["channel"].values) == point.channel
            for key in ("config_hash", "command", "qbsd_version", "versions", "settings"):
                assert ds.attrs[key], key
            assert ds.attrs["point_id"] == point.id
            expected = simulate_settings(study.point_settings(point))
            xr.testing.assert_allclose(ds.load(), expected.load(), rtol=1e-9, atol=1e-12)
    logs = "".join(p.read_text() for p in (run / "results" / "logs" / "simulate").glob("*.log"))
    for point in study.points.values():
        for piece in ("settings", "solver", "health OK", f"wrote {point.path}"):
            assert f"point {point.id}: {piece}" in logs, (point.id, piece)


def test_summary_tables_have_one_row_per_label_and_state(run):
    summary = run / "results" / "summary"
    for kind in ("half_lives", "xi0_scaling", "quantumness"):
        frame = pd.read_csv(summary / f"{kind}.csv")
        assert len(frame) == N_LABELS * len(STATES)
        keys = [*LABEL_KEYS, "state"]
        assert list(frame.columns[: len(keys)]) == keys
        assert not frame.duplicated(keys).any()
        with xr.open_dataset(summary / f"{kind}.nc") as ds:
            assert ds.sizes["row"] == len(frame)
    half = pd.read_csv(summary / "half_lives.csv")
    for column in (
        "ergotropy_half_life",
        "energy_half_life",
        "sudden_death_time",
        "xi0",
        "final_ergotropy_fraction",
        "ergotropy_half_life_censored",
    ):
        assert column in half
    labels = pd.read_csv(summary / "labels.csv")
    assert len(labels) == N_LABELS
    assert labels["trajectory"].nunique() == N_POINTS
    skipped = pd.read_csv(summary / "skipped.csv")
    assert len(skipped) == N_SKIPPED
    assert set(skipped["geometry"]) == {"central", "linear", "star"}
    assert skipped["reason"].str.contains("complete positivity").all()


def test_single_cell_half_lives_equal_the_exact_values(run):
    half = pd.read_csv(run / "results" / "summary" / "half_lives.csv")
    single = half[half["n_cells"] == 1]
    assert len(single) == 2 * 3 * 4 * len(STATES)  # every N = 1 label is listed
    for (channel, state), exact in HALF_LIVES.items():
        rows = single[(single["channel"] == channel) & (single["state"] == state)]
        if channel not in ("relaxation", "phase_damping"):
            continue
        assert len(rows) == 12
        if np.isnan(exact):
            assert rows["ergotropy_half_life"].isna().all()
            assert rows["ergotropy_half_life_censored"].all()
        else:
            np.testing.assert_allclose(rows["ergotropy_half_life"], exact, rtol=1e-6)
            assert not rows["ergotropy_half_life_censored"].any()
    text = (run / "results" / "summary" / "half_lives.csv").read_text().splitlines()
    censored = [
        line for line in text if line.startswith("phase_damping,1,") and ",classical," in line
    ]
    assert censored and all(",," in line for line in censored)  # NaN is an empty cell


def test_open_results_is_lazy_and_labelled(run):
    assert (run / "results" / "summary" / "layout.json").is_file()  # beside labels.csv
    res = qbsd.open_results(run / "results")
    for dim in ("channel", "n_cells", "geometry", "J", "gamma12", "state", "time", "cell", "link"):
        assert dim in res.dims
    assert list(res["geometry"].values) == ["central", "linear", "circular", "star"]
    assert res.sizes["cell"] == 3 and res.sizes["link"] == 3
    assert int(res["requested"].sum()) == N_LABELS
    for name in CONTRACT_VARIABLES:
        assert isinstance(res[name].data, da.Array), name
    assert "ergotropy_half_life" in res and "xi0" in res
    # an unrequested (skipped) label is NaN and marked
    skipped = dict(channel="relaxation", n_cells=3, geometry="central", J=2.5, gamma12=0.75)
    assert not bool(res["requested"].sel(**skipped))
    assert np.isnan(res["energy"].sel(**skipped).values).all()


def test_open_results_maps_shared_points_back(run):
    res = qbsd.open_results(run / "results").sel(n_th=0.0, W=0.0, W_J=0.0)  # one value each
    kwargs = {"states": STATES, "t_max": 4.0, "n_points": 201}
    # the custom star (hub 2) is served by the 3-cell chain (hub 1)
    star = res.sel(channel="relaxation", n_cells=3, geometry="star", J=2.5, gamma12=0.0)
    direct = qbsd.simulate(3, [[2, 0], [2, 1]], 2.5, 0.0, "relaxation", **kwargs)
    np.testing.assert_allclose(star["population"].values, direct["population"].values, atol=1e-9)
    np.testing.assert_allclose(
        star["concurrence"].isel(link=slice(0, 2)).values,
        direct["concurrence"].values,
        atol=1e-9,
    )
    assert np.isnan(star["concurrence"].isel(link=2).values).all()  # padding
    assert list(res["link_name"].sel(n_cells=3, geometry="star").values) == ["0-2", "1-2", ""]
    # a one-cell label asking for J = 2 on a circle is the single cell
    one = res.sel(channel="phase_damping", n_cells=1, geometry="circular", J=2.5, gamma12=0.75)
    single = qbsd.simulate(1, "linear", 0.0, 0.0, "phase_damping", **kwargs)
    np.testing.assert_allclose(one["ergotropy"].values, single["ergotropy"].values, atol=1e-12)
    assert np.isnan(one["population"].isel(cell=slice(1, None)).values).all()
    # uncoupled: linear N = 3 at J = g = 0 from the all-to-all point, links (0,1), (1,2)
    free = res.sel(channel="relaxation", n_cells=3, geometry="linear", J=0.0, gamma12=0.0)
    direct = qbsd.simulate(3, "linear", 0.0, 0.0, "relaxation", **kwargs)
    np.testing.assert_allclose(
        free["concurrence"].isel(link=slice(0, 2)).values, direct["concurrence"].values, atol=1e-9
    )
    np.testing.assert_allclose(
        free["concurrence_mean"].values, direct["concurrence_mean"].values, atol=1e-9
    )


def test_nothing_left_to_do_and_changed_parameters_rerun(run):
    done = snakemake(run, "-n", "--cores", "2", "summarise")
    assert done.returncode == 0
    assert "Nothing to be done" in done.stdout + done.stderr
    changed = run / "changed.yaml"
    changed.write_text(TINY + "solver:\n  rtol: 1.0e-9\n")
    again = run_snakemake(run, changed, "-n", "--cores", "2", "summarise")
    assert again.returncode == 0, again.stderr[-3000:]
    assert job_counts(again.stdout + again.stderr)["simulate"] == 6  # every batch


def test_open_results_names_missing_and_damaged_files(run, tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(run / "results", copy)
    target = "trajectories/relaxation/N3/linear/J2.5_g0.nc"
    (copy / target).unlink()
    with pytest.raises(ResultsError) as caught:
        qbsd.open_results(copy)
    message = str(caught.value)
    assert str(copy / target) in message and f"snakemake --cores 2 results/{target}" in message
    assert "geometry=" in message
    data = (run / "results" / target).read_bytes()
    (copy / target).write_bytes(data[: len(data) // 3])
    res = qbsd.open_results(copy)  # lazy: the file is read when its data is computed
    label = dict(channel="relaxation", n_cells=3, geometry="linear", J=2.5, gamma12=0.0)
    with pytest.raises(ResultsError) as caught:
        res["population"].sel(**label).values  # noqa: B018 - computing is the point
    assert str(copy / target) in str(caught.value) and "--force" in str(caught.value)
    (copy / "summary" / "labels.csv").unlink()
    with pytest.raises(ResultsError, match="labels.csv"):
        qbsd.open_results(copy)


def test_the_command_a_damaged_file_names_repairs_it(run, tmp_path):
    import netCDF4

    workdir = tmp_path / "study"
    shutil.copytree(run, workdir, ignore=shutil.ignore_patterns("changed.yaml"))
    target = "trajectories/relaxation/N3/linear/J2.5_g0.nc"
    damaged = workdir / "results" / target
    # silent damage: numbers change, the file still opens and its attributes hold
    with netCDF4.Dataset(damaged, "a") as nc:
        nc["ergotropy"][0, 10] = 7.0
    label = dict(channel="relaxation", n_cells=3, geometry="linear", J=2.5, gamma12=0.0)
    with pytest.raises(ResultsError) as caught:
        qbsd.open_results(workdir / "results")["ergotropy"].sel(**label).values  # noqa: B018
    command = str(caught.value).split("snakemake ")[1].split()
    assert command == ["--cores", "2", "--force", f"results/{target}"]
    done = snakemake(workdir, *command)
    assert done.returncode == 0, done.stderr[-3000:]
    original = read_netcdf(run / "results" / target)
    repaired = read_netcdf(damaged)
    xr.testing.assert_identical(repaired.drop_attrs(), original.drop_attrs())
    again = qbsd.open_results(workdir / "results")["ergotropy"].sel(**label)
    np.testing.assert_array_equal(
        again.sel(state=original["state"].values).squeeze().values, original["ergotropy"].values
    )


# --------------------------------------------------------------------------
# the large-N symmetric battery (config key large_n): permutation-invariant
# solver, the same summaries, its figure

LARGE_N = """
grid:
  n_cells: [1, 2, 3]
  geometry: [symmetric, linear]
  J: [2.0]
  gamma12: [0.5]
  channel: [relaxation]
large_n:
  n_cells: [10, 12]
  J: [2.0]
  gamma12: [0.5]
  channel: [relaxation]
states: [full, classical, quantum]
time:
  t_max: 2.0
  n_points: 51
unphysical: error
paper_figures: false
extension_figures: false
"""
LARGE_N_FIGURE = "results/figures/sweep/relaxation/large_n_scaling"


@pytest.fixture(scope="module")
def large_n_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("large_n")
    (workdir / "tiny.yaml").write_text(LARGE_N)
    done = snakemake(workdir, "--cores", "2", f"{LARGE_N_FIGURE}.png", "summarise")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def test_large_n_dry_run_sizes_jobs_for_the_permutation_invariant_solver(tmp_path):
    from qbsd.resources import point_memory_bytes

    (tmp_path / "tiny.yaml").write_text(LARGE_N)
    done = snakemake(tmp_path, "-n", "--cores", "2", "figures")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    counts = job_counts(output)
    # one batch per N: N = 1, 2, 3 (chain and triangle), and N = 10, 12 alone
    assert counts["simulate"] == 5
    assert counts["large_n_scaling"] == 1
    (n12,) = output.split("rule simulate_relaxation_N12_000:")[1:]
    mem = int(re.search(r"mem_mb=(\d+)", n12)[1])
    settings = {
        "n_cells": 12,
        "states": STATES,
        "geometry": "symmetric",
        "method": "auto",
        "n_points": 51,
    }
    assert mem == math.ceil(point_memory_bytes(settings) / 1e6)
    full_space = point_memory_bytes({**settings, "method": "bdf"})
    assert mem < full_space / 1e6 / 100  # not the 4^12 full-space estimate (78 GB)


def test_large_n_points_run_on_the_permutation_invariant_solver(large_n_run):
    trajectories = large_n_run / "results" / "trajectories" / "relaxation"
    for n in (10, 12):
        with xr.open_dataset(trajectories / f"N{n}" / "symmetric" / "J2_g0.5.nc") as ds:
            assert ds.attrs["solver_method"] == "piqs"
            assert ds.sizes["cell"] == n and ds.sizes["link"] == n * (n - 1) // 2
            for name in CONTRACT_VARIABLES:
                assert name in ds and {"units", "long_name"} <= set(ds[name].attrs)
            # xi(0) of the product states: 2/3 (classical), 1 (quantum)
            xi0 = ds["efficiency"].isel(time=0)
            assert float(xi0.sel(state="classical")) == pytest.approx(2 / 3, abs=1e-9)
            assert float(xi0.sel(state="quantum")) == pytest.approx(1.0, abs=1e-9)
    with xr.open_dataset(trajectories / "N3" / "circular" / "J2_g0.5.nc") as ds:
        assert ds.attrs["solver_method"] != "piqs"  # small N: the full density matrix


def test_large_n_labels_are_summarised_and_drawn(large_n_run):
    summary = large_n_run / "results" / "summary"
    half = pd.read_csv(summary / "half_lives.csv")
    assert len(half) == (3 * 2 + 2) * len(STATES)
    large = half[half["n_cells"] >= 10]
    assert sorted(set(large["n_cells"])) == [10, 12]
    assert set(large["geometry"]) == {"symmetric"} and len(large) == 2 * len(STATES)
    assert large["xi0"].notna().all() and large["health_ok"].astype(bool).all()
    labels = pd.read_csv(summary / "labels.csv")
    assert "trajectories/relaxation/N12/symmetric/J2_g0.5.nc" in set(labels["trajectory"])
    for ext in ("png", "pdf"):
        assert (large_n_run / f"{LARGE_N_FIGURE}.{ext}").stat().st_size > 1000
    log = large_n_run / "results/logs/figures/sweep/relaxation/large_n_scaling.log"
    assert "N = [1, 2, 3, 10, 12]" in log.read_text()  # with the grid's symmetric labels
    res = qbsd.open_results(large_n_run / "results")
    assert 12 in res["n_cells"].values and res.sizes["cell"] == 12
    energy = res["energy"].sel(
        channel="relaxation",
        n_cells=12,
        geometry="symmetric",
        J=2.0,
        gamma12=0.5,
        n_th=0.0,
        W=0.0,
        W_J=0.0,
        state="full",
    )
    assert float(energy.isel(time=0)) == pytest.approx(12.0)


# --------------------------------------------------------------------------
# the whole default target: paper panels, sweep figures and the HTML report

FIGURE_STUDY = """
grid:
  n_cells: [1, 2]
  geometry: [linear]
  J: [3.6]
  gamma12: [0.35]
  channel: [relaxation]
states: [full, classical, quantum]
time:
  t_max: 3.0
  n_points: 151
paper_figures: true
extension_figures: false
large_n: null
"""
PAPER_PANELS = ["fig2a", "fig2b", "fig3a", "fig3b", "fig4a", "fig4b", "fig5a", "fig5b"]


@pytest.fixture(scope="module")
def figure_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("figures")
    (workdir / "tiny.yaml").write_text(FIGURE_STUDY)
    done = snakemake(workdir, "--cores", "2")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def test_default_target_draws_every_paper_panel_and_sweep_figure(figure_run):
    figures = figure_run / "results" / "figures"
    for name in [*PAPER_PANELS, "phase_damping"]:
        for suffix in (".png", ".pdf"):
            path = figures / "paper" / f"{name}{suffix}"
            assert path.stat().st_size > 5000, path
    sweep = sorted(p.name for p in (figures / "sweep").rglob("*.png"))
    assert "xi0_vs_n.png" in sweep
    assert any(name.startswith("half_life_map_N") for name in sweep)
    assert "half_life_vs_n_J3.6.png" in sweep  # a grid value with a dot in the name
    assert "half_life_map_N2.png" in sweep


def test_fig2a_half_life_markers_agree_with_the_summary_table(figure_run):
    table = pd.read_csv(figure_run / "results" / "summary" / "half_lives.csv")
    paper = (table.n_cells == 1) & (table.channel == "relaxation") & (table.J == 2.0)
    one = table[paper].set_index("state")  # the paper's point (J = 2, gamma12 = 1/2)
    for state in ("classical", "quantum"):
        assert one.loc[state, "ergotropy_half_life"] == pytest.approx(
            HALF_LIVES[("relaxation", state)], rel=1e-6
        )


def test_html_report_bundles_the_figures(figure_run):
    done = snakemake(figure_run, "--report", "report.html")
    assert done.returncode == 0, done.stderr[-4000:]
    report = figure_run / "report.html"
    assert report.stat().st_size > 100_000
    text = report.read_text(errors="replace")
    for name in ("fig2a", "fig4b", "half_life_map", "half_lives"):
        assert name in text, name
