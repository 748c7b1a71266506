"""What the figures draw: trajectories picked by their point, summary rows picked by label.

Two kinds of input:

- trajectory :class:`xarray.Dataset` objects (as :func:`qbsd.simulate` returns
  them, or read back through the label manifest by :func:`label_datasets`),
  picked by their point with :func:`select`;
- summary tables (:class:`pandas.DataFrame`, one row per label and initial
  state, the label axes ``qbsd.points.LABEL_KEYS`` as columns), picked with
  :func:`filter_rows`.

A figure shows some label axes and fixes the others. :func:`label_axes_rows`
makes sure it never mixes rows that differ in an axis it does not show: it
keeps the clean labels (``W = W_J = 0``; disorder has figures of its own),
one bath occupation ``n_th`` for a channel that has one, and one row per
label of a channel that ignores ``n_th`` (those labels share one simulation).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..dataset import read_netcdf
from ..model.channels import CHANNELS, channel_parameters
from ..paths import results_of_summary
from ..points import LABEL_KEYS, LARGE_N_GEOMETRY, Label
from . import style

Datasets = xr.Dataset | Mapping[object, xr.Dataset] | Iterable[xr.Dataset]

#: The trajectory parameters a figure tells points apart by.
POINT_KEYS = ("n_cells", "geometry", "J", "gamma12", "channel")
#: Label axes beyond the paper's, with the value of a label that does not set them.
EXTRA_AXES = {"n_th": 0.0, "W": 0.0, "W_J": 0.0}


# ----------------------------------------------------------------------------
# trajectory datasets


def as_list(datasets: Datasets) -> list[xr.Dataset]:
    """One dataset, a mapping of them or any iterable of them as a list."""
    if isinstance(datasets, xr.Dataset):
        return [datasets]
    if isinstance(datasets, Mapping):
        return list(datasets.values())
    return list(datasets)


def value(ds: xr.Dataset, key: str):
    """A point parameter (scalar coordinate, variable or attribute) as a Python scalar."""
    if key in ds.variables:
        values = ds[key].values
        return values.item() if values.ndim == 0 else values
    if key in ds.attrs:
        return ds.attrs[key]
    raise KeyError(f"trajectory dataset has no {key!r} (coordinate, variable or attribute)")


def point(ds: xr.Dataset) -> dict:
    """``n_cells, geometry, J, gamma12, channel`` of a trajectory."""
    return {
        "n_cells": int(value(ds, "n_cells")),
        "geometry": str(value(ds, "geometry")),
        "J": float(value(ds, "J")),
        "gamma12": float(value(ds, "gamma12")),
        "channel": str(value(ds, "channel")),
    }


def select(datasets: Datasets, *, physical: bool = False, **criteria) -> list[xr.Dataset]:
    """The datasets whose point matches every ``key=value`` (floats compared to 1e-9).

    Keys are ``n_cells, geometry, J, gamma12, channel``; a value may also be a
    collection of allowed values. ``select(dss, n_cells=1, channel="relaxation")``.
    With ``physical=True`` a criterion on a parameter the point does not
    depend on is ignored (one cell: geometry, J and gamma12; two cells:
    geometry), so a one-cell trajectory stored with J = 0 serves J = 2.
    """
    out = []
    for ds in as_list(datasets):
        p = point(ds)
        keys = relevant(p) if physical else tuple(p)
        if all(matches(p[k], want) for k, want in criteria.items() if k in keys):
            out.append(ds)
    return out


def matches(actual, want) -> bool:
    """Whether ``actual`` is ``want`` (or one of a collection; floats to 1e-9)."""
    if isinstance(want, (list, tuple, set, frozenset)):
        return any(matches(actual, w) for w in want)
    if isinstance(actual, float):
        return same_value(actual, want)
    return actual == want


def same_value(a: float, b: float) -> bool:
    """Whether two grid values are the same point: relative 1e-9 and no absolute slack.

    No absolute tolerance: a grid may hold 0 next to 1e-12 (any value the
    config schema accepts), and the values are already rounded to
    ``points.SIGNIFICANT_DIGITS`` digits.
    """
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)


def relevant(p: dict) -> tuple[str, ...]:
    """Parameters that change the physics of a point (N = 1 ignores the couplings)."""
    if p["n_cells"] == 1:
        return ("n_cells", "channel")
    if p["n_cells"] == 2:  # every geometry of two cells is the single link
        return ("n_cells", "J", "gamma12", "channel")
    return ("n_cells", "geometry", "J", "gamma12", "channel")


def one(datasets: Datasets, figure: str) -> xr.Dataset:
    """The only dataset of ``datasets``; ``ValueError`` naming ``figure`` otherwise."""
    dss = as_list(datasets)
    if len(dss) != 1:
        raise ValueError(
            f"{figure} draws one parameter point; got {len(dss)} datasets "
            "(pick one, e.g. with qbsd.plots.select)"
        )
    return dss[0]


def state_of(ds: xr.Dataset, state: str, figure: str) -> xr.Dataset:
    """The trajectory of one initial state; ``ValueError`` naming the states held."""
    states = [str(s) for s in ds["state"].values]
    if state not in states:
        raise ValueError(f"{figure} needs the {state!r} state; the dataset holds {states}")
    return ds.sel(state=state)


def by_geometry(datasets: Datasets) -> list[xr.Dataset]:
    """The datasets in the paper's geometry order (custom geometries last, by name)."""
    order = {g: i for i, g in enumerate(style.GEOMETRY_ORDER)}
    return sorted(
        as_list(datasets),
        key=lambda ds: (order.get(point(ds)["geometry"], len(order)), point(ds)["geometry"]),
    )


# ----------------------------------------------------------------------------
# summary tables


def with_label_axes(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every label axis: a missing ``n_th``, ``W``, ``W_J`` is its default 0.

    Tables of an older layout have the paper's axes only; a table built by
    :func:`qbsd.summaries.summarize` on one trajectory has ``n_th`` NaN for a
    channel without bath occupation (read here as 0, the label default);
    the workflow's tables have every axis of every label.
    """
    filled = {k: v for k, v in EXTRA_AXES.items() if k not in frame.columns}
    for key, default in EXTRA_AXES.items():
        if key in frame.columns and frame[key].isna().any():
            filled[key] = frame[key].fillna(default)
    return frame.assign(**filled) if filled else frame


def filter_rows(frame: pd.DataFrame, **criteria) -> pd.DataFrame:
    """Rows matching every non-None criterion (a value or a collection; floats to 1e-9)."""
    keep = np.ones(len(frame), dtype=bool)
    for key, want in criteria.items():
        if want is None:
            continue
        if key not in frame.columns:
            raise ValueError(f"summary table has no {key!r} column")
        column = frame[key]
        wants = want if isinstance(want, (list, tuple, set, frozenset)) else [want]
        match = np.zeros(len(frame), dtype=bool)
        for w in wants:
            if pd.api.types.is_float_dtype(column) or isinstance(w, float):
                match |= np.isclose(column.astype(float).to_numpy(), float(w), rtol=1e-9, atol=0)
            else:
                match |= (column == w).to_numpy()
        keep &= match
    return frame[keep]


def unique_value(frame: pd.DataFrame, key: str, given, function: str):
    """``given``, or the one value of column ``key``; ``ValueError`` when there are several."""
    if given is not None:
        return given
    values = sorted(v.item() if hasattr(v, "item") else v for v in frame[key].dropna().unique())
    if len(values) != 1:
        raise ValueError(
            f"{function}: the table holds {key} = {values}; choose one with {key}=..."
        )
    return values[0]


def censored(frame: pd.DataFrame, quantity: str) -> np.ndarray:
    """The ``<quantity>_censored`` flags as booleans (False where there is no such column).

    Flags read back from CSV may be text (``"True"``); both forms count.
    """
    column = f"{quantity}_censored"
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    flags = frame[column]
    if flags.dtype == object:
        flags = flags.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
    return flags.fillna(False).astype(bool).to_numpy()


def geometries(frame: pd.DataFrame) -> list[str]:
    """The geometries of ``frame`` in the paper's order, custom ones after, by name."""
    present = list(dict.fromkeys(frame["geometry"]))
    ordered = [g for g in style.GEOMETRY_ORDER if g in present]
    return ordered + sorted(g for g in present if g not in ordered)


def states_present(frame: pd.DataFrame, states: Sequence[str]) -> list[str]:
    """The states of ``states`` that ``frame`` has rows of, in the given order."""
    present = set(frame["state"])
    return [s for s in states if s in present]


def has_bath(channel: str) -> bool:
    """Whether ``channel`` takes a bath occupation ``n_th`` (only then is n_th an axis)."""
    return channel in CHANNELS and "n_th" in channel_parameters(channel)


def clean_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The labels without disorder (``W = W_J = 0``)."""
    return filter_rows(with_label_axes(frame), W=0.0, W_J=0.0)


def label_axes_rows(
    frame: pd.DataFrame, function: str, n_th: float | None = None, shown: Sequence[str] = ()
) -> pd.DataFrame:
    """Rows a figure may draw together: clean labels, one n_th per bath channel.

    The clean labels (``W = W_J = 0``) unless ``W`` is among the axes
    ``shown`` (then the caller fixes ``W_J``). A channel with a bath
    occupation keeps the rows at ``n_th`` (when None: the one value the
    table holds, else ``ValueError`` naming ``function``), unless ``n_th`` is
    shown. A channel without one keeps one row per label and state: its
    labels at several n_th are one simulation, the same numbers.
    """
    frame = with_label_axes(frame) if "W" in shown else clean_rows(frame)
    parts = []
    for channel, rows in frame.groupby("channel", sort=False):
        if has_bath(str(channel)) and "n_th" not in shown:
            value_ = unique_value(rows, "n_th", n_th, f"{function} ({channel})")
            parts.append(filter_rows(rows, n_th=float(value_)))
        elif has_bath(str(channel)):
            parts.append(rows)
        else:
            keys = [k for k in LABEL_KEYS if k != "n_th" and k in rows.columns]
            parts.append(rows.drop_duplicates(subset=[*keys, "state"]))
    if not parts:
        return frame
    return pd.concat(parts).sort_index()


def grid_rows(table: pd.DataFrame, grid: Mapping) -> pd.DataFrame:
    """The clean rows of a summary table whose label lies on the config's grid.

    The tables also list the paper's own points and the labels of the
    extension figures; the sweep figures show the grid only. Floats compared
    to 1e-9.
    """
    rows = filter_rows(
        clean_rows(table),
        channel=list(grid["channel"]),
        n_cells=[int(n) for n in grid["n_cells"]],
        geometry=list(grid["geometry"]),
        J=[float(v) for v in grid["J"]],
        gamma12=[float(v) for v in grid["gamma12"]],
    )
    # n_th is an axis of a channel with a bath only; the others ignore it
    bath = rows["channel"].map(lambda c: has_bath(str(c))).to_numpy(dtype=bool)
    on_grid = filter_rows(rows, n_th=[float(v) for v in grid.get("n_th", [0.0])]).index
    return rows[~bath | rows.index.isin(on_grid)]


def large_n_rows(table: pd.DataFrame, large_n: Mapping, channel: str) -> pd.DataFrame:
    """The rows of the large-N figure: every clean symmetric label at large_n's couplings.

    The config's ``large_n`` labels and the grid's (and the paper's) symmetric
    labels of the same channel, J and gamma12, so the curves run from N = 1;
    a channel with a bath occupation at the large-N labels' ``n_th = 0``.
    """
    rows = filter_rows(
        clean_rows(table),
        channel=channel,
        geometry=LARGE_N_GEOMETRY,
        J=[float(v) for v in large_n["J"]],
        gamma12=[float(v) for v in large_n["gamma12"]],
    )
    return label_axes_rows(rows, "large_n_scaling", n_th=0.0)


def require_rows(frame: pd.DataFrame, figure: str, table: str, needed: Iterable[dict]) -> None:
    """``ValueError`` naming every combination of ``needed`` that ``frame`` has no row for."""
    missing = [want for want in needed if filter_rows(frame, **want).empty]
    if missing:
        shown = "; ".join(
            ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in m.items())
            for m in missing[:6]
        )
        more = f" (and {len(missing) - 6} more)" if len(missing) > 6 else ""
        raise ValueError(
            f"{figure}: the {table} table has no rows for {shown}{more}; these labels come "
            "with extension_figures: true"
        )


def label_dicts(labels: Iterable[Label], states: Sequence[str] = ()) -> list[dict]:
    """The axes of each label as a dict, once per state of ``states`` (when given).

    ``n_th`` only for a channel with a bath occupation (the others ignore it).
    """
    out = []
    for label in labels:
        axes = label.as_dict()
        if not has_bath(label.channel):
            del axes["n_th"]
        out += [{**axes, "state": s} for s in states] if states else [axes]
    return out


def rows_of(frame: pd.DataFrame, labels: Iterable[Label]) -> pd.DataFrame:
    """The rows of ``frame`` (every state) that belong to one of ``labels``."""
    frame = with_label_axes(frame)
    parts = [filter_rows(frame, **axes) for axes in label_dicts(labels)]
    if not parts:
        return frame.iloc[:0]
    return pd.concat(parts).drop_duplicates()


# ----------------------------------------------------------------------------
# the label manifest and the trajectories behind it


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A summary CSV, every label axis present (:func:`with_label_axes`)."""
    return with_label_axes(pd.read_csv(path))


def manifest_datasets(
    labels_csv: str | os.PathLike, trajectories: Iterable[str], rows: pd.DataFrame
) -> list[xr.Dataset]:
    """The trajectory of each manifest row of ``rows``, relabelled as that label.

    A trajectory may be a shared point (one cell, uncoupled cells, an
    isomorphic graph); each copy gets its label's geometry, J and gamma12.
    Per-cell and per-link arrays are not remapped: the figures draw totals
    and link means, which the isomorphism keeps. Every file must be among
    ``trajectories`` (the rule's input).
    """
    results = results_of_summary(labels_csv)
    given = {Path(t).resolve() for t in trajectories}
    datasets = []
    for row in rows.itertuples(index=False):
        path = results / row.trajectory
        if path.resolve() not in given:
            raise ValueError(f"{path} (label point {row.point}) is not among the inputs")
        ds = read_netcdf(path)
        datasets.append(
            ds.assign_coords(
                n_cells=int(row.n_cells),
                geometry=str(row.geometry),
                J=float(row.J),
                gamma12=float(row.gamma12),
            )
        )
    return datasets


def label_datasets(
    labels_csv: str | os.PathLike, trajectories: Iterable[str], paper_only: bool = True
) -> list[xr.Dataset]:
    """The trajectory of each label of the manifest (``results/summary/labels.csv``).

    With ``paper_only`` the labels of the paper's figures only. See
    :func:`manifest_datasets`.
    """
    manifest = pd.read_csv(labels_csv)
    if paper_only:
        manifest = manifest[manifest["paper"].astype(str).str.lower().isin(["true", "1"])]
    return manifest_datasets(labels_csv, trajectories, manifest)


def check_half_lives(datasets: Datasets, table: pd.DataFrame) -> list[str]:
    """Each dataset's ``ergotropy_half_life`` equals the summary table's, per state.

    The table's row of a dataset is its clean label (one per label of a
    channel without bath occupation). Returns one line per state (for the
    log); raises ``ValueError`` on a mismatch (beyond 1e-9) or a row that is
    missing or repeated.
    """
    lines = []
    table = clean_rows(table)
    for ds in as_list(datasets):
        p = point(ds)
        rows = filter_rows(table, **p)
        if has_bath(p["channel"]):
            rows = filter_rows(rows, n_th=float(np.nan_to_num(value(ds, "n_th"))))
        rows = label_axes_rows(rows, "check_half_lives")
        for state in ds["state"].values:
            drawn = float(ds["ergotropy_half_life"].sel(state=state))
            listed = rows.loc[rows["state"] == state, "ergotropy_half_life"].astype(float)
            if len(listed) != 1:
                raise ValueError(f"the table has {len(listed)} rows for {p}, state {state}")
            listed_value = float(listed.iloc[0])
            same = (np.isnan(drawn) and np.isnan(listed_value)) or abs(
                drawn - listed_value
            ) <= 1e-9
            lines.append(f"{p} {state}: half-life {drawn!r}, table {listed_value!r}")
            if not same:
                raise ValueError(
                    f"half-life of {p}, {state}: {drawn} drawn, {listed_value} listed"
                )
    return lines
