"""Plotting library: every figure function on small in-memory data, deterministic files."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import qbsd
from qbsd import plots, style
from qbsd.summaries import summarize

N_POINTS = 101
T_MAX = 5.0
STATES = ["classical", "quantum"]
GEOMETRIES = ["central", "linear", "circular", "symmetric"]


def _sim(n, geometry="linear", channel="relaxation", J=2.0, gamma12=0.5):
    return qbsd.simulate(n, geometry, J, gamma12, channel, STATES, T_MAX, N_POINTS)


@pytest.fixture(scope="module")
def single():
    return _sim(1)


@pytest.fixture(scope="module")
def dephasing():
    return _sim(1, channel="phase_damping")


@pytest.fixture(scope="module")
def chain():
    return [_sim(n) for n in (1, 2, 3)]


@pytest.fixture(scope="module")
def networks():
    return {g: _sim(4, g) for g in GEOMETRIES}


@pytest.fixture(scope="module")
def table():
    """A small real sweep (with censored phase-damping rows) as summarize() rows."""
    frames = []
    for channel in ("relaxation", "phase_damping"):
        for n in (1, 2, 3):
            for geometry in ("linear", "symmetric"):
                for J in (0.0, 2.0):
                    for gamma12 in (0.0, 0.5):
                        ds = _sim(n, geometry, channel, J, gamma12)
                        frame = summarize(ds)
                        frame["geometry"] = geometry  # the requested label
                        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _check_written(stem):
    for suffix in (".png", ".pdf"):
        path = stem.with_name(stem.name + suffix)
        assert path.exists() and path.stat().st_size > 1000, path
    assert stem.with_name(stem.name + ".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stem.with_name(stem.name + ".pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("name", ["fig2a", "fig2b"])
def test_single_point_panels(tmp_path, single, name):
    stem = tmp_path / name
    fig = getattr(plots, name)(single, stem)
    assert isinstance(fig, Figure)
    _check_written(stem)


def test_phase_damping_panel_marks_censored_half_life(tmp_path, dephasing):
    fig = plots.phase_damping(dephasing, tmp_path / "pd")
    _check_written(tmp_path / "pd")
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("not reached" in t for t in texts)
    assert any("0.693" in t for t in texts)  # ln 2, from the dataset


def test_fig2a_half_life_markers_come_from_the_dataset(single):
    fig = plots.fig2a(single)
    ax = fig.axes[0]
    taus = single["ergotropy_half_life"].values
    vertical = sorted(
        line.get_xdata()[0]
        for line in ax.get_lines()
        if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
    )
    np.testing.assert_allclose(vertical, sorted(taus), rtol=0, atol=0)
    texts = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    for tau in taus:
        assert f"{tau:.3f}" in texts
    # docs/model.md, "Reference values": 2 ln(6/5) and 2 ln[2(1 + sqrt 6)/5]
    assert "0.365" in texts and "0.644" in texts


@pytest.mark.parametrize("name", ["fig3a", "fig3b"])
def test_chain_panels(tmp_path, chain, name):
    stem = tmp_path / name
    fig = getattr(plots, name)(list(reversed(chain)), stem)  # sorted by N inside
    _check_written(stem)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["$N = 1$", "$N = 2$", "$N = 3$"]


@pytest.mark.parametrize("name", ["fig4a", "fig4b", "fig5a", "fig5b"])
def test_network_panels(tmp_path, networks, name):
    stem = tmp_path / name
    fig = getattr(plots, name)(networks, stem)
    _check_written(stem)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert sorted(labels) == sorted(GEOMETRIES)


def test_fig4b_has_classical_inset(networks):
    fig = plots.fig4b(list(networks.values()))
    insets = fig.axes[0].child_axes
    assert len(insets) == 1 and len(insets[0].get_lines()) == len(GEOMETRIES)


def test_panel_needs_one_point_and_its_states(single, chain):
    with pytest.raises(ValueError, match="one parameter point"):
        plots.fig2a(chain)
    with pytest.raises(ValueError, match="'full'"):
        plots.fig2a(single, states=["full"])


def test_select(chain, networks):
    everything = chain + list(networks.values())
    assert [int(ds["n_cells"]) for ds in plots.select(everything, n_cells=[1, 2])] == [1, 2]
    picked = plots.select(everything, geometry="central", J=2.0, gamma12=0.5)
    assert len(picked) == 1 and str(picked[0]["geometry"].values) == "central"


def test_heatmap(tmp_path, table):
    stem = tmp_path / "heat"
    fig = plots.half_life_heatmap(table, stem, channel="relaxation", n_cells=3)
    _check_written(stem)
    assert len(fig.axes) == 2 * 3 + 2  # two geometries x (cl, qu, ratio) + two colour bars


def test_heatmap_marks_censored_and_missing(tmp_path, table):
    sub = table[~((table["J"] == 2.0) & (table["gamma12"] == 0.5) & (table["n_cells"] == 3))]
    fig = plots.half_life_heatmap(sub, tmp_path / "pd", channel="phase_damping", n_cells=3)
    legend = " ".join(t.get_text() for t in fig.legends[0].get_texts())
    assert "censored" in legend and "not in table" in legend
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "n.r." in texts and "< 1" in texts and "–" in texts


def test_heatmap_needs_a_facet(table):
    with pytest.raises(ValueError, match="channel"):
        plots.half_life_heatmap(table)


def test_half_life_vs_n(tmp_path, table):
    stem = tmp_path / "vsn"
    plots.half_life_vs_n(table, stem, channel="phase_damping", J=2.0)
    _check_written(stem)


def test_xi0_vs_n(tmp_path, table):
    stem = tmp_path / "xi0"
    fig = plots.xi0_vs_n(table, stem)
    _check_written(stem)
    assert len(fig.axes) == 2
    only_xi0 = table.drop(columns=["dead_energy_per_cell"])
    assert len(plots.xi0_vs_n(only_xi0).axes) == 1


def test_large_n_scaling(tmp_path, table):
    stem = tmp_path / "large"
    plots.large_n_scaling(table, stem, J=2.0, gamma12=0.5)
    _check_written(stem)
    plots.large_n_scaling(table, channel="phase_damping", J=2.0)  # several (J, gamma12)


def test_summary_table_from_csv(tmp_path, table):
    """CSV round trip: censored half-lives are empty cells, flags may come back as text."""
    path = tmp_path / "half_lives.csv"
    table.to_csv(path, index=False)
    frame = pd.read_csv(path)
    frame["ergotropy_half_life_censored"] = frame["ergotropy_half_life_censored"].astype(str)
    fig = plots.half_life_heatmap(frame, channel="phase_damping", n_cells=2)
    assert "n.r." in [t.get_text() for ax in fig.axes for t in ax.texts]


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_output_is_deterministic(tmp_path, single, table):
    for run in ("one", "two"):
        plots.fig2a(single, tmp_path / run / "fig2a")
        plots.half_life_heatmap(table, tmp_path / run / "heat", channel="relaxation", n_cells=2)
    for name in ("fig2a.png", "fig2a.pdf", "heat.png", "heat.pdf"):
        assert _digest(tmp_path / "one" / name) == _digest(tmp_path / "two" / name), name
    pdf = (tmp_path / "one" / "fig2a.pdf").read_bytes()
    assert b"/CreationDate" not in pdf
    png = (tmp_path / "one" / "fig2a.png").read_bytes()
    assert b"Software" not in png


def test_save_accepts_a_suffix(tmp_path, single):
    fig = plots.fig2b(single)
    paths = style.save(fig, tmp_path / "sub" / "fig2b.png")
    assert [p.name for p in paths] == ["fig2b.png", "fig2b.pdf"]


def test_style_does_not_leak(single):
    import matplotlib as mpl

    before = mpl.rcParams["font.size"]
    plots.fig2a(single)
    assert mpl.rcParams["font.size"] == before


def test_paper_panel_picks_its_points_once(single, chain, networks):
    everything = [single, *chain, *networks.values(), *chain]  # repeats count once
    fig = plots.paper_panel("fig3a", [single, *chain, _sim(4), _sim(5)] + chain)
    labels = sorted(t.get_text() for t in fig.legends[0].get_texts())
    assert labels == [f"$N = {n}$" for n in range(1, 6)]
    with pytest.raises(ValueError, match=r"fig4a: no trajectory for geometry"):
        plots.paper_panel("fig4a", everything)  # the networks here have N = 4
    with pytest.raises(ValueError, match="unknown paper panel"):
        plots.paper_panel("fig9", everything)


def test_table_html_marks_censored(table):
    page = plots.table_html(table, title="half_lives")
    assert page.startswith("<!DOCTYPE html>") and page == plots.table_html(table, "half_lives")
    assert '<td class="nr">not reached</td>' in page  # phase damping, classical state


def test_grid_rows_drop_points_off_the_grid(table):
    grid = {
        "channel": ["relaxation"],
        "n_cells": [2, 3],
        "geometry": ["linear"],
        "J": [2.0],
        "gamma12": [0.0, 0.5],
    }
    rows = plots.grid_rows(table, grid)
    assert len(rows) == 2 * 2 * len(STATES)
    assert set(rows["channel"]) == {"relaxation"} and set(rows["J"]) == {2.0}


def _results(tmp_path, datasets):
    """A results/ folder with trajectories, labels.csv and half_lives.csv of ``datasets``."""
    results = tmp_path / "results"
    rows, frames, paths = [], [], []
    for k, ds in enumerate(datasets):
        relpath = f"trajectories/point{k}.nc"
        qbsd.write_netcdf(ds, results / relpath)
        paths.append(str(results / relpath))
        point = plots.point(ds)
        rows.append({**point, "point": f"p{k}", "trajectory": relpath, "paper": True})
        frames.append(summarize(ds))
    (results / "summary").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(results / "summary" / "labels.csv", index=False)
    pd.concat(frames).to_csv(results / "summary" / "half_lives.csv", index=False)
    return results, paths


def test_paper_figure_job(tmp_path, single, dephasing):
    results, paths = _results(tmp_path, [single, dephasing])
    summary = results / "summary"
    for panel in ("fig2a", "phase_damping"):
        png = results / "figures" / "paper" / f"{panel}.png"
        log = results / "logs" / f"{panel}.log"
        plots.paper_figure_job(
            panel,
            paths,
            str(summary / "labels.csv"),
            str(summary / "half_lives.csv"),
            str(png),
            str(png.with_suffix(".pdf")),
            str(log),
        )
        _check_written(png.with_suffix(""))
        assert "half-life" in log.read_text()


def test_paper_figure_job_refuses_a_disagreeing_table(tmp_path, single):
    results, paths = _results(tmp_path, [single])
    summary = results / "summary"
    frame = pd.read_csv(summary / "half_lives.csv")
    frame["ergotropy_half_life"] += 1e-6
    frame.to_csv(summary / "half_lives.csv", index=False)
    log = tmp_path / "fig2a.log"
    with pytest.raises(ValueError, match="drawn"):
        plots.paper_figure_job(
            "fig2a",
            paths,
            str(summary / "labels.csv"),
            str(summary / "half_lives.csv"),
            str(tmp_path / "fig2a.png"),
            str(tmp_path / "fig2a.pdf"),
            str(log),
        )
    assert "failed" in log.read_text()


def test_sweep_and_table_jobs(tmp_path, table):
    csv = tmp_path / "half_lives.csv"
    table.to_csv(csv, index=False)
    grid = {
        "channel": ["relaxation", "phase_damping"],
        "n_cells": [1, 2, 3],
        "geometry": ["linear", "symmetric"],
        "J": [0.0, 2.0],
        "gamma12": [0.0, 0.5],
    }
    jobs = [
        ("half_life_map", {"channel": "phase_damping", "n_cells": "3"}),
        ("half_life_vs_n", {"channel": "relaxation", "J": "2"}),
        ("xi0_vs_n", {}),
    ]
    for kind, facet in jobs:
        png = tmp_path / f"{kind}.png"
        plots.sweep_figure_job(
            kind, csv, png, png.with_suffix(".pdf"), tmp_path / f"{kind}.log", grid, **facet
        )
        _check_written(png.with_suffix(""))
    html = tmp_path / "tables" / "half_lives.html"
    plots.table_html_job(csv, html, tmp_path / "table.log")
    assert "not reached" in html.read_text()


def test_large_n_rows_and_job(tmp_path, table):
    """The large-N figure takes every symmetric row at large_n's couplings, any N."""
    large_n = {"n_cells": [10], "J": [2.0], "gamma12": [0.5], "channel": ["relaxation"]}
    rows = plots.large_n_rows(table, large_n, "relaxation")
    assert set(rows["geometry"]) == {"symmetric"} and set(rows["channel"]) == {"relaxation"}
    assert set(rows["J"]) == {2.0} and set(rows["gamma12"]) == {0.5}
    assert sorted(set(rows["n_cells"])) == [1, 2, 3] and len(rows) == 3 * len(STATES)
    csv = tmp_path / "half_lives.csv"
    table.to_csv(csv, index=False)
    png = tmp_path / "relaxation" / "large_n_scaling.png"
    png.parent.mkdir()
    log = tmp_path / "large_n.log"
    plots.large_n_figure_job(csv, png, png.with_suffix(".pdf"), log, large_n, "relaxation")
    _check_written(png.with_suffix(""))
    assert "N = [1, 2, 3]" in log.read_text()
    with pytest.raises(ValueError, match="no rows"):
        plots.large_n_figure_job(
            csv, png, png.with_suffix(".pdf"), log, {**large_n, "J": [7.0]}, "relaxation"
        )
    assert "failed" in log.read_text()
