"""Figures: the paper's panels from trajectory datasets, sweep plots from summary tables.

Every function takes data, never paths or a results layout:

- trajectory panels (``fig2a`` ... ``fig5b``, ``phase_damping``) take one
  trajectory :class:`xarray.Dataset` (as returned by :func:`qbsd.simulate`
  or ``xarray.open_dataset``) or a collection of them (a list, or a mapping
  whose values are datasets) and draw every dataset they are given;
- sweep figures (``half_life_heatmap``, ``half_life_vs_n``, ``xi0_vs_n``,
  ``large_n_scaling``) take a summary :class:`pandas.DataFrame` with the
  columns of ``qbsd.summaries.summarize`` (the README, "Analysing results")
  and filter it by keyword.

Each returns the :class:`matplotlib.figure.Figure` and, given ``stem``,
writes ``stem.png`` and ``stem.pdf`` (see :func:`qbsd.style.save`).
Half-lives and other event times are read from the data (the trajectory's
``ergotropy_half_life`` variable, the table's columns), never recomputed
here; a half-life not reached within t_max is shown as censored, never as a
number.
"""

from __future__ import annotations

import contextlib
import math
import os
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from . import style
from .dataset import read_netcdf
from .points import LARGE_N_GEOMETRY
from .storage import atomic_path, log_file

Datasets = xr.Dataset | Mapping[object, xr.Dataset] | Iterable[xr.Dataset]
Stem = str | os.PathLike | None

TIME_LABEL = r"time $t$ ($1/\Gamma$)"
HALF_LIFE_SYMBOL = r"\tau_{1/2}"
QUANTITY_LABELS = {
    "ergotropy_half_life": r"ergotropy half-life $\tau_{1/2}$ ($1/\Gamma$)",
    "energy_half_life": r"energy half-life $\tau^{U}_{1/2}$ ($1/\Gamma$)",
    "coherence_half_life": r"coherence half-life $\tau^{C}_{1/2}$ ($1/\Gamma$)",
}
CENSORED_NOTE = r"not reached within $t_{\max}$ (censored)"
UNIT_YLIM = (-0.02, 1.05)  # a zero line stays visible above the frame

__all__ = [
    "PANELS",
    "fig2a",
    "fig2b",
    "fig3a",
    "fig3b",
    "fig4a",
    "fig4b",
    "fig5a",
    "fig5b",
    "half_life_heatmap",
    "half_life_vs_n",
    "large_n_scaling",
    "paper_panel",
    "phase_damping",
    "select",
    "xi0_vs_n",
]


# ----------------------------------------------------------------------------
# trajectory datasets: selection and description
# ----------------------------------------------------------------------------


def _as_list(datasets: Datasets) -> list[xr.Dataset]:
    if isinstance(datasets, xr.Dataset):
        return [datasets]
    if isinstance(datasets, Mapping):
        return list(datasets.values())
    return list(datasets)


def _value(ds: xr.Dataset, key: str):
    """A point parameter (scalar coordinate, variable or attribute) as a Python scalar."""
    if key in ds.variables:
        value = ds[key].values
        return value.item() if value.ndim == 0 else value
    if key in ds.attrs:
        return ds.attrs[key]
    raise KeyError(f"trajectory dataset has no {key!r} (coordinate, variable or attribute)")


def _point(ds: xr.Dataset) -> dict:
    return {
        "n_cells": int(_value(ds, "n_cells")),
        "geometry": str(_value(ds, "geometry")),
        "J": float(_value(ds, "J")),
        "gamma12": float(_value(ds, "gamma12")),
        "channel": str(_value(ds, "channel")),
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
    for ds in _as_list(datasets):
        point = _point(ds)
        keys = _relevant(point) if physical else tuple(point)
        if all(_matches(point[k], want) for k, want in criteria.items() if k in keys):
            out.append(ds)
    return out


def _matches(value, want) -> bool:
    if isinstance(want, (list, tuple, set, frozenset)):
        return any(_matches(value, w) for w in want)
    if isinstance(value, float):
        return _same_value(value, want)
    return value == want


def _same_value(a: float, b: float) -> bool:
    """Whether two grid values are the same point: relative 1e-9 and no absolute slack.

    No absolute tolerance: a grid may hold 0 next to 1e-12 (any value the
    config schema accepts), and the values are already rounded to
    ``points.SIGNIFICANT_DIGITS`` digits.
    """
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)


def _one(datasets: Datasets, panel: str) -> xr.Dataset:
    dss = _as_list(datasets)
    if len(dss) != 1:
        raise ValueError(
            f"{panel} draws one parameter point; got {len(dss)} datasets "
            "(pick one, e.g. with qbsd.plots.select)"
        )
    return dss[0]


def _state(ds: xr.Dataset, state: str, panel: str) -> xr.Dataset:
    states = [str(s) for s in ds["state"].values]
    if state not in states:
        raise ValueError(f"{panel} needs the {state!r} state; the dataset holds {states}")
    return ds.sel(state=state)


def _fmt(x: float) -> str:
    """A parameter value for labels: 2, 0.5, 0.25 (no trailing zeros)."""
    return f"{x:g}"


def _rate(x: float) -> str:
    """A rate in units of Gamma for mathtext: 0, 2\\,Gamma, 0.5\\,Gamma."""
    return "0" if x == 0 else rf"{_fmt(x)}\,\Gamma"


def _couplings_text(J: float, gamma12: float, sep: str = ", ") -> str:
    return rf"$J = {_rate(J)}${sep}$\Gamma_{{12}} = {_rate(gamma12)}$"


def _channel_text(channel: str) -> str:
    return channel.replace("_", " ")


def _point_text(point: dict, keys: Sequence[str]) -> str:
    parts = []
    for key in keys:
        value = point[key]
        if key == "n_cells":
            parts.append(f"$N = {value}$")
        elif key == "geometry":
            parts.append(str(value))
        elif key == "J":
            parts.append(rf"$J = {_rate(value)}$")
        elif key == "gamma12":
            parts.append(rf"$\Gamma_{{12}} = {_rate(value)}$")
        elif key == "channel":
            parts.append(_channel_text(value))
    return ", ".join(parts)


def _relevant(point: dict) -> tuple[str, ...]:
    """Parameters that change the physics of a point (N = 1 ignores the couplings)."""
    if point["n_cells"] == 1:
        return ("n_cells", "channel")
    if point["n_cells"] == 2:  # every geometry of two cells is the single link
        return ("n_cells", "J", "gamma12", "channel")
    return ("n_cells", "geometry", "J", "gamma12", "channel")


def _describe(points: Sequence[dict], vary: str) -> tuple[str, list[str]]:
    """A title with the parameters every point shares, and one label per point.

    ``vary`` is the parameter the curves are labelled by; a parameter that
    differs between points (where it matters) is added to each label too.
    """
    common, varying = [], []
    for key in ("n_cells", "geometry", "J", "gamma12", "channel"):
        if key == vary:
            continue
        values = {p[key] for p in points if key in _relevant(p)}
        if len(values) == 1:
            common.append(key)
        elif len(values) > 1:
            varying.append(key)
    shared = dict(points[0])
    for p in points:  # the shared value from a point where it matters
        for key in common:
            if key in _relevant(p):
                shared[key] = p[key]
    title = _point_text(shared, common)
    labels = []
    for p in points:
        keys = [vary] if vary else []
        keys += [k for k in varying if k in _relevant(p)]
        labels.append(_point_text(p, keys))
    return title, labels


def _time_axis(ax, ds_list: Sequence[xr.Dataset], t_max: float | None) -> None:
    end = max(float(ds["time"].values[-1]) for ds in ds_list)
    start = min(float(ds["time"].values[0]) for ds in ds_list)
    ax.set_xlim(start, end if t_max is None else min(float(t_max), end))
    ax.set_xlabel(TIME_LABEL)


def _top_legend(fig: Figure, ax, title: str, ncols: int, handles=None) -> None:
    """The legend above the axes, the shared parameters as its title."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    ncols = min(ncols, len(handles))
    fig.legend(
        handles=_row_major(handles, ncols),
        loc="outside upper center",
        ncols=ncols,
        title=title,
        columnspacing=1.4,
        handlelength=2.6,
    )


def _row_major(handles: list, ncols: int) -> list:
    """Reorder so that matplotlib's column-by-column legend reads row by row."""
    n = len(handles)
    return [handles[i * ncols + j] for j in range(ncols) for i in range(-(-(n - j) // ncols))]


def _finish(fig: Figure, stem: Stem) -> Figure:
    if stem is not None:
        style.save(fig, stem)
    return fig


# ----------------------------------------------------------------------------
# the paper's panels
# ----------------------------------------------------------------------------


@style.styled
def fig2a(
    datasets: Datasets,
    stem: Stem = None,
    *,
    states: Sequence[str] = ("classical", "quantum"),
    t_max: float | None = 2.0,
) -> Figure:
    """Paper Fig. 2a: ergotropy E(t)/E(0) of one point, dashed lines at the half-lives.

    The half-lives come from the dataset's ``ergotropy_half_life`` variable
    (located on the solution by ``qbsd.simulate``); their values, in 1/Gamma,
    are in the legend. For the paper's single cell under ``relaxation`` they
    are 2 ln(6/5) = 0.365 (classical) and 2 ln[2(1+sqrt 6)/5] = 0.644
    (quantum); both states start with E(0) = E_1/2 = hbar omega0 / 2.
    """
    return _ergotropy_panel(datasets, stem, states, t_max, "fig2a")


def _ergotropy_panel(datasets, stem, states, t_max, panel) -> Figure:
    ds = _one(datasets, panel)
    fig = style.new_figure()
    ax = fig.add_subplot()
    ax.axhline(0.5, color="0.6", lw=0.6, ls=":", zorder=0)
    lines, markers = [], []
    for state in states:
        one = _state(ds, state, panel)
        e = one["ergotropy"].values
        color = style.state_color(state)
        (line,) = ax.plot(
            ds["time"].values,
            e / e[0],
            color=color,
            ls=style.STATE_LINESTYLES.get(state, "-"),
            label=state,
        )
        lines.append(line)
        tau = float(one["ergotropy_half_life"])
        symbol = rf"\Gamma{HALF_LIFE_SYMBOL}^{{\rm {state[:2]}}}"
        if np.isfinite(tau):
            marker = ax.axvline(
                tau, color=color, ls=(0, (3, 2)), lw=0.9, label=rf"${symbol} = {tau:.3f}$"
            )
        else:  # censored: no line, say so
            t_end = float(ds["time"].values[-1])
            marker = Line2D([], [], ls="none")
            marker.set_label(rf"${symbol} > {t_end:g}$ (not reached)")
        markers.append(marker)
    _time_axis(ax, [ds], t_max)
    ax.set_ylim(*UNIT_YLIM)
    ax.set_ylabel(r"ergotropy $\mathcal{E}(t)/\mathcal{E}(0)$")
    title, _ = _describe([_point(ds)], vary="")
    _top_legend(fig, ax, title, ncols=len(lines), handles=lines + markers)
    return _finish(fig, stem)


@style.styled
def fig2b(
    datasets: Datasets,
    stem: Stem = None,
    *,
    states: Sequence[str] = ("classical", "quantum"),
    t_max: float | None = 2.0,
) -> Figure:
    """Paper Fig. 2b: efficiency xi(t) = E/U of one point, one curve per state."""
    ds = _one(datasets, "fig2b")
    fig = style.new_figure()
    ax = fig.add_subplot()
    for state in states:
        one = _state(ds, state, "fig2b")
        ax.plot(
            ds["time"].values,
            one["efficiency"].values,
            color=style.state_color(state),
            ls=style.STATE_LINESTYLES.get(state, "-"),
            label=state,
        )
    _time_axis(ax, [ds], t_max)
    ax.set_ylim(*UNIT_YLIM)
    ax.set_ylabel(r"efficiency $\xi(t) = \mathcal{E}/U$")
    title, _ = _describe([_point(ds)], vary="")
    _top_legend(fig, ax, title, ncols=2)
    return _finish(fig, stem)


def _by_n(datasets: Datasets) -> list[xr.Dataset]:
    return sorted(_as_list(datasets), key=lambda ds: _point(ds)["n_cells"])


def _efficiency_vs_n(datasets: Datasets, stem: Stem, state: str, panel: str, t_max) -> Figure:
    dss = _by_n(datasets)
    if not dss:
        raise ValueError(f"{panel} needs at least one dataset")
    points = [_point(ds) for ds in dss]
    title, labels = _describe(points, vary="n_cells")
    fig = style.new_figure()
    ax = fig.add_subplot()
    colors = style.ordinal_colors(len(dss))
    dashes = [
        "-",
        (0, (5, 1.5)),
        (0, (6, 1.5, 1.5, 1.5)),
        (0, (1.5, 1.2)),
        (0, (3, 1, 1, 1, 1, 1)),
    ]
    for i, (ds, label) in enumerate(zip(dss, labels, strict=True)):
        one = _state(ds, state, panel)
        ax.plot(
            ds["time"].values,
            one["efficiency"].values,
            color=colors[i],
            ls=dashes[i % len(dashes)],
            label=label,
        )
    _time_axis(ax, dss, t_max)
    ax.set_ylim(*UNIT_YLIM)
    ax.set_ylabel(r"efficiency $\xi(t) = \mathcal{E}/U$")
    _top_legend(fig, ax, f"{state} state, {title}", ncols=3)
    return _finish(fig, stem)


@style.styled
def fig3a(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 2.0) -> Figure:
    """Paper Fig. 3a: xi(t) of the classical state, one curve per dataset, ordered by N.

    The paper's datasets: the linear chain, N = 1..5, J = 2, gamma12 = 1/2,
    relaxation.
    """
    return _efficiency_vs_n(datasets, stem, "classical", "fig3a", t_max)


@style.styled
def fig3b(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 2.0) -> Figure:
    """Paper Fig. 3b: xi(t) of the quantum state, one curve per dataset, ordered by N."""
    return _efficiency_vs_n(datasets, stem, "quantum", "fig3b", t_max)


def _by_geometry(datasets: Datasets) -> list[xr.Dataset]:
    order = {g: i for i, g in enumerate(style.GEOMETRY_ORDER)}
    return sorted(
        _as_list(datasets),
        key=lambda ds: (order.get(_point(ds)["geometry"], len(order)), _point(ds)["geometry"]),
    )


def _geometry_curves(
    ax,
    dss: Sequence[xr.Dataset],
    labels: Sequence[str],
    variable: str,
    state: str,
    panel: str,
    normalise: bool = False,
    lw: float | None = None,
) -> None:
    for i, (ds, label) in enumerate(zip(dss, labels, strict=True)):
        geometry = _point(ds)["geometry"]
        y = _state(ds, state, panel)[variable].values
        if normalise:
            y = y / y[0]
        ax.plot(
            ds["time"].values,
            y,
            color=style.geometry_color(geometry, i),
            ls=style.geometry_linestyle(geometry),
            lw=lw,
            label=label,
        )


def _geometry_panel(
    datasets: Datasets,
    *,
    variable: str,
    state: str,
    panel: str,
    ylabel: str,
    t_max: float | None,
    normalise: bool = False,
    ylim: tuple[float, float] | None = UNIT_YLIM,
) -> tuple[Figure, object, list[xr.Dataset]]:
    dss = _by_geometry(datasets)
    if not dss:
        raise ValueError(f"{panel} needs at least one dataset")
    title, labels = _describe([_point(ds) for ds in dss], vary="geometry")
    fig = style.new_figure()
    ax = fig.add_subplot()
    _geometry_curves(ax, dss, labels, variable, state, panel, normalise)
    _time_axis(ax, dss, t_max)
    if ylim is not None:
        ax.set_ylim(*ylim)
    else:
        ax.set_ylim(bottom=-0.02 * ax.get_ylim()[1])
    ax.set_ylabel(ylabel)
    _top_legend(fig, ax, f"{state} state, {title}", ncols=2)
    return fig, ax, dss


@style.styled
def fig4a(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 5.0) -> Figure:
    """Paper Fig. 4a: U(t)/U(0) of the quantum state, one curve per geometry.

    The paper's datasets: N = 5, central, linear, circular and symmetric,
    J = 2, gamma12 = 1/2, relaxation (U(0) = N hbar omega0 / 2).
    """
    fig, _, _ = _geometry_panel(
        datasets,
        variable="energy",
        state="quantum",
        panel="fig4a",
        ylabel=r"internal energy $U(t)/U(0)$",
        t_max=t_max,
        normalise=True,
    )
    return _finish(fig, stem)


@style.styled
def fig4b(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 2.0) -> Figure:
    """Paper Fig. 4b: xi(t) per geometry, quantum state (main) and classical state (inset)."""
    fig, ax, dss = _geometry_panel(
        datasets,
        variable="efficiency",
        state="quantum",
        panel="fig4b",
        ylabel=r"efficiency $\xi(t) = \mathcal{E}/U$",
        t_max=t_max,
    )
    inset = ax.inset_axes((0.58, 0.5, 0.39, 0.46))
    _, labels = _describe([_point(ds) for ds in dss], vary="geometry")
    _geometry_curves(inset, dss, labels, "efficiency", "classical", "fig4b", lw=1.0)
    inset.set_xlim(ax.get_xlim())
    inset.set_ylim(-0.02, 0.72)
    inset.text(
        0.95, 0.92, "classical", transform=inset.transAxes, ha="right", va="top", fontsize=7
    )
    inset.tick_params(labelsize=6.5, which="both")
    inset.xaxis.set_major_locator(mpl.ticker.MaxNLocator(2, steps=[1, 2, 5, 10]))
    inset.yaxis.set_major_locator(mpl.ticker.MaxNLocator(3, steps=[1, 2, 5, 10]))
    inset.set_xlabel(r"$t$ ($1/\Gamma$)", fontsize=6.5, labelpad=1)
    inset.set_ylabel(r"$\xi(t)$", fontsize=6.5, labelpad=1)
    return _finish(fig, stem)


@style.styled
def fig5a(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 2.0) -> Figure:
    """Paper Fig. 5a: normalised l1 coherence of the quantum state, one curve per geometry."""
    fig, _, _ = _geometry_panel(
        datasets,
        variable="coherence",
        state="quantum",
        panel="fig5a",
        ylabel=r"$l_1$ coherence $C_{l_1}(t)$",
        t_max=t_max,
    )
    return _finish(fig, stem)


@style.styled
def fig5b(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 2.0) -> Figure:
    """Paper Fig. 5b: link-averaged concurrence of the quantum state, one curve per geometry."""
    fig, _, _ = _geometry_panel(
        datasets,
        variable="concurrence_mean",
        state="quantum",
        panel="fig5b",
        ylabel=r"mean concurrence $\bar{C}(t)$",
        t_max=t_max,
        ylim=None,
    )
    return _finish(fig, stem)


@style.styled
def phase_damping(
    datasets: Datasets,
    stem: Stem = None,
    *,
    states: Sequence[str] = ("classical", "quantum"),
    t_max: float | None = 5.0,
) -> Figure:
    """Paper Sec. II C: E(t)/E(0) of one point (the single cell under phase damping).

    The quantum state's ergotropy decays (Gamma tau_1/2 = ln 2 for one
    cell), the classical state's does not: its half-life is censored.
    Same drawing as :func:`fig2a`.
    """
    return _ergotropy_panel(datasets, stem, states, t_max, "phase_damping")


# name -> drawing function of each paper panel.
PANELS = {
    "fig2a": fig2a,
    "fig2b": fig2b,
    "fig3a": fig3a,
    "fig3b": fig3b,
    "fig4a": fig4a,
    "fig4b": fig4b,
    "fig5a": fig5a,
    "fig5b": fig5b,
    "phase_damping": phase_damping,
}

# The paper's parameters (docs/model.md, "What the paper reports").
PAPER_J, PAPER_GAMMA12 = 2.0, 0.5
_CHAIN = {"channel": "relaxation", "geometry": "linear", "J": PAPER_J, "gamma12": PAPER_GAMMA12}
_NETWORKS = {
    "channel": "relaxation",
    "n_cells": 5,
    "geometry": list(style.GEOMETRY_ORDER),
    "J": PAPER_J,
    "gamma12": PAPER_GAMMA12,
}
#: panel -> (which points it draws, the parameter that tells its curves apart)
PAPER_POINTS = {
    "fig2a": ({"channel": "relaxation", "n_cells": 1}, None),
    "fig2b": ({"channel": "relaxation", "n_cells": 1}, None),
    "phase_damping": ({"channel": "phase_damping", "n_cells": 1}, None),
    "fig3a": ({**_CHAIN, "n_cells": [1, 2, 3, 4, 5]}, "n_cells"),
    "fig3b": ({**_CHAIN, "n_cells": [1, 2, 3, 4, 5]}, "n_cells"),
    "fig4a": (_NETWORKS, "geometry"),
    "fig4b": (_NETWORKS, "geometry"),
    "fig5a": (_NETWORKS, "geometry"),
    "fig5b": (_NETWORKS, "geometry"),
}


def paper_panel(panel: str, datasets: Datasets, stem: Stem = None, **kwargs) -> Figure:
    """Draw the paper's ``panel`` from any collection of trajectories that holds its points.

    The points of each panel are in ``PAPER_POINTS``; trajectories that are
    the same physics count once (the first one given), so a whole sweep may
    be passed. Raises ``ValueError`` naming the panel when a point is missing.
    """
    if panel not in PANELS:
        raise ValueError(f"unknown paper panel {panel!r}; choose one of {', '.join(PANELS)}")
    criteria, key = PAPER_POINTS[panel]
    chosen, seen = [], set()
    for ds in select(datasets, physical=True, **criteria):
        tag = _point(ds)[key] if key else None
        if tag not in seen:
            seen.add(tag)
            chosen.append(ds)
    wanted = criteria.get(key, [None]) if key else [None]
    missing = [w for w in wanted if w not in seen]
    if missing:
        what = f"{key} = {missing}" if key else "its point"
        raise ValueError(f"paper panel {panel}: no trajectory for {what} ({criteria})")
    if key is None:
        chosen = chosen[0]
    return PANELS[panel](chosen, stem, **kwargs)


# ----------------------------------------------------------------------------
# summary tables
# ----------------------------------------------------------------------------


def _filter(frame: pd.DataFrame, **criteria) -> pd.DataFrame:
    """Rows matching every non-None criterion (floats to 1e-9)."""
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


def _unique(frame: pd.DataFrame, key: str, given, function: str):
    if given is not None:
        return given
    values = sorted(frame[key].dropna().unique())
    if len(values) != 1:
        raise ValueError(
            f"{function}: the table holds {key} = {values}; choose one with {key}=..."
        )
    return values[0]


def _censored(frame: pd.DataFrame, quantity: str) -> np.ndarray:
    column = f"{quantity}_censored"
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    values = frame[column]
    if values.dtype == object:
        values = values.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0"))
    return values.fillna(False).astype(bool).to_numpy()


def _geometries(frame: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(frame["geometry"]))
    ordered = [g for g in style.GEOMETRY_ORDER if g in present]
    return ordered + sorted(g for g in present if g not in ordered)


def _states(frame: pd.DataFrame, states: Sequence[str]) -> list[str]:
    present = set(frame["state"])
    return [s for s in states if s in present]


def _grid(frame, quantity, x_values, y_values, x="J", y="gamma12"):
    """values, censored and missing masks over (y, x), one row per cell at most."""
    shape = (len(y_values), len(x_values))
    values = np.full(shape, np.nan)
    censored = np.zeros(shape, dtype=bool)
    missing = np.ones(shape, dtype=bool)
    flags = _censored(frame, quantity)
    for (_, row), flag in zip(frame.iterrows(), flags, strict=True):
        i = _index(y_values, row[y])
        j = _index(x_values, row[x])
        values[i, j] = row[quantity]
        censored[i, j] = flag
        missing[i, j] = False
    return values, censored, missing


def _index(values: Sequence[float], value: float) -> int:
    for i, v in enumerate(values):
        if _same_value(v, value):
            return i
    raise KeyError(value)


def _text_color(cmap, norm, value) -> str:
    r, g, b, _ = cmap(norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _heat(ax, values, censored, missing, cmap, norm, fmt, censored_text):
    """One heatmap: colour cells, annotate values, hatch censored cells."""
    ny, nx = values.shape
    shown = np.ma.masked_invalid(np.where(censored | missing, np.nan, values))
    mesh = ax.pcolormesh(
        np.arange(nx + 1) - 0.5,
        np.arange(ny + 1) - 0.5,
        shown,
        cmap=cmap,
        norm=norm,
        edgecolors="white",
        linewidth=0.8,
    )
    for i in range(ny):
        for j in range(nx):
            if missing[i, j]:
                ax.text(j, i, "–", ha="center", va="center", fontsize=7, color="0.4")
            elif censored[i, j]:
                ax.add_patch(
                    mpl.patches.Rectangle(
                        (j - 0.5, i - 0.5),
                        1,
                        1,
                        facecolor=style.CENSORED_FACE,
                        edgecolor=style.CENSORED_EDGE,
                        hatch=style.CENSORED_HATCH,
                        linewidth=0.0,
                    )
                )
                text = censored_text(i, j) if callable(censored_text) else censored_text
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="black",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
                )
            elif np.isfinite(values[i, j]):
                ax.text(
                    j,
                    i,
                    fmt(values[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color=_text_color(cmap, norm, values[i, j]),
                )
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.minorticks_off()
    ax.tick_params(which="both", top=False, right=False, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return mesh


@style.styled
def half_life_heatmap(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str | None = None,
    n_cells: int | None = None,
    quantity: str = "ergotropy_half_life",
    states: tuple[str, str] = ("classical", "quantum"),
) -> Figure:
    """Half-life over (J, gamma12), one row per geometry: classical | quantum | ratio.

    The two half-life columns share one colour scale (``viridis``); the third
    column is the quantum advantage tau(quantum)/tau(classical) on a
    logarithmic diverging scale centred at 1 (blue: the quantum state keeps
    its ergotropy longer). Cells whose half-life is not reached within t_max
    are hatched grey ("n.r."), and so is a ratio that involves one; a dash
    marks a (J, gamma12) point absent from the table (e.g. skipped as
    unphysical). ``channel`` and ``n_cells`` select the facet; they may be
    left out when the table holds one value.
    """
    fn = "half_life_heatmap"
    channel = _unique(frame, "channel", channel, fn)
    n_cells = int(_unique(_filter(frame, channel=channel), "n_cells", n_cells, fn))
    sub = _filter(frame, channel=channel, n_cells=n_cells)
    if sub.empty:
        raise ValueError(f"{fn}: no rows for channel={channel!r}, n_cells={n_cells}")
    cl, qu = states
    geometries = _geometries(sub)
    if n_cells <= 2:  # one or two cells: every geometry is the same system, draw it once
        geometries = geometries[:1]
    js = sorted(sub["J"].astype(float).unique())
    gs = sorted(sub["gamma12"].astype(float).unique())

    grids = {}
    for geometry in geometries:
        for state in states:
            rows = _filter(sub, geometry=geometry, state=state)
            rows = rows.drop_duplicates(subset=["J", "gamma12"])
            grids[geometry, state] = _grid(rows, quantity, js, gs)
    finite = [
        g[0][~(g[1] | g[2])] for g in grids.values() if np.isfinite(g[0][~(g[1] | g[2])]).any()
    ]
    finite = np.concatenate(finite) if finite else np.array([0.0, 1.0])
    finite = finite[np.isfinite(finite)]
    vmin, vmax = float(finite.min()), float(finite.max())
    if vmax - vmin < 1e-12:
        vmin, vmax = vmin - 0.05 * abs(vmin or 1), vmax + 0.05 * abs(vmax or 1)
    seq_norm = mpl.colors.Normalize(vmin, vmax)
    seq_cmap = mpl.colormaps[style.SEQUENTIAL_CMAP]

    ratios = {}
    for geometry in geometries:
        vc, cc, mc = grids[geometry, cl]
        vq, cq, mq = grids[geometry, qu]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[geometry] = (vq / vc, cc | cq, mc | mq, cc, cq)
    logs = [
        np.abs(np.log(r[0][~(r[1] | r[2])]))
        for r in ratios.values()
        if np.isfinite(r[0][~(r[1] | r[2])]).any()
    ]
    span = float(np.nanmax(np.concatenate(logs))) if logs else 0.0
    span = max(span, math.log(1.05))
    div_norm = mpl.colors.LogNorm(math.exp(-span), math.exp(span))
    div_cmap = mpl.colormaps[style.DIVERGING_CMAP]

    n_rows = len(geometries)
    fig = style.new_figure(style.PAGE_WIDTH, 0.7 + 1.3 * n_rows)
    axes = fig.subplots(n_rows, 3, squeeze=False, sharex=True, sharey=True)
    symbol = {"ergotropy_half_life": r"\tau_{1/2}"}.get(quantity, r"\tau")
    titles = [
        rf"{cl}: $\Gamma{symbol}$",
        rf"{qu}: $\Gamma{symbol}$",
        rf"quantum advantage ${symbol}^{{\rm {qu[:2]}}}/{symbol}^{{\rm {cl[:2]}}}$",
    ]

    def ratio_text(cc, cq):
        def text(i, j):
            # one side censored: tau > t_max >= the other side, a bound on the ratio
            if cc[i, j] and cq[i, j]:
                return "n.r."
            return "< 1" if cc[i, j] else "> 1"

        return text

    seq_mesh = div_mesh = None
    any_censored = any_missing = False
    for r, geometry in enumerate(geometries):
        for c, state in enumerate(states):
            values, censored, missing = grids[geometry, state]
            any_censored |= bool(censored.any())
            any_missing |= bool(missing.any())
            seq_mesh = _heat(
                axes[r, c], values, censored, missing, seq_cmap, seq_norm, _fmt3, "n.r."
            )
        ratio, censored, missing, cc, cq = ratios[geometry]
        div_mesh = _heat(
            axes[r, 2],
            ratio,
            censored,
            missing,
            div_cmap,
            div_norm,
            _fmt3,
            ratio_text(cc, cq),
        )
        row_label = "every geometry" if n_cells <= 2 else geometry
        axes[r, 0].set_ylabel(f"{row_label}\n" + r"$\Gamma_{12}$ ($\Gamma$)")
    for c in range(3):
        axes[0, c].set_title(titles[c])
        axes[-1, c].set_xlabel(r"$J$ ($\Gamma$)")
    for ax in axes.flat:
        ax.set_xticks(range(len(js)), [_fmt(v) for v in js])
        ax.set_yticks(range(len(gs)), [_fmt(v) for v in gs])
    label = QUANTITY_LABELS.get(quantity, quantity.replace("_", " "))
    fig.colorbar(seq_mesh, ax=axes[:, :2], location="right", label=label, shrink=0.9, pad=0.02)
    bar = fig.colorbar(div_mesh, ax=axes[:, 2], location="right", shrink=0.9, pad=0.04)
    bar.set_label(rf"${symbol}^{{\rm {qu[:2]}}}/{symbol}^{{\rm {cl[:2]}}}$ (log scale)")
    _ratio_ticks(bar, span)
    fig.suptitle(
        f"{label.split(' (')[0][0].upper()}{label.split(' (')[0][1:]}: "
        f"{_channel_text(channel)}, $N = {n_cells}$"
    )
    handles = []
    if any_censored or any(r[1].any() for r in ratios.values()):
        handles.append(
            Patch(
                facecolor=style.CENSORED_FACE,
                edgecolor=style.CENSORED_EDGE,
                hatch=style.CENSORED_HATCH,
                label="n.r.: half-life "
                + CENSORED_NOTE
                + "; a ratio with one side n.r. is a bound",
            )
        )
    if any_missing:
        handles.append(Line2D([], [], ls="none", marker="$–$", color="0.4", label="not in table"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return _finish(fig, stem)


def _fmt3(x: float) -> str:
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def _ratio_ticks(bar, span: float) -> None:
    """At most five readable ticks on the log ratio bar, 1 always among them."""
    tiers = (
        [0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0],
        [0.5, 0.67, 0.8, 1.0, 1.25, 1.5, 2.0],
        [0.8, 0.9, 1.0, 1.1, 1.25],
        [0.95, 1.0, 1.05],
    )
    lo, hi = math.exp(-span) * (1 - 1e-9), math.exp(span) * (1 + 1e-9)
    ticks = []
    for tier in tiers:
        ticks = [t for t in tier if lo <= t <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) < 3:
        ticks = sorted({round(math.exp(-span), 3), 1.0, round(math.exp(span), 3)})
    bar.ax.yaxis.set_major_locator(FixedLocator(ticks))
    bar.ax.yaxis.set_minor_locator(NullLocator())
    bar.ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def _censored_marker(ax, x, color, marker="^") -> None:
    """An open marker at the top edge of ``ax`` at data ``x``: value not reached."""
    ax.plot(
        x,
        [0.96] * len(x),
        ls="none",
        marker=marker,
        mfc="white",
        mec=color,
        mew=1.0,
        transform=ax.get_xaxis_transform(),
        clip_on=False,
    )


@style.styled
def half_life_vs_n(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str | None = None,
    J: float | None = None,
    gamma12: float | None = None,
    quantity: str = "ergotropy_half_life",
    states: Sequence[str] = ("classical", "quantum"),
) -> Figure:
    """Half-life versus N: one column per geometry, one row per (J, gamma12).

    One line per initial state; a half-life not reached within t_max is an
    open triangle at the top of its panel. ``channel``, ``J`` and ``gamma12``
    filter the table (``channel`` may be left out when the table holds one).
    """
    fn = "half_life_vs_n"
    channel = _unique(frame, "channel", channel, fn)
    sub = _filter(frame, channel=channel, J=J, gamma12=gamma12)
    if sub.empty:
        raise ValueError(f"{fn}: no rows for channel={channel!r}, J={J}, gamma12={gamma12}")
    geometries = _geometries(sub)
    combos = sorted({(float(a), float(b)) for a, b in zip(sub["J"], sub["gamma12"], strict=True)})
    states = _states(sub, states)
    n_rows, n_cols = len(combos), len(geometries)
    fig = style.new_figure(min(style.PAGE_WIDTH, 0.6 + 1.65 * n_cols), 0.75 + 1.35 * n_rows + 0.25)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
    any_censored = False
    top = np.nanmax(sub[quantity].astype(float).to_numpy()) if sub[quantity].notna().any() else 1
    for r, (j_value, g_value) in enumerate(combos):
        for c, geometry in enumerate(geometries):
            ax = axes[r, c]
            for state in states:
                rows = _filter(sub, J=j_value, gamma12=g_value, geometry=geometry, state=state)
                rows = rows.sort_values("n_cells").drop_duplicates("n_cells")
                n = rows["n_cells"].to_numpy()
                y = rows[quantity].astype(float).to_numpy()
                censored = _censored(rows, quantity)
                color = style.state_color(state)
                ax.plot(
                    n,
                    np.where(censored, np.nan, y),
                    color=color,
                    ls=style.STATE_LINESTYLES.get(state, "-"),
                    marker=style.STATE_MARKERS.get(state, "o"),
                    label=state,
                )
                if censored.any():
                    any_censored = True
                    _censored_marker(ax, n[censored], color)
            if r == 0:
                ax.set_title(geometry)
            if c == n_cols - 1 and n_rows > 1:
                one_j = len({j for j, _ in combos}) == 1
                ax.annotate(
                    rf"$\Gamma_{{12}} = {_rate(g_value)}$"
                    if one_j
                    else _couplings_text(j_value, g_value, sep="\n"),
                    xy=(1.04, 0.5),
                    xycoords="axes fraction",
                    rotation=0,
                    ha="left",
                    va="center",
                    fontsize=7,
                )
            ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
            ax.xaxis.set_minor_locator(NullLocator())
    axes[0, 0].set_ylim(0, 1.12 * top)
    for ax in axes[-1, :]:
        ax.set_xlabel("cells $N$")
    label = QUANTITY_LABELS.get(quantity, quantity.replace("_", " "))
    fig.supylabel(label, fontsize=mpl.rcParams["axes.labelsize"])
    title = f"{_channel_text(channel)}"
    if n_rows == 1:
        title += ", " + _couplings_text(*combos[0])
    elif len({j for j, _ in combos}) == 1:
        title += rf", $J = {_rate(combos[0][0])}$"
    fig.suptitle(title)
    handles = [
        Line2D(
            [],
            [],
            color=style.state_color(s),
            ls=style.STATE_LINESTYLES.get(s, "-"),
            marker=style.STATE_MARKERS.get(s, "o"),
            label=s,
        )
        for s in states
    ]
    if any_censored:
        handles.append(
            Line2D([], [], ls="none", marker="^", mfc="white", mec="0.3", label=CENSORED_NOTE)
        )
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return _finish(fig, stem)


def _per_state_n(frame: pd.DataFrame, column: str, state: str):
    """N, median, min and max of ``column`` over every row of one state, per N."""
    rows = frame[frame["state"] == state]
    grouped = rows.groupby("n_cells")[column].agg(["median", "min", "max"]).sort_index()
    return grouped.index.to_numpy(), grouped["median"].to_numpy(), grouped.to_numpy()[:, 1:]


@style.styled
def xi0_vs_n(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    states: Sequence[str] = ("classical", "quantum"),
    **criteria,
) -> Figure:
    """Initial efficiency xi(0) and dead energy per cell (U(0) - E(0))/N versus N.

    Product initial states make both independent of channel, geometry and
    couplings: every row of one state and N is drawn (median marker, with the
    min-max spread as an error bar, invisible when the rows agree). The
    second panel is drawn when the table has ``dead_energy_per_cell``
    (the ``xi0_scaling`` summary table). ``criteria`` filter the table
    (e.g. ``channel="relaxation"``).
    """
    sub = _filter(frame, **criteria)
    if sub.empty:
        raise ValueError(f"xi0_vs_n: no rows for {criteria}")
    states = _states(sub, states)
    panels = [("xi0", r"initial efficiency $\xi(0)$")]
    if "dead_energy_per_cell" in sub.columns:
        panels.append(
            (
                "dead_energy_per_cell",
                r"dead energy per cell $(U_0 - \mathcal{E}_0)/N$ ($\hbar\omega_0$)",
            )
        )
    fig = style.new_figure(style.COLUMN_WIDTH * len(panels), 2.55)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (column, label) in zip(axes, panels, strict=True):
        for state in states:
            n, mid, spread = _per_state_n(sub, column, state)
            err = np.abs(spread.T - mid)
            ax.errorbar(
                n,
                mid,
                yerr=err,
                color=style.state_color(state),
                ls=style.STATE_LINESTYLES.get(state, "-"),
                marker=style.STATE_MARKERS.get(state, "o"),
                capsize=2,
                label=state,
            )
        ax.set_xlabel("cells $N$")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        ax.xaxis.set_minor_locator(NullLocator())
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(0.0, lo), max(hi, 0.05) * 1.1 if column != "xi0" else 1.1)
    axes[0].legend(loc="lower right")
    if len(panels) > 1:
        for ax, letter in zip(axes, "ab", strict=False):
            ax.set_title(f"({letter})", loc="left")
    return _finish(fig, stem)


def _log_n_axis(ax, n_values) -> None:
    ax.set_xscale("log")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)]
    lo, hi = min(n_values), max(n_values)
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo / 1.01 <= t <= hi * 1.01]))
    ax.xaxis.set_minor_locator(NullLocator())
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlim(lo / 1.25, hi * 1.25)
    ax.set_xlabel("cells $N$ (log scale)")


@style.styled
def large_n_scaling(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str | None = "relaxation",
    geometry: str | None = "symmetric",
    J: float | None = None,
    gamma12: float | None = None,
    quantity: str = "ergotropy_half_life",
    states: tuple[str, str] = ("classical", "quantum"),
) -> Figure:
    """Half-life, quantum advantage and xi(0) versus N on a log N axis.

    One geometry and channel (default: ``symmetric``, ``relaxation``); one
    line per initial state and per (J, gamma12) left in the table after
    filtering (distinguished by marker). Censored half-lives are open
    triangles at the top of the panel; a ratio involving one is left out.
    """
    fn = "large_n_scaling"
    sub = _filter(frame, channel=channel, geometry=geometry, J=J, gamma12=gamma12)
    if sub.empty:
        raise ValueError(
            f"{fn}: no rows for channel={channel!r}, geometry={geometry!r}, "
            f"J={J}, gamma12={gamma12}"
        )
    channel = _unique(sub, "channel", channel, fn)
    geometry = _unique(sub, "geometry", geometry, fn)
    combos = sorted({(float(a), float(b)) for a, b in zip(sub["J"], sub["gamma12"], strict=True)})
    cl, qu = states
    present = _states(sub, states)
    n_all = sub["n_cells"].to_numpy()
    fig = style.new_figure(style.PAGE_WIDTH, 2.5)
    axes = fig.subplots(1, 3)
    markers = ["o", "s", "D", "v", "P", "X"]
    linestyles = ["-", "--", ":", "-."]
    handles = []
    any_censored = False
    top = np.nanmax(sub[quantity].astype(float).to_numpy()) if sub[quantity].notna().any() else 1
    for k, (j_value, g_value) in enumerate(combos):
        combo = _filter(sub, J=j_value, gamma12=g_value)
        combo_label = _couplings_text(j_value, g_value)
        series = {}
        for state in present:
            rows = combo[combo["state"] == state].sort_values("n_cells")
            rows = rows.drop_duplicates("n_cells")
            n = rows["n_cells"].to_numpy()
            y = rows[quantity].astype(float).to_numpy()
            censored = _censored(rows, quantity)
            series[state] = pd.Series(np.where(censored, np.nan, y), index=n)
            color = style.state_color(state)
            marker = markers[k % len(markers)] if len(combos) > 1 else style.STATE_MARKERS[state]
            ls = linestyles[k % len(linestyles)] if len(combos) > 1 else "-"
            axes[0].plot(n, series[state].to_numpy(), color=color, marker=marker, ls=ls, ms=3.5)
            if censored.any():
                any_censored = True
                _censored_marker(axes[0], n[censored], color)
            axes[2].plot(n, rows["xi0"].astype(float), color=color, marker=marker, ls=ls, ms=3.5)
        if len(combos) > 1:
            handles.append(
                Line2D([], [], color="0.35", marker=marker, ls=ls, ms=3.5, label=combo_label)
            )
        if cl in series and qu in series:
            ratio = (series[qu] / series[cl]).dropna()
            axes[1].plot(
                ratio.index.to_numpy(),
                ratio.to_numpy(),
                color="black",
                marker=markers[k % len(markers)],
                ls=linestyles[k % len(linestyles)] if len(combos) > 1 else "-",
                ms=3.5,
            )
    state_handles = [
        Line2D(
            [],
            [],
            color=style.state_color(s),
            marker=None if len(combos) > 1 else style.STATE_MARKERS[s],
            ms=3.5,
            label=s,
        )
        for s in present
    ]
    handles = state_handles + handles
    axes[0].set_ylim(0, 1.12 * top)
    axes[0].set_ylabel(QUANTITY_LABELS.get(quantity, quantity.replace("_", " ")))
    axes[1].axhline(1.0, color="0.6", lw=0.6, ls=":")
    axes[1].set_ylabel(
        rf"quantum advantage $\tau^{{\rm {qu[:2]}}}_{{1/2}}/\tau^{{\rm {cl[:2]}}}_{{1/2}}$"
    )
    axes[2].set_ylabel(r"initial efficiency $\xi(0)$")
    axes[2].set_ylim(0, 1.1)
    for ax, letter in zip(axes, "abc", strict=True):
        _log_n_axis(ax, n_all)
        ax.set_title(f"({letter})", loc="left")
    title = f"{geometry}, {_channel_text(channel)}"
    if len(combos) == 1:
        title += ", " + _couplings_text(*combos[0])
    fig.suptitle(title)
    if any_censored:
        handles.append(
            Line2D([], [], ls="none", marker="^", mfc="white", mec="0.3", label=CENSORED_NOTE)
        )
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5))
    return _finish(fig, stem)


# ----------------------------------------------------------------------------
# summary tables as a page of the HTML report
# ----------------------------------------------------------------------------

_TABLE_CSS = (
    "body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:12px;margin:8px}"
    "table{border-collapse:collapse}"
    "th,td{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    "th{position:sticky;top:0;background:#f4f4f4}"
    "td.nr{color:#777;font-style:italic}"
)


def table_html(frame: pd.DataFrame, title: str = "", digits: int = 6) -> str:
    """A summary table as one self-contained, deterministic HTML page.

    Numbers keep ``digits`` significant digits; a half-life that is censored
    (its ``*_censored`` column is true) reads "not reached" instead of an
    empty cell; other missing values (undefined quantities) stay empty.
    """
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            shown[column] = values.map(lambda v: "true" if v else "false")
        elif pd.api.types.is_float_dtype(values):
            shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}")
        else:
            shown[column] = values.map(lambda v: "" if pd.isna(v) else str(v))
    for column in frame.columns:
        flag = f"{column}_censored"
        if flag in frame.columns:
            censored = _censored(frame, column)
            shown.loc[censored, column] = "not reached"
    body = shown.to_html(index=False, escape=True, border=0)
    body = body.replace("<td>not reached</td>", '<td class="nr">not reached</td>')
    heading = f"<h3>{_escape(title)}</h3>" if title else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{_escape(title)}</title><style>{_TABLE_CSS}</style></head>"
        f"<body>{heading}<p>{len(frame)} rows</p>\n{body}\n</body></html>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ----------------------------------------------------------------------------
# workflow jobs: file-level entry points of workflow/rules/plots.smk
# ----------------------------------------------------------------------------

_LABEL_KEYS = ("channel", "n_cells", "geometry", "J", "gamma12")


@contextlib.contextmanager
def _job_log(log: str | os.PathLike, name: str):
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


def _stem(png: str | os.PathLike, pdf: str | os.PathLike | None = None) -> Path:
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


def label_datasets(
    labels_csv: str | os.PathLike, trajectories: Iterable[str], paper_only: bool = True
) -> list[xr.Dataset]:
    """The trajectory of each label of the manifest (``results/summary/labels.csv``).

    A trajectory may be a shared point (one cell, uncoupled cells, an
    isomorphic graph); each copy is relabelled with its label's geometry, J
    and gamma12. Per-cell and per-link arrays are not remapped: the panels
    draw totals and link means, which the isomorphism keeps. Every file must
    be among ``trajectories`` (the rule's input).
    """
    results = Path(labels_csv).parent.parent
    manifest = pd.read_csv(labels_csv)
    if paper_only:
        manifest = manifest[manifest["paper"].astype(str).str.lower().isin(["true", "1"])]
    given = {Path(t).resolve() for t in trajectories}
    datasets = []
    for row in manifest.itertuples(index=False):
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


def check_half_lives(datasets: Datasets, table: pd.DataFrame) -> list[str]:
    """Each dataset's ``ergotropy_half_life`` equals the summary table's, per state.

    Returns one line per state (for the log); raises ``ValueError`` on a
    mismatch (beyond 1e-9) or a row that is missing or repeated.
    """
    lines = []
    for ds in _as_list(datasets):
        point = _point(ds)
        rows = _filter(table, **point)
        for state in ds["state"].values:
            drawn = float(ds["ergotropy_half_life"].sel(state=state))
            listed = rows.loc[rows["state"] == state, "ergotropy_half_life"].astype(float)
            if len(listed) != 1:
                raise ValueError(f"the table has {len(listed)} rows for {point}, state {state}")
            value = float(listed.iloc[0])
            same = (np.isnan(drawn) and np.isnan(value)) or abs(drawn - value) <= 1e-9
            lines.append(f"{point} {state}: half-life {drawn!r}, table {value!r}")
            if not same:
                raise ValueError(f"half-life of {point}, {state}: {drawn} drawn, {value} listed")
    return lines


def paper_figure_job(panel, trajectories, labels, half_lives, png, pdf, log) -> None:
    """Rule ``paper_figure``: one paper panel from the paper labels' trajectories.

    The half-lives of the drawn datasets are checked against the summary
    table ``half_lives`` first (fig2a and phase_damping draw them).
    """
    with _job_log(log, f"paper figure {panel}") as out:
        criteria = PAPER_POINTS[panel][0]
        datasets = select(label_datasets(labels, trajectories), physical=True, **criteria)
        for line in check_half_lives(datasets, pd.read_csv(half_lives)):
            out.write(line + "\n")
        stem = _stem(png, pdf)
        paper_panel(panel, datasets, stem)
        out.write(f"{panel}: {len(datasets)} trajectories -> {stem}.png, {stem}.pdf\n")


def grid_rows(table: pd.DataFrame, grid: Mapping) -> pd.DataFrame:
    """The rows of a summary table whose label lies on the config's grid.

    The tables also list the paper's own points; the sweep figures show the
    grid only. Floats compared to 1e-9.
    """
    return _filter(
        table,
        channel=list(grid["channel"]),
        n_cells=[int(n) for n in grid["n_cells"]],
        geometry=list(grid["geometry"]),
        J=[float(v) for v in grid["J"]],
        gamma12=[float(v) for v in grid["gamma12"]],
    )


SWEEP_FIGURES = {
    "half_life_map": half_life_heatmap,
    "half_life_vs_n": half_life_vs_n,
    "xi0_vs_n": xi0_vs_n,
}


#: Figure wildcards that are names; ``n_cells`` is an integer and every other
#: one (``J``, ``gamma12``, any further grid axis) a number.
TEXT_FACETS = ("channel", "geometry")


def facet_values(facet: Mapping[str, str]) -> dict:
    """A figure rule's wildcards (text) as the figure function's keyword arguments.

    ``{"channel": "relaxation", "n_cells": "3", "J": "1e-07"}`` gives
    ``{"channel": "relaxation", "n_cells": 3, "J": 1e-07}``. Raises
    ``ValueError`` naming the wildcard when a value does not parse.
    """
    kwargs = {}
    for key, value in facet.items():
        if key in TEXT_FACETS:
            kwargs[key] = str(value)
            continue
        kind = int if key == "n_cells" else float
        try:
            kwargs[key] = kind(value)
        except (TypeError, ValueError):
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"figure wildcard {key}={value!r} is not {what}") from None
    return kwargs


def sweep_figure_job(kind, table, png, pdf, log, grid, **facet) -> None:
    """Rules ``half_life_map``, ``half_life_vs_n``, ``xi0_vs_n``: one sweep figure.

    ``facet`` holds the wildcards (``channel``, ``n_cells``, ``J`` as text);
    see :func:`facet_values`.
    """
    with _job_log(log, f"sweep figure {kind}") as out:
        frame = grid_rows(pd.read_csv(table), grid)
        kwargs = facet_values(facet)
        stem = _stem(png, pdf)
        SWEEP_FIGURES[kind](frame, stem, **kwargs)
        out.write(f"{kind} {kwargs}: {len(frame)} grid rows -> {stem}.png, {stem}.pdf\n")


def large_n_rows(table: pd.DataFrame, large_n: Mapping, channel: str) -> pd.DataFrame:
    """The rows of the large-N figure: every symmetric label at large_n's couplings.

    The config's ``large_n`` labels and the grid's (and the paper's) symmetric
    labels of the same channel, J and gamma12, so the curves run from N = 1.
    """
    return _filter(
        table,
        channel=channel,
        geometry=LARGE_N_GEOMETRY,
        J=[float(v) for v in large_n["J"]],
        gamma12=[float(v) for v in large_n["gamma12"]],
    )


def large_n_figure_job(table, png, pdf, log, large_n, channel) -> None:
    """Rule ``large_n_scaling``: half-life, quantum advantage and xi(0) versus N (log axis)."""
    with _job_log(log, f"large-N figure {channel}") as out:
        frame = large_n_rows(pd.read_csv(table), large_n, channel)
        stem = _stem(png, pdf)
        large_n_scaling(frame, stem, channel=channel, geometry=LARGE_N_GEOMETRY)
        sizes = sorted({int(n) for n in frame["n_cells"]})
        out.write(
            f"large_n_scaling {channel}: {len(frame)} rows, N = {sizes} -> "
            f"{stem}.png, {stem}.pdf\n"
        )


def table_html_job(table, html, log, title="") -> None:
    """Rule ``summary_table_html``: a summary CSV as an HTML page of the report."""
    with _job_log(log, f"table {table}") as out:
        frame = pd.read_csv(table)
        with atomic_path(html) as tmp:
            tmp.write_text(table_html(frame, title=title or str(table)), encoding="utf-8")
        out.write(f"{table}: {len(frame)} rows -> {html}\n")
