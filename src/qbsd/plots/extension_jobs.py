"""Jobs of the figures beyond the paper (config key ``extension_figures``).

``EXTENSION_FIGURES`` names each figure and what it reads; its labels are
those of :func:`qbsd.extensions.label_sets` (:func:`figure_labels`). The
rules take their inputs from :func:`extension_inputs` and call
:func:`extension_figure_job`, which draws
``results/figures/extensions/<figure>.png`` (and ``.pdf``). A label the
figure needs that the summary table or the manifest lacks stops the job
with an error that names it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from ..extensions import GEOMETRIES, PRODUCT_STATES, label_sets
from ..points import PAPER_GAMMA12, PAPER_J, Label
from . import extensions as figures
from .data import label_dicts, manifest_datasets, read_table, require_rows, rows_of
from .jobs import job_log, output_stem, trajectory_inputs


@dataclass(frozen=True)
class ExtensionFigure:
    """One figure beyond the paper: its label set and what it reads."""

    label_set: str  # a name of qbsd.extensions.label_sets()
    tables: tuple[str, ...] = ()  # summary tables (names of qbsd.summaries.SUMMARY_TABLES)
    trajectories: bool = False  # the labels' trajectories, through the manifest
    states: tuple[str, ...] | None = None  # default: the label set's states


#: The extension figures by name, in the order of the report.
EXTENSION_FIGURES = {
    "thermal_half_life_vs_nth": ExtensionFigure("thermal", ("half_lives",)),
    "depolarizing_fig4b": ExtensionFigure("depolarizing", trajectories=True),
    "equal_ergotropy_crossover": ExtensionFigure("equal_ergotropy", ("half_lives",)),
    "ergotropy_split": ExtensionFigure("paper_networks", trajectories=True, states=("quantum",)),
    "entangled_vs_product": ExtensionFigure("entangled", ("half_lives",)),
    "disorder_half_life_vs_W": ExtensionFigure("disorder", ("half_lives", "disorder_statistics")),
}


def _spec(figure: str) -> ExtensionFigure:
    if figure not in EXTENSION_FIGURES:
        raise ValueError(
            f"unknown extension figure {figure!r}; choose one of {', '.join(EXTENSION_FIGURES)}"
        )
    return EXTENSION_FIGURES[figure]


def figure_labels(figure: str) -> tuple[list[Label], tuple[str, ...]]:
    """The labels ``figure`` draws and the initial states it needs of each."""
    spec = _spec(figure)
    if spec.label_set == "paper_networks":  # the paper's Figs. 4-5: N = 5, relaxation
        labels = [Label("relaxation", 5, g, PAPER_J, PAPER_GAMMA12) for g in GEOMETRIES]
        return labels, spec.states or PRODUCT_STATES
    chosen = {s.name: s for s in label_sets()}[spec.label_set]
    return list(chosen.labels), spec.states or chosen.states


def extension_inputs(figure: str, study, summary: Mapping[str, str]) -> dict:
    """The named inputs of ``figure``'s rule: its tables, the manifest and trajectories.

    ``summary`` maps ``<table>_csv`` and ``labels`` to paths (the summarise
    rule's outputs); trajectories are those of the study's assignments of
    the figure's labels (none when the study lacks them: the job then says
    which labels are missing).
    """
    spec = _spec(figure)
    inputs: dict[str, object] = {table: summary[f"{table}_csv"] for table in spec.tables}
    if spec.trajectories:
        labels, _ = figure_labels(figure)
        inputs["labels"] = summary["labels"]
        inputs["trajectories"] = trajectory_inputs(study, labels)
    return inputs


def _needed(frame: pd.DataFrame, figure: str, table: str, labels, states) -> pd.DataFrame:
    """The rows of ``labels`` (all their states), after checking every state is there."""
    require_rows(frame, figure, table, label_dicts(labels, states))
    return rows_of(frame, labels)


def _datasets(figure: str, labels_csv, trajectories: Iterable[str]) -> list:
    labels, _ = figure_labels(figure)
    manifest = read_table(labels_csv)
    require_rows(manifest, figure, "label manifest (labels.csv)", label_dicts(labels))
    rows = rows_of(manifest, labels).drop_duplicates(subset=["geometry"])
    return manifest_datasets(labels_csv, trajectories, rows)


def _draw_tables(figure: str, stem, tables: Mapping[str, str]) -> str:
    """Draw a table-based figure; returns what it drew, for the log."""
    labels, states = figure_labels(figure)
    if figure == "disorder_half_life_vs_W":
        disordered = [label for label in labels if label.disordered]
        clean = [label for label in labels if not label.disordered]
        stats = _needed(
            read_table(tables["disorder_statistics"]),
            figure,
            "disorder_statistics",
            disordered,
            states,
        )
        base = _needed(read_table(tables["half_lives"]), figure, "half_lives", clean, states)
        figures.disorder_half_life_vs_W(stats, stem, clean=base)
        return f"{len(stats)} disorder rows, {len(base)} clean rows"
    frame = _needed(read_table(tables["half_lives"]), figure, "half_lives", labels, states)
    if figure == "entangled_vs_product":
        dark = [label for label in labels if label.gamma12 != PAPER_GAMMA12]
        main = rows_of(frame, [label for label in labels if label not in dark])
        figures.entangled_vs_product(main, stem, dark=rows_of(frame, dark))
    else:
        getattr(figures, figure)(frame, stem)
    return f"{len(frame)} rows"


def extension_figure_job(
    figure: str,
    png: str | os.PathLike,
    pdf: str | os.PathLike,
    log: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = None,
    trajectories: Sequence[str] = (),
    **tables: str,
) -> None:
    """The rule of one extension figure: read its inputs, check its labels, draw it.

    ``tables`` are the summary CSVs the figure reads (``half_lives=...``,
    ``disorder_statistics=...``); a trajectory figure reads the manifest
    ``labels`` and ``trajectories`` (the rule's input).
    """
    spec = _spec(figure)
    with job_log(log, f"extension figure {figure}") as out:
        missing = [t for t in spec.tables if t not in tables]
        if missing or (spec.trajectories and labels is None):
            need = missing + (["labels", "trajectories"] if spec.trajectories else [])
            raise ValueError(f"{figure} reads {', '.join(need)}; got {sorted(tables)}")
        stem = output_stem(png, pdf)
        if spec.trajectories:
            datasets = _datasets(figure, labels, trajectories)
            getattr(figures, figure)(datasets, stem)
            what = f"{len(datasets)} trajectories"
        else:
            what = _draw_tables(figure, stem, tables)
        out.write(f"{figure}: {what} -> {stem}.png, {stem}.pdf\n")
