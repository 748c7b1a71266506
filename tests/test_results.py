"""qbsd.open_results reads lazily: nothing at open, each file once, checked, equal to
reading every file eagerly. Damaged and missing files: tests/test_reliability.py.

One in-process study of seven distinct points (N = 1, 2, 3, one channel, about
a second of simulation; the Dicke state only at N = 2, so labels differ in
their states): each trajectory from ``workflow.simulate_settings``, written
with its point id, then the workflow's summaries and manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import qbsd
from qbsd import label_reader
from qbsd import results as results_module
from qbsd.config import load_study
from qbsd.dataset import read_netcdf, write_netcdf
from qbsd.results import LABEL_DIMS, LAYOUT_NAME, ResultsError, clear_cache
from qbsd.workflow import simulate_settings, summary_outputs, write_layout, write_summaries

SERIES = ("energy", "ergotropy", "efficiency", "coherence", "concurrence_mean")
HEALTH = ("max_trace_error", "min_eigenvalue", "max_hermiticity_error")


def small_study():
    return load_study(
        {
            "grid": {
                "n_cells": [1, 2, 3],
                "geometry": ["linear", "circular"],
                "J": [0.0, 2.0],
                "gamma12": [0.25],
                "channel": ["relaxation"],
            },
            "states": ["full", "quantum", "dicke"],  # dicke: even N only
            "time": {"t_max": 3.0, "n_points": 31},
            "unphysical": "skip",  # the Dicke state at odd N
            "paper_figures": False,
            "large_n": None,
        }
    )


def _run(study, workdir: Path) -> Path:
    """Every trajectory of ``study`` under ``workdir``, then the summaries and manifest."""
    for point in study.points.values():
        ds = simulate_settings(study.point_settings(point))
        ds.attrs["point_id"] = point.id  # as the simulate jobs record it
        write_netcdf(ds, workdir / point.path)
    results = workdir / "results"
    write_summaries(study, summary_outputs(str(results)), results=results)
    return results


@pytest.fixture(scope="module")
def small_results(tmp_path_factory) -> Path:
    return _run(small_study(), tmp_path_factory.mktemp("lazy"))


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The trajectories open_results reads from now on (its cache emptied first)."""
    calls: list[str] = []

    def counting(path):
        calls.append(str(path))
        return read_netcdf(path)

    clear_cache()
    monkeypatch.setattr(label_reader, "read_netcdf", counting)
    return calls


def _manifest(results: Path) -> pd.DataFrame:
    return pd.read_csv(results / "summary" / "labels.csv", keep_default_na=False)


def _label(row) -> dict:
    return {dim: getattr(row, dim) for dim in LABEL_DIMS}


def _eager_label(path: Path, states: list[str], cell_map: str, link_map: str) -> dict:
    """One label's arrays (its ``states``) read straight from its file: the eager route."""
    ds = read_netcdf(path).sel(state=states)
    cells = [int(c) for c in cell_map.split()]
    links = [int(k) for k in link_map.split()]
    out = {name: ds[name].values for name in (*SERIES, *HEALTH)}
    out["population"] = ds["population"].isel(cell=cells).values
    out["concurrence"] = ds["concurrence"].isel(link=links).values
    if len(links) != ds.sizes["link"]:  # part of the point's links: the label's own mean
        conc = out["concurrence"]
        out["concurrence_mean"] = conc.mean(axis=1) if links else np.full(conc[:, 0].shape, np.nan)
    return out


def test_lazy_arrays_equal_every_file_read_eagerly(small_results):
    res = qbsd.open_results(small_results).compute()
    assert list(res["state"].values) == ["full", "quantum", "dicke"]
    manifest = _manifest(small_results)
    assert int(res["requested"].sum()) == len(manifest)
    assert set(manifest["states"]) == {"full quantum", "full quantum dicke"}
    for row in manifest.itertuples():
        own = row.states.split()
        got = res.sel(**_label(row))
        others = got.sel(state=[s for s in res["state"].values if s not in own])
        for name in (*SERIES, *HEALTH, "population", "concurrence"):
            assert np.isnan(others[name]).all(), (row, name)  # not the label's states
        got = got.sel(state=own)
        expected = _eager_label(small_results / row.trajectory, own, row.cell_map, row.link_map)
        for name, values in expected.items():
            have = got[name]
            if "cell" in have.dims:
                n = values.shape[1]
                assert np.isnan(have.isel(cell=slice(n, None))).all(), (row, name)
                have = have.isel(cell=slice(0, n))
            if "link" in have.dims:
                n = values.shape[1]
                assert np.isnan(have.isel(link=slice(n, None))).all(), (row, name)
                have = have.isel(link=slice(0, n))
            np.testing.assert_array_equal(have.values, values, err_msg=f"{row} {name}")
        assert str(got["trajectory"].values) == row.trajectory
    with xr.open_dataset(small_results / manifest["trajectory"].iloc[-1]) as one:
        for name in (*SERIES, *HEALTH, "population", "concurrence"):
            for key in ("units", "long_name"):
                assert res[name].attrs[key] == one[name].attrs[key], (name, key)
        assert res["time"].attrs == one["time"].attrs
        np.testing.assert_array_equal(res["time"].values, one["time"].values)


def test_opening_reads_no_file_and_a_file_once_for_all_its_variables(small_results, reads):
    res = qbsd.open_results(small_results)
    assert reads == []
    for name in (*SERIES, *HEALTH, "population", "concurrence"):
        assert isinstance(res[name].data, da.Array), name
    label = dict(channel="relaxation", n_cells=2, geometry="linear", J=2.0, gamma12=0.25)
    path = small_results / "trajectories/relaxation/N2/linear/J2_g0.25.nc"
    res["energy"].sel(**label).values  # noqa: B018 - computing is the point
    assert reads == [str(path)]
    res["population"].sel(**label).values  # noqa: B018
    res[["ergotropy", "concurrence"]].sel(**label).compute()
    circular = {**label, "geometry": "circular"}  # the same point serves N = 2 on a circle
    res["coherence"].sel(**circular).values  # noqa: B018
    assert reads == [str(path)]
    # the whole sweep in one compute, nothing cached: every file once
    clear_cache()
    reads.clear()
    res.compute()
    files = _manifest(small_results)["trajectory"].unique()
    assert sorted(reads) == sorted(str(small_results / rel) for rel in files)
    # verify=True checks every file at open time instead
    clear_cache()
    reads.clear()
    qbsd.open_results(small_results, verify=True)
    assert len(reads) == res.attrs["n_trajectories"] == 7


def test_a_regenerated_file_is_read_again(results_copy, reads):
    """The cache is keyed by the file's path, modification time, size and inode."""
    manifest = _manifest(results_copy)
    row = next(manifest[manifest["n_cells"] == 3].itertuples())
    path = results_copy / row.trajectory
    res = qbsd.open_results(results_copy)
    before = res["energy"].sel(**_label(row)).values
    ds = read_netcdf(path)
    write_netcdf(ds.assign(energy=ds["energy"] * 0.5), path)  # a regenerated file
    after = res["energy"].sel(**_label(row)).values
    assert len(reads) == 2
    np.testing.assert_array_equal(after, before * 0.5)


def test_the_layout_sidecar_agrees_with_the_files_and_stale_ones_are_ignored(results_copy, reads):
    layout = results_copy / "summary" / LAYOUT_NAME
    assert json.loads(layout.read_text())["states"] == ["full", "quantum", "dicke"]
    with_layout = qbsd.open_results(results_copy)
    assert reads == []  # built from the manifest and the layout alone
    expected = with_layout.compute()
    # a layout that belongs to another manifest, and no layout: from one trajectory
    labels = results_copy / "summary" / "labels.csv"
    labels.write_text(labels.read_text() + "\n")
    clear_cache()
    reads.clear()
    stale = qbsd.open_results(results_copy)
    assert len(reads) == 1
    xr.testing.assert_identical(stale.compute(), expected)
    layout.unlink()
    xr.testing.assert_identical(qbsd.open_results(results_copy).compute(), expected)
    # and rewritten for this manifest, it is used again
    write_layout(small_study(), labels)
    reads.clear()
    qbsd.open_results(results_copy)
    assert reads == []


def test_a_stale_or_moved_file_is_named_when_read(results_copy):
    manifest = _manifest(results_copy)
    three = manifest[manifest["n_cells"] == 3]
    rel, other = three["trajectory"].iloc[0], three["trajectory"].iloc[-1]
    assert rel != other
    path = results_copy / rel
    label = _label(next(three.itertuples()))
    ds = read_netcdf(path)
    write_netcdf(ds.isel(time=slice(0, 11)), path)  # a valid file from a shorter t_max
    res = qbsd.open_results(results_copy)
    with pytest.raises(ResultsError) as caught:
        res["ergotropy"].sel(**label).values  # noqa: B018 - computing is the point
    message = str(caught.value)
    assert str(path) in message and "another time grid" in message
    assert f"snakemake --cores 2 --force results/{rel}" in message
    shutil.copyfile(results_copy / other, path)  # another point's file in its place
    with pytest.raises(ResultsError) as caught:
        res["ergotropy"].sel(**label).values  # noqa: B018
    assert str(path) in str(caught.value) and "holds the point" in str(caught.value)
    # a file without one of its labels' states (the Dicke state at N = 2)
    two = next(manifest[manifest["n_cells"] == 2].itertuples())
    path = results_copy / two.trajectory
    ds = read_netcdf(path)
    write_netcdf(ds.sel(state=["full", "quantum"]), path)
    with pytest.raises(ResultsError) as caught:
        res["energy"].sel(**_label(two)).values  # noqa: B018
    assert str(path) in str(caught.value) and "lacks the states ['dicke']" in str(caught.value)
    with pytest.raises(ResultsError, match="lacks the states"):
        qbsd.open_results(results_copy, verify=True)


def test_a_label_listed_twice_is_reported(results_copy):
    labels = results_copy / "summary" / "labels.csv"
    manifest = _manifest(results_copy)
    pd.concat([manifest, manifest.iloc[[3]]]).to_csv(labels, index=False)
    with pytest.raises(ResultsError, match="lists a label more than once"):
        qbsd.open_results(results_copy)


def test_disordered_and_clean_labels_share_a_realisation_axis(tmp_path):
    """A disordered point's series carry a leading realisation dim; a clean label
    fills its first entry (NaN beyond), a disordered one every realisation."""
    study = load_study(
        {
            "grid": {
                "n_cells": [2],
                "geometry": ["linear"],
                "J": [2.0],
                "gamma12": [0.25],
                "channel": ["relaxation"],
            },
            "disorder": {"W": [0.0, 1.0], "realisations": 2},
            "states": ["full", "quantum"],
            "time": {"t_max": 1.0, "n_points": 11},
            "paper_figures": False,
            "large_n": None,
        }
    )
    results = _run(study, tmp_path)
    res = qbsd.open_results(results).compute()
    assert res.sizes["realisation"] == 2 and "W" in res.dims
    for name in (*SERIES, *HEALTH, "population", "concurrence"):
        assert res[name].dims[len(LABEL_DIMS)] == "realisation", name
    for row in _manifest(results).itertuples():
        got = res.sel(**_label(row))
        with xr.open_dataset(results / row.trajectory) as ds:
            for name in ("energy", "population", "max_trace_error"):
                values = ds[name].values
                if row.W == 0:
                    np.testing.assert_array_equal(got[name].isel(realisation=0), values)
                    assert np.isnan(got[name].isel(realisation=1)).all()
                else:
                    np.testing.assert_array_equal(got[name], values)


def test_every_summary_table_of_every_label_is_merged(small_results):
    res = qbsd.open_results(small_results)
    for kind in results_module.SUMMARY_TABLES:
        table = pd.read_csv(small_results / "summary" / f"{kind}.csv")
        for column in table.columns[len(LABEL_DIMS) + 1 :]:  # after the label and state
            assert column in res, (kind, column)
        row = table.iloc[-1]
        at = {dim: row[dim] for dim in (*LABEL_DIMS, "state")}
        value = table.columns[-1]
        np.testing.assert_allclose(float(res[value].sel(**at)), float(row[value]))


def test_summaries_read_in_worker_processes_equal_the_serial_ones(small_results):
    from qbsd import jobs
    from qbsd.workflow import label_rows

    study = small_study()
    serial = label_rows(study, small_results)
    try:
        pooled = label_rows(study, small_results, processes=2)
    finally:
        jobs.shutdown_pool()
    pd.testing.assert_frame_equal(pooled, serial)
    assert len(serial) == sum(len(a.states) for a in study.assignments)
