"""Figure jobs: the file-level entry points that ``workflow/rules/plots.smk`` calls.

Each job reads its inputs (summary CSVs, the label manifest and the
trajectories it names), draws one figure into ``png`` and its ``pdf`` twin
and writes what it did (or its traceback) to ``log``. The figure lists the
rules expand live here too: ``PAPER_PANELS`` (:mod:`qbsd.plots.paper`),
``SWEEP_FIGURES``, :func:`sweep_facets` and ``EXTENSION_FIGURES``.
"""

from __future__ import annotations

import contextlib
import os
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..points import format_number
from ..storage import atomic_path, log_file
from . import style
from .data import (
    check_half_lives,
    grid_rows,
    has_bath,
    label_datasets,
    large_n_rows,
    read_table,
    select,
)
from .maps import half_life_heatmap
from .paper import PAPER_POINTS, paper_panel
from .sweep import half_life_vs_n, large_n_scaling, xi0_vs_n
from .tables import table_html


@contextlib.contextmanager
def job_log(log: str | os.PathLike, name: str):
    """Write what a job did (or its traceback) to its log file.

    A log that cannot be written (a full disk) never hides the job's own
    error; see :func:`qbsd.storage.log_file`.
    """
    with log_file(log) as out:
        try:
            yield out
        except BaseException:
            out.write(f"{name} failed:\n{traceback.format_exc()}")
            raise


def output_stem(png: str | os.PathLike, pdf: str | os.PathLike | None = None) -> Path:
    """The common stem of a figure job's ``png`` and ``pdf`` outputs.

    Only ``.png`` is cut off (a name like ``half_life_vs_n_J3.6.png`` keeps
    its ``3.6``); the PDF must be the same stem plus ``.pdf``.
    """
    if not str(png).endswith(".png") or Path(png).name == ".png":
        raise ValueError(f"the figure output must be a .png file, got {png}")
    stem = style.figure_stem(png, ("png",))
    if pdf is not None and Path(pdf) != style.figure_path(stem, "pdf"):
        raise ValueError(
            f"the PDF must be {style.figure_path(stem, 'pdf')} (next to the PNG), got {pdf}"
        )
    return stem


# ----------------------------------------------------------------------------
# the paper's panels


def paper_figure_job(panel, trajectories, labels, half_lives, png, pdf, log) -> None:
    """Rule ``paper_figure``: one paper panel from the paper labels' trajectories.

    The half-lives of the drawn datasets are checked against the summary
    table ``half_lives`` first (fig2a and phase_damping draw them).
    """
    with job_log(log, f"paper figure {panel}") as out:
        criteria = PAPER_POINTS[panel][0]
        datasets = select(label_datasets(labels, trajectories), physical=True, **criteria)
        for line in check_half_lives(datasets, read_table(half_lives)):
            out.write(line + "\n")
        stem = output_stem(png, pdf)
        paper_panel(panel, datasets, stem)
        out.write(f"{panel}: {len(datasets)} trajectories -> {stem}.png, {stem}.pdf\n")


# ----------------------------------------------------------------------------
# sweep figures, one per facet

SWEEP_FIGURES = {
    "half_life_map": half_life_heatmap,
    "half_life_vs_n": half_life_vs_n,
    "xi0_vs_n": xi0_vs_n,
}

#: Figure wildcards that are names; ``n_cells`` is an integer and every other
#: one (``J``, ``gamma12``, any further grid axis) a number.
TEXT_FACETS = ("channel", "geometry")
#: Folder prefix of a bath occupation in a facet (``thermal/nth0.5``).
N_TH_PREFIX = "nth"


def sweep_facets(grid: Mapping) -> list[str]:
    """The folders of the sweep figures under ``results/figures/sweep/``, one per facet.

    A channel without a bath occupation is one facet (``relaxation``); one
    with a bath is one facet per ``grid.n_th`` value (``thermal/nth0.5``),
    so no figure mixes bath temperatures.
    """
    facets = []
    for channel in grid["channel"]:
        if has_bath(channel):
            values = grid.get("n_th", [0.0])
            facets += [f"{channel}/{N_TH_PREFIX}{format_number(v)}" for v in values]
        else:
            facets.append(channel)
    return facets


def facet_wildcards(facet: str) -> dict[str, str]:
    """A facet folder as wildcards: ``thermal/nth0.5`` -> channel and n_th (text)."""
    channel, _, rest = str(facet).partition("/")
    if not rest:
        return {"channel": channel}
    if not rest.startswith(N_TH_PREFIX) or "/" in rest:
        raise ValueError(f"figure facet {facet!r} is not <channel> or <channel>/nth<n_th>")
    return {"channel": channel, "n_th": rest[len(N_TH_PREFIX) :]}


def facet_values(facet: Mapping[str, str]) -> dict:
    """A figure rule's wildcards (text) as the figure function's keyword arguments.

    ``{"channel": "relaxation", "n_cells": "3", "J": "1e-07"}`` gives
    ``{"channel": "relaxation", "n_cells": 3, "J": 1e-07}``; a ``facet``
    wildcard (:func:`sweep_facets`) gives its channel and n_th. Raises
    ``ValueError`` naming the wildcard when a value does not parse.
    """
    facet = dict(facet)
    if "facet" in facet:
        facet.update(facet_wildcards(facet.pop("facet")))
    kwargs = {}
    for key, text in facet.items():
        if key in TEXT_FACETS:
            kwargs[key] = str(text)
            continue
        kind = int if key == "n_cells" else float
        try:
            kwargs[key] = kind(text)
        except (TypeError, ValueError):
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"figure wildcard {key}={text!r} is not {what}") from None
    return kwargs


def sweep_figure_job(kind, table, png, pdf, log, grid, **facet) -> None:
    """Rules ``half_life_map``, ``half_life_vs_n``, ``xi0_vs_n``: one sweep figure.

    ``facet`` holds the wildcards (``facet`` or ``channel``, ``n_cells``,
    ``J`` as text); see :func:`facet_values`. The table's clean rows on the
    grid are drawn (:func:`qbsd.plots.data.grid_rows`).
    """
    with job_log(log, f"sweep figure {kind}") as out:
        frame = grid_rows(read_table(table), grid)
        kwargs = facet_values(facet)
        stem = output_stem(png, pdf)
        SWEEP_FIGURES[kind](frame, stem, **kwargs)
        out.write(f"{kind} {kwargs}: {len(frame)} grid rows -> {stem}.png, {stem}.pdf\n")


def large_n_figure_job(table, png, pdf, log, large_n, channel) -> None:
    """Rule ``large_n_scaling``: half-life, quantum advantage and xi(0) versus N (log axis)."""
    from ..points import LARGE_N_GEOMETRY

    with job_log(log, f"large-N figure {channel}") as out:
        frame = large_n_rows(read_table(table), large_n, channel)
        stem = output_stem(png, pdf)
        large_n_scaling(frame, stem, channel=channel, geometry=LARGE_N_GEOMETRY)
        sizes = sorted({int(n) for n in frame["n_cells"]})
        out.write(
            f"large_n_scaling {channel}: {len(frame)} rows, N = {sizes} -> "
            f"{stem}.png, {stem}.pdf\n"
        )


def table_html_job(table, html, log, title="") -> None:
    """Rule ``summary_table_html``: a summary CSV as an HTML page of the report."""
    with job_log(log, f"table {table}") as out:
        frame = pd.read_csv(table)
        with atomic_path(html) as tmp:
            tmp.write_text(table_html(frame, title=title or str(table)), encoding="utf-8")
        out.write(f"{table}: {len(frame)} rows -> {html}\n")


def trajectory_inputs(study, labels: Iterable) -> list[str]:
    """The trajectory files (relative to the workflow) of the study's ``labels``."""
    wanted = set(labels)
    return sorted({a.point.path for a in study.assignments if a.label in wanted})
