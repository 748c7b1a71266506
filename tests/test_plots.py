"""Plotting library: every figure function on small in-memory data, deterministic files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import qbsd
from qbsd import plots, style
from qbsd.points import LABEL_KEYS
from qbsd.summaries import summarize

REPO = Path(__file__).resolve().parents[1]

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


# --------------------------------------------------------------------------
# figures beyond the paper: synthetic summary tables, tiny real trajectories

LABEL_COLUMNS = list(LABEL_KEYS)
GEOMETRY_FACTOR = {"central": 0.8, "linear": 1.0, "circular": 1.1, "symmetric": 1.3}
CENSORED = {("phase_damping", "classical"), ("amplitude_damping", "singlet_pairs")}


def _half_life(label, state):
    """A made-up half-life (NaN where censored): the jobs select and draw, they do not judge.

    Censored: the classical state under phase damping, the dark singlet pairs
    (collective amplitude damping at gamma12 = 1), the quantum state at W = 4.
    """
    if (label.channel, state) in CENSORED and (state != "singlet_pairs" or label.gamma12 == 1):
        return np.nan
    if state.startswith("equal_ergotropy:"):
        c = float(state.split(":")[1])
    else:
        c = {"classical": 0.0, "quantum": 1.0}.get(state, 0.5)
    tau = (0.4 + 0.3 * c**2) * GEOMETRY_FACTOR.get(label.geometry, 1.0)
    return tau / (1 + 2 * label.n_th) * (1 + 0.1 * label.W)


def _half_life_rows(labels, states):
    rows = []
    for label in labels:
        for state in states:
            tau = _half_life(label, state)
            rows.append(
                {
                    **label.as_dict(),
                    "state": state,
                    "ergotropy_half_life": tau,
                    "ergotropy_half_life_censored": bool(np.isnan(tau)),
                    "health_ok": True,
                }
            )
    return rows


def _statistics_rows(labels, states, realisations=20):
    """disorder_statistics rows: at W = 4 the quantum q90 is not reached (3 censored)."""
    rows = []
    for label in labels:
        for state in states:
            tau = _half_life(label, state)
            spread = 0.05 * label.W
            stats = {"mean": tau, "std": spread, "median": tau}
            stats |= {"q10": tau - spread, "q90": tau + 2 * spread, "n_censored": 0}
            if label.W == 4 and state == "quantum":
                stats |= {"q90": np.nan, "n_censored": 3}
            rows.append(
                {
                    **label.as_dict(),
                    "state": state,
                    "n_realisations": realisations,
                    **{f"ergotropy_half_life_{k}": v for k, v in stats.items()},
                }
            )
    return rows


def _extension_tables(folder):
    """half_lives.csv and disorder_statistics.csv with every table figure's labels."""
    half, stats = [], []
    for figure in ("thermal_half_life_vs_nth", "equal_ergotropy_crossover"):
        labels, states = plots.figure_labels(figure)
        half += _half_life_rows(labels, (*states, "classical", "quantum"))
    labels, states = plots.figure_labels("entangled_vs_product")
    half += _half_life_rows(labels, states)
    labels, states = plots.figure_labels("disorder_half_life_vs_W")
    half += _half_life_rows([lab for lab in labels if not lab.disordered], states)
    stats += _statistics_rows([lab for lab in labels if lab.disordered], states)
    folder.mkdir(parents=True, exist_ok=True)
    half = pd.DataFrame(half).drop_duplicates(subset=[*LABEL_COLUMNS, "state"])
    half.to_csv(folder / "half_lives.csv", index=False)
    pd.DataFrame(stats).to_csv(folder / "disorder_statistics.csv", index=False)
    return {
        "half_lives": folder / "half_lives.csv",
        "disorder_statistics": folder / "disorder_statistics.csv",
    }


TABLE_FIGURES = [
    "thermal_half_life_vs_nth",
    "equal_ergotropy_crossover",
    "entangled_vs_product",
    "disorder_half_life_vs_W",
]


def _check_sizes(stem, kilobytes=10):
    _check_written(stem)
    for suffix in (".png", ".pdf"):
        size = stem.with_name(stem.name + suffix).stat().st_size
        assert size > kilobytes * 1000, (stem, suffix, size)


@pytest.mark.parametrize("figure", TABLE_FIGURES)
def test_extension_table_figure_jobs(tmp_path, figure):
    tables = _extension_tables(tmp_path / "summary")
    spec = plots.EXTENSION_FIGURES[figure]
    png = tmp_path / "figures" / "extensions" / f"{figure}.png"
    log = tmp_path / "logs" / f"{figure}.log"
    inputs = {table: str(tables[table]) for table in spec.tables}
    plots.extension_figure_job(figure, png, png.with_suffix(".pdf"), log, **inputs)
    _check_sizes(png.with_suffix(""))
    assert f"{figure}: " in log.read_text() and "rows" in log.read_text()


def test_extension_job_names_the_missing_labels(tmp_path):
    tables = _extension_tables(tmp_path / "summary")
    frame = pd.read_csv(tables["half_lives"])
    thin = frame[~((frame["channel"] == "thermal") & (frame["n_th"] == 0.25))]
    thin.to_csv(tables["half_lives"], index=False)
    png, log = tmp_path / "t.png", tmp_path / "t.log"
    with pytest.raises(
        ValueError, match=r"half_lives table has no rows for channel=thermal.*n_th=0.25"
    ):
        plots.extension_figure_job(
            "thermal_half_life_vs_nth",
            png,
            tmp_path / "t.pdf",
            log,
            half_lives=str(tables["half_lives"]),
        )
    assert "failed" in log.read_text() and not png.exists()
    with pytest.raises(ValueError, match="reads disorder_statistics"):
        plots.extension_figure_job(
            "disorder_half_life_vs_W",
            png,
            tmp_path / "t.pdf",
            log,
            half_lives=str(tables["half_lives"]),
        )
    with pytest.raises(ValueError, match="unknown extension figure"):
        plots.extension_figure_job("fig9", png, tmp_path / "t.pdf", log)


def _marker_texts(fig):
    return [t.get_text() for t in fig.legends[0].get_texts()]


def test_censored_half_lives_are_markers_never_t_max(tmp_path):
    """Entangled and dark states: the censored singlet pairs sit at the top, labelled."""
    tables = _extension_tables(tmp_path / "summary")
    frame = pd.read_csv(tables["half_lives"])
    labels, _ = plots.figure_labels("entangled_vs_product")
    dark = [lab for lab in labels if lab.gamma12 == 1.0]
    main = frame[frame["gamma12"] == 0.5]
    fig = plots.entangled_vs_product(main, dark=frame[frame["gamma12"] == 1.0])
    assert any("not reached" in t for t in _marker_texts(fig))
    panel = fig.axes[4]  # the dark panel
    assert [t.get_text() for t in panel.texts] == ["not reached"] * len(
        {lab.n_cells for lab in dark}
    )
    finite = frame["ergotropy_half_life"].dropna()
    for ax in fig.axes[:5]:
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), float)
            if line.get_transform() == ax.get_xaxis_transform():  # open markers on top
                assert np.allclose(y, 0.96)
            else:  # drawn values are table values, nothing at t_max
                assert np.all(np.isin(np.round(y, 12), np.round(finite.to_numpy(), 12)))


def test_disorder_series_counts_censoring():
    stats = pd.DataFrame(
        {
            "W": [1.0, 4.0],
            "ergotropy_half_life_mean": [0.5, 0.6],
            "ergotropy_half_life_q10": [0.4, 0.5],
            "ergotropy_half_life_q90": [0.6, np.nan],
            "ergotropy_half_life_n_censored": [0, 3],
        }
    )
    clean = pd.DataFrame({"ergotropy_half_life": [np.nan], "ergotropy_half_life_censored": [True]})
    series = plots.extensions.disorder_series(stats, clean, "ergotropy_half_life")
    assert series["W"].tolist() == [0.0, 1.0, 4.0]
    assert series["q90_censored"].tolist() == [True, False, True]
    assert series["mean_censored"].tolist() == [True, False, False]
    assert series["partial"].tolist() == [False, False, True]


def test_disorder_figure_draws_w0_from_the_clean_labels(tmp_path):
    tables = _extension_tables(tmp_path / "summary")
    stats = pd.read_csv(tables["disorder_statistics"])
    clean = pd.read_csv(tables["half_lives"])
    fig = plots.disorder_half_life_vs_W(stats, clean=clean)
    means = [line for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 5]
    assert [list(line.get_xdata()) for line in means] == [[0.0, 0.5, 1.0, 2.0, 4.0]] * 2
    texts = " ".join(_marker_texts(fig))
    assert "10-90 %" in texts and "not reached" in texts and "some did not" in texts


@pytest.fixture(scope="module")
def five_cell_results(tmp_path_factory):
    """Tiny N = 5 trajectories (depolarizing and relaxation, four geometries) and a manifest."""
    results = tmp_path_factory.mktemp("ext") / "results"
    rows, paths = [], []
    for channel in ("depolarizing", "relaxation"):
        for geometry in GEOMETRIES:
            ds = qbsd.simulate(5, geometry, 2.0, 0.5, channel, STATES, 2.0, 21)
            relpath = f"trajectories/{channel}/N5/{geometry}/J2_g0.5.nc"
            qbsd.write_netcdf(ds, results / relpath)
            paths.append(str(results / relpath))
            label = {"channel": channel, "n_cells": 5, "geometry": geometry, "J": 2.0}
            label |= {"gamma12": 0.5, "n_th": 0.0, "W": 0.0, "W_J": 0.0}
            rows.append({**label, "point": relpath[13:-3], "trajectory": relpath, "paper": False})
    (results / "summary").mkdir()
    pd.DataFrame(rows).to_csv(results / "summary" / "labels.csv", index=False)
    return results, paths


@pytest.mark.parametrize("figure", ["depolarizing_fig4b", "ergotropy_split"])
def test_extension_trajectory_figure_jobs(tmp_path, five_cell_results, figure):
    results, paths = five_cell_results
    png = tmp_path / f"{figure}.png"
    log = tmp_path / f"{figure}.log"
    labels = results / "summary" / "labels.csv"
    plots.extension_figure_job(
        figure, png, png.with_suffix(".pdf"), log, labels=str(labels), trajectories=paths
    )
    _check_sizes(png.with_suffix(""))
    assert "4 trajectories" in log.read_text()
    with pytest.raises(ValueError, match="not among the inputs"):
        plots.extension_figure_job(
            figure, png, png.with_suffix(".pdf"), log, labels=str(labels), trajectories=paths[:1]
        )


def test_depolarizing_fig4b_draws_the_depolarizing_trajectories(five_cell_results):
    results, _ = five_cell_results
    datasets = [
        qbsd.dataset.read_netcdf(p)
        for p in sorted((results / "trajectories" / "depolarizing").rglob("*.nc"))
    ]
    fig = plots.depolarizing_fig4b(datasets)
    title = fig.legends[0].get_title().get_text()
    assert "depolarizing" in title and "$N = 5$" in title
    [inset] = fig.axes[0].child_axes
    assert len(inset.get_lines()) == 4 and inset.get_ylim()[1] > 0.1


def test_ergotropy_split_lines_are_the_stored_series(five_cell_results):
    results, _ = five_cell_results
    ds = qbsd.dataset.read_netcdf(results / "trajectories/relaxation/N5/central/J2_g0.5.nc")
    fig = plots.ergotropy_split(ds)
    lines = fig.axes[0].get_lines()
    quantum = ds.sel(state="quantum")
    for line, name in zip(
        lines, ("ergotropy", "ergotropy_incoherent", "ergotropy_coherent"), strict=True
    ):
        np.testing.assert_array_equal(line.get_ydata(), quantum[name].values)


def test_extension_missing_trajectory_labels_are_named(tmp_path, five_cell_results):
    results, paths = five_cell_results
    manifest = pd.read_csv(results / "summary" / "labels.csv")
    thin = tmp_path / "summary" / "labels.csv"
    thin.parent.mkdir()
    manifest[manifest["geometry"] != "circular"].to_csv(thin, index=False)
    with pytest.raises(
        ValueError, match=r"label manifest .* no rows for channel=depolarizing.*geometry=circular"
    ):
        plots.extension_figure_job(
            "depolarizing_fig4b",
            tmp_path / "d.png",
            tmp_path / "d.pdf",
            tmp_path / "d.log",
            labels=str(thin),
            trajectories=paths,
        )


def test_extension_inputs_come_from_the_study():
    from qbsd.config import load_study, read_config_file
    from qbsd.workflow import summary_outputs

    config = read_config_file(REPO / "config" / "config.yaml")
    config.update(extension_figures=True, large_n=None)
    config["grid"] = {**config["grid"], "n_cells": [1, 2], "channel": ["relaxation"]}
    study = load_study(config)
    summary = summary_outputs("results")
    inputs = plots.extension_inputs("depolarizing_fig4b", study, summary)
    assert inputs["labels"] == summary["labels"]
    assert sorted(inputs["trajectories"]) == [
        f"results/trajectories/depolarizing/N5/{g}/J2_g0.5.nc" for g in sorted(GEOMETRIES)
    ]
    assert plots.extension_inputs("disorder_half_life_vs_W", study, summary) == {
        "half_lives": summary["half_lives_csv"],
        "disorder_statistics": summary["disorder_statistics_csv"],
    }


# --------------------------------------------------------------------------
# the rules: the collector draws the extension figures only when asked

RULES_STUDY = """
grid:
  n_cells: [1]
  geometry: [linear]
  J: [2.0]
  gamma12: [0.5]
  channel: [relaxation, thermal]
  n_th: [0.0, 0.5]
states: [classical, quantum]
time:
  t_max: 2.0
  n_points: 21
paper_figures: false
large_n: null
extension_figures: {extensions}
"""


@pytest.mark.workflow
@pytest.mark.slow
@pytest.mark.parametrize("extensions", [True, False])
def test_figures_collector_draws_extension_figures_only_when_asked(tmp_path, extensions):
    from snakerun import job_counts, run_snakemake

    config = tmp_path / "tiny.yaml"
    config.write_text(RULES_STUDY.format(extensions=str(extensions).lower()))
    done = run_snakemake(tmp_path, config, "-n", "--cores", "1", "figures")
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    counts = job_counts(output)
    for figure in plots.EXTENSION_FIGURES:
        assert counts.get(figure, 0) == int(extensions), figure
        assert (f"results/figures/extensions/{figure}.png" in output) == extensions
    # one sweep facet per channel, and per n_th of the thermal channel
    for facet in ("relaxation", "thermal/nth0", "thermal/nth0.5"):
        assert f"results/figures/sweep/{facet}/half_life_map_N1.png" in output, facet
    assert counts["half_life_map"] == 3 and counts["half_life_vs_n"] == 3


# --------------------------------------------------------------------------
# sweep figures with the label axes beyond the paper: no mixing


def _axes_table():
    """Labels of N = 3 (linear), J and gamma12 in {0, 2} x {0, 0.5}: relaxation at two n_th
    (the same numbers: its labels ignore n_th), thermal at two n_th, and disordered rows
    (W = 1) whose half-lives must never be drawn by a sweep figure."""
    rows = []
    for channel, n_th, W, base in [
        ("relaxation", 0.0, 0.0, 1.0),
        ("relaxation", 0.5, 0.0, 1.0),
        ("relaxation", 0.0, 1.0, 7.0),
        ("thermal", 0.0, 0.0, 2.0),
        ("thermal", 0.5, 0.0, 3.0),
    ]:
        for J in (0.0, 2.0):
            for gamma12 in (0.0, 0.5):
                for k, state in enumerate(STATES):
                    tau = base + 0.1 * k + 0.01 * J + 0.001 * gamma12
                    rows.append(
                        {
                            "channel": channel,
                            "n_cells": 3,
                            "geometry": "linear",
                            "J": J,
                            "gamma12": gamma12,
                            "n_th": n_th,
                            "W": W,
                            "W_J": 0.0,
                            "state": state,
                            "ergotropy_half_life": tau,
                            "ergotropy_half_life_censored": False,
                            "xi0": 0.5,
                        }
                    )
    return pd.DataFrame(rows)


#: The study grid of ``_axes_table`` (its W = 1 rows are not on it).
AXES_GRID = {
    "channel": ["relaxation", "thermal"],
    "n_cells": [3],
    "geometry": ["linear"],
    "J": [0.0, 2.0],
    "gamma12": [0.0, 0.5],
    "n_th": [0.0, 0.5],
}


def _cell_values(fig):
    """The half-lives printed in the classical and quantum panels of a one-geometry map."""
    return {
        float(t.get_text())
        for ax in fig.axes[:2]
        for t in ax.texts
        if t.get_text().replace(".", "").isdigit()
    }


def test_sweep_figures_draw_one_n_th_and_clean_labels_only():
    frame = _axes_table()
    grid = AXES_GRID
    rows = plots.grid_rows(frame, grid)
    assert set(rows["W"]) == {0.0} and len(rows) == 4 * 4 * len(STATES)
    hot = plots.half_life_heatmap(rows, channel="thermal", n_th=0.5)
    assert {int(v) for v in _cell_values(hot)} == {3}  # only the n_th = 0.5 labels
    with pytest.raises(ValueError, match=r"thermal.*n_th = \[0\.0, 0\.5\]; choose one"):
        plots.half_life_heatmap(rows, channel="thermal")
    cold = plots.half_life_heatmap(rows, channel="relaxation")  # n_th ignored: one row each
    assert {int(v) for v in _cell_values(cold)} == {1}
    fig = plots.half_life_vs_n(rows, channel="thermal", n_th=0.0, J=2.0)
    drawn = {y for ax in fig.axes for line in ax.get_lines() for y in line.get_ydata()}
    assert {int(y) for y in drawn} == {2}


@pytest.mark.parametrize(
    ("facet", "expected"), [("thermal/nth0.5", 3), ("thermal/nth0", 2), ("relaxation", 1)]
)
def test_sweep_figure_job_draws_its_facet(tmp_path, facet, expected):
    csv = tmp_path / "half_lives.csv"
    _axes_table().to_csv(csv, index=False)
    grid = AXES_GRID
    assert facet in plots.sweep_facets(grid)
    png = tmp_path / facet / "half_life_map_N3.png"
    log = tmp_path / "map.log"
    plots.sweep_figure_job(
        "half_life_map", csv, png, png.with_suffix(".pdf"), log, grid, facet=facet, n_cells="3"
    )
    _check_written(png.with_suffix(""))
    assert f"'channel': '{facet.split('/')[0]}'" in log.read_text()


def test_facets_and_their_wildcards():
    grid = {"channel": ["relaxation", "thermal"], "n_th": [0.0, 0.25]}
    assert plots.sweep_facets(grid) == ["relaxation", "thermal/nth0", "thermal/nth0.25"]
    assert plots.facet_values({"facet": "thermal/nth0.25", "n_cells": "4"}) == {
        "channel": "thermal",
        "n_th": 0.25,
        "n_cells": 4,
    }
    assert plots.facet_values({"facet": "relaxation"}) == {"channel": "relaxation"}
    with pytest.raises(ValueError, match="not <channel> or <channel>/nth<n_th>"):
        plots.facet_wildcards("thermal/W1")
