"""Figure paths built from grid values: any value the config accepts survives every job.

``Path.with_suffix`` reads the ``.6`` of ``half_life_vs_n_J3.6`` as a suffix;
these tests put values with dots, exponents and signs on every axis into the
names and folders of every figure job's outputs.
"""

from __future__ import annotations

import pandas as pd
import pytest

import qbsd
from qbsd import plots, style
from qbsd.points import format_number
from qbsd.summaries import summarize

#: Values with a dot, two dots' worth of digits, an exponent, none, a sign.
VALUES = [3.6, 0.25, 1e-07, 10.0, -2.5]
TEXTS = [format_number(v) for v in VALUES]
#: Grid axes whose values appear in paths (n_th and W: the thermal channel and
#: disorder strength, named like the others).
AXES = ["J", "gamma12", "n_th", "W"]


def test_value_texts_are_the_tricky_ones():
    assert TEXTS == ["3.6", "0.25", "1e-07", "10", "-2.5"]


@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("text", TEXTS)
def test_stem_keeps_every_value(tmp_path, axis, text):
    folder = tmp_path / "sweep" / f"{axis}{text}"
    png = folder / f"half_life_vs_n_{axis}{text}.png"
    pdf = folder / f"half_life_vs_n_{axis}{text}.pdf"
    stem = plots.output_stem(png, pdf)
    assert stem == folder / f"half_life_vs_n_{axis}{text}"
    assert plots.output_stem(str(png), str(pdf)) == stem
    assert style.figure_path(stem, "png") == png and style.figure_path(stem, "pdf") == pdf
    assert style.figure_stem(png) == stem and style.figure_stem(pdf) == stem
    assert style.figure_stem(stem) == stem  # no format suffix: unchanged
    with pytest.raises(ValueError, match="next to the PNG"):
        plots.output_stem(png, folder / f"half_life_vs_n_{axis}.pdf")


def test_stem_refuses_what_is_not_a_png(tmp_path):
    for bad in (tmp_path / "fig_J3.6", tmp_path / "fig_J3.6.pdf", tmp_path / ".png"):
        with pytest.raises(ValueError, match=r"must be a \.png file"):
            plots.output_stem(bad)


@pytest.mark.parametrize("text", ["3.6", "1e-07"])
def test_save_writes_both_files_of_a_value_stem(tmp_path, text):
    fig = style.new_figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    stem = tmp_path / f"g{text}" / f"fig_J{text}"
    assert style.save(fig, stem) == [style.figure_path(stem, f) for f in ("png", "pdf")]
    assert style.save(fig, style.figure_path(stem, "png"))[0].name == f"fig_J{text}.png"
    names = sorted(p.name for p in stem.parent.iterdir())
    assert names == [f"fig_J{text}.pdf", f"fig_J{text}.png"]


@pytest.mark.parametrize("axis", AXES)
def test_facet_values_parse_every_value(axis):
    for value, text in zip(VALUES, TEXTS, strict=True):
        got = plots.facet_values({"channel": "relaxation", "n_cells": "3", axis: text})
        assert got == {"channel": "relaxation", "n_cells": 3, axis: value}
        assert isinstance(got[axis], float)
    with pytest.raises(ValueError, match=f"wildcard {axis}='3.6.png' is not a number"):
        plots.facet_values({axis: "3.6.png"})
    with pytest.raises(ValueError, match="n_cells='3.5' is not an integer"):
        plots.facet_values({"n_cells": "3.5"})


# --------------------------------------------------------------------------
# every figure job on a table whose grid values are the tricky ones

J_VALUES = [3.6, 1e-07]
GAMMA12_VALUES = [0.25, 0.0]


@pytest.fixture(scope="module")
def table():
    """Summary rows of N = 1, 2 (linear, and its twin symmetric) at the tricky values.

    Simulated at the paper's couplings and relabelled: the jobs here only
    select, draw and name files; the numbers are not under test.
    """
    frames = []
    for n in (1, 2):
        for J_sim, J in zip((0.0, 2.0), J_VALUES, strict=True):
            for g_sim, g in zip((0.5, 0.0), GAMMA12_VALUES, strict=True):
                ds = qbsd.simulate(n, "linear", J_sim, g_sim, "relaxation", ["classical"], 5.0, 51)
                for geometry in ("linear", "symmetric"):
                    frame = summarize(ds)
                    frame["geometry"], frame["J"], frame["gamma12"] = geometry, J, g
                    frames.append(frame)
    return pd.concat(frames, ignore_index=True)


GRID = {
    "channel": ["relaxation"],
    "n_cells": [1, 2],
    "geometry": ["linear", "symmetric"],
    "J": J_VALUES,
    "gamma12": GAMMA12_VALUES,
}


def _written(stem):
    for fmt in ("png", "pdf"):
        path = style.figure_path(stem, fmt)
        assert path.is_file() and path.stat().st_size > 1000, path
    leftovers = [p.name for p in stem.parent.iterdir() if p.name.endswith(".part")]
    assert leftovers == []


def test_grid_rows_keep_1e07_apart_from_0(table):
    """No absolute tolerance: J = 1e-07 and J = 0 (or 1e-12) are different points."""
    rows = plots.grid_rows(table, {**GRID, "J": [1e-07]})
    assert len(rows) and set(rows["J"]) == {1e-07}
    tiny = table.assign(J=table["J"].where(table["J"] != 3.6, 1e-12))
    assert plots.grid_rows(tiny, {**GRID, "J": [0.0]}).empty
    assert set(plots.grid_rows(tiny, {**GRID, "J": [1e-12]})["J"]) == {1e-12}


@pytest.mark.parametrize("J", J_VALUES)
def test_sweep_figure_jobs_on_value_paths(tmp_path, table, J):
    csv = tmp_path / "half_lives.csv"
    table.to_csv(csv, index=False)
    text = format_number(J)
    folder = tmp_path / "figures" / "sweep" / f"relaxation_g{format_number(0.25)}"
    jobs = [
        ("half_life_vs_n", f"half_life_vs_n_J{text}", {"channel": "relaxation", "J": text}),
        ("half_life_map", "half_life_map_N2", {"channel": "relaxation", "n_cells": "2"}),
        ("xi0_vs_n", "xi0_vs_n", {}),
    ]
    for kind, name, facet in jobs:
        png = folder / f"{name}.png"
        log = tmp_path / "logs" / f"{name}.log"
        plots.sweep_figure_job(
            kind, csv, png, style.figure_path(folder / name, "pdf"), log, GRID, **facet
        )
        _written(folder / name)
        assert f"-> {folder / name}.png" in log.read_text()


def test_large_n_figure_job_on_value_paths(tmp_path, table):
    csv = tmp_path / "half_lives.csv"
    table.to_csv(csv, index=False)
    large_n = {"n_cells": [10], "J": [3.6], "gamma12": [0.25], "channel": ["relaxation"]}
    folder = tmp_path / "J3.6_g0.25"
    png, pdf = folder / "large_n_scaling.png", folder / "large_n_scaling.pdf"
    plots.large_n_figure_job(csv, png, pdf, tmp_path / "large_n.log", large_n, "relaxation")
    _written(folder / "large_n_scaling")


def test_paper_figure_job_reads_trajectories_with_value_names(tmp_path):
    """Trajectory files named by their values (J3.6_g1e-07.nc) resolve from labels.csv."""
    results = tmp_path / "results"
    ds = qbsd.simulate(1, "linear", 2.0, 0.5, "relaxation", ["classical", "quantum"], 5.0, 101)
    relpath = "trajectories/relaxation/N1/linear/J3.6_g1e-07.nc"
    qbsd.write_netcdf(ds, results / relpath)
    summary = results / "summary"
    row = {**plots.point(ds), "point": "p", "trajectory": relpath, "paper": True}
    summary.mkdir(parents=True)
    pd.DataFrame([row]).to_csv(summary / "labels.csv", index=False)
    summarize(ds).to_csv(summary / "half_lives.csv", index=False)
    [back] = plots.label_datasets(summary / "labels.csv", [str(results / relpath)])
    assert float(back["J"]) == 2.0
    folder = results / "figures" / "paper.v0.5"
    plots.paper_figure_job(
        "fig2a",
        [str(results / relpath)],
        str(summary / "labels.csv"),
        str(summary / "half_lives.csv"),
        str(folder / "fig2a.png"),
        str(folder / "fig2a.pdf"),
        str(tmp_path / "fig2a.log"),
    )
    _written(folder / "fig2a")
