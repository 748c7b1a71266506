"""Figures beyond the paper: thermal bath, depolarizing noise, the equal-ergotropy
family, the ergotropy split, entangled and dark states, disorder.

Their labels are the sets of :mod:`qbsd.extensions` (config key
``extension_figures``). Like the sweep figures, the table figures take a
summary :class:`pandas.DataFrame` and pick their rows by keyword (clean
labels unless the figure shows disorder); the trajectory figures take
datasets. A half-life not reached within t_max is an open triangle at the
top of its panel, named in the legend, never a number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullLocator

from ..extensions import ENTANGLED_CHANNELS, ENTANGLED_STATES
from ..model.states import parse_state
from ..points import PAPER_GAMMA12, PAPER_J
from ..realisations import AVERAGE_SUFFIX, DIM
from . import style
from .common import (
    CENSORED_NOTE,
    Stem,
    censored_handle,
    censored_marker,
    channel_text,
    couplings_text,
    describe,
    finish,
    quantity_label,
    rate,
    state_handles,
    state_series,
    time_axis,
    top_of,
)
from .data import (
    Datasets,
    by_geometry,
    censored,
    clean_rows,
    filter_rows,
    geometries,
    label_axes_rows,
    point,
    state_of,
    states_present,
    with_label_axes,
)
from .paper import fig4b

PRODUCT_STATES = ("classical", "quantum")
NOT_REACHED = "not reached"
FAMILY = "equal_ergotropy"
DISORDER_LABEL = r"local-field disorder $W$ ($\Gamma$)"


def _rows(frame: pd.DataFrame, figure: str, **criteria) -> pd.DataFrame:
    rows = filter_rows(with_label_axes(frame), **criteria)
    if rows.empty:
        shown = ", ".join(f"{k}={v}" for k, v in criteria.items() if v is not None)
        raise ValueError(f"{figure}: no rows for {shown}")
    return rows


def _point_title(channel: str, n_cells: int, J: float, gamma12: float) -> str:
    return f"{channel_text(channel)}, $N = {n_cells}$, {couplings_text(J, gamma12)}"


def _geometry_axes(fig: Figure, geometry_list: Sequence[str], xlabel: str, ylabel: str):
    """One panel per geometry in a row, sharing the y axis, titled by geometry."""
    axes = fig.subplots(1, len(geometry_list), squeeze=False, sharex=True, sharey=True)[0]
    for ax, geometry in zip(axes, geometry_list, strict=True):
        ax.set_title(geometry)
        ax.set_xlabel(xlabel)
    axes[0].set_ylabel(ylabel)
    return axes


def _legend_below(fig: Figure, handles: list) -> None:
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4))


# ----------------------------------------------------------------------------
# thermal bath: half-life against n_th


@style.styled
def thermal_half_life_vs_nth(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str = "thermal",
    n_cells: int = 5,
    J: float = PAPER_J,
    gamma12: float = PAPER_GAMMA12,
    quantity: str = "ergotropy_half_life",
    states: Sequence[str] = PRODUCT_STATES,
) -> Figure:
    """Half-life against the bath occupation n_th, one panel per geometry.

    One line per initial state (classical against quantum); clean labels of
    ``channel`` at ``n_cells``, ``J``, ``gamma12``, every n_th the table holds.
    """
    fn = "thermal_half_life_vs_nth"
    rows = _rows(frame, fn, channel=channel, n_cells=n_cells, J=J, gamma12=gamma12)
    rows = label_axes_rows(rows, fn, shown=("n_th",))
    geometry_list, states = geometries(rows), states_present(rows, states)
    fig = style.new_figure(style.PAGE_WIDTH, 2.5)
    axes = _geometry_axes(
        fig, geometry_list, r"bath occupation $n_{\rm th}$", quantity_label(quantity)
    )
    any_censored = False
    for ax, geometry in zip(axes, geometry_list, strict=True):
        for state in states:
            one_state = filter_rows(rows, geometry=geometry, state=state)
            any_censored |= state_series(ax, one_state, "n_th", quantity, state)
    axes[0].set_ylim(0, top_of(rows[quantity]))
    fig.suptitle(_point_title(channel, n_cells, J, gamma12))
    _legend_below(fig, state_handles(states) + ([censored_handle()] if any_censored else []))
    return finish(fig, stem)


# ----------------------------------------------------------------------------
# depolarizing noise: the counterpart of the paper's Fig. 4b


@style.styled
def depolarizing_fig4b(datasets: Datasets, stem: Stem = None, *, t_max: float = 2.0) -> Figure:
    """xi(t) per geometry under depolarizing noise: quantum state (main), classical (inset).

    The drawing of the paper's Fig. 4b (:func:`qbsd.plots.fig4b`), its
    inset fitted to the classical curves.
    """
    return fig4b(datasets, stem, t_max=t_max, inset_ylim=None, panel="depolarizing_fig4b")


# ----------------------------------------------------------------------------
# the equal-ergotropy family: half-life against the coherence c


def family_coherence(state: str) -> float | None:
    """The coherence c of an ``equal_ergotropy:<c>`` state (None for any other state)."""
    name = state.partition(":")[0]
    return parse_state(state).value if name == FAMILY else None


def _family_rows(rows: pd.DataFrame) -> pd.DataFrame:
    c = rows["state"].map(lambda s: family_coherence(str(s)))
    return rows.assign(c=c)[c.notna().to_numpy()]


@style.styled
def equal_ergotropy_crossover(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str = "relaxation",
    n_cells: int = 5,
    J: float = PAPER_J,
    gamma12: float = PAPER_GAMMA12,
    quantity: str = "ergotropy_half_life",
) -> Figure:
    """Half-life against c for the family ``equal_ergotropy:<c>`` (E(0) = N/2 for every c).

    (a) the half-life, one line per geometry; (b) the same over its value at
    c = 0 (the classical state): the quantum advantage grows with the
    coherence of the charge. The ``classical`` and ``quantum`` rows, where
    the table has them, are open markers at c = 0 and 1 (the family's ends).
    """
    fn = "equal_ergotropy_crossover"
    rows = _rows(frame, fn, channel=channel, n_cells=n_cells, J=J, gamma12=gamma12)
    rows = label_axes_rows(rows, fn)
    family = _family_rows(rows)
    if family.empty:
        raise ValueError(f"{fn}: the table has no {FAMILY}:<c> states for these labels")
    fig = style.new_figure(style.PAGE_WIDTH, 2.7)
    axes = fig.subplots(1, 2)
    handles, any_censored = [], False
    for i, geometry in enumerate(geometries(family)):
        one_geometry = filter_rows(family, geometry=geometry).sort_values("c")
        any_censored |= _family_lines(axes, one_geometry, geometry, i, quantity)
        _family_ends(axes[0], filter_rows(rows, geometry=geometry), quantity)
        handles.append(_geometry_handle(geometry, i))
    axes[0].set_ylim(0, top_of(rows[quantity]))
    axes[0].set_ylabel(quantity_label(quantity))
    axes[1].axhline(1.0, color="0.6", lw=0.6, ls=":")
    axes[1].set_ylabel(r"$\tau_{1/2}(c)/\tau_{1/2}(0)$")
    for ax, letter in zip(axes, "ab", strict=True):
        ax.set_xlabel(r"coherence $c$ (0: classical, 1: quantum)")
        ax.set_xlim(-0.05, 1.05)
        ax.set_title(f"({letter})", loc="left")
    fig.suptitle(f"equal-ergotropy states, {_point_title(channel, n_cells, J, gamma12)}")
    present = states_present(rows, PRODUCT_STATES)
    ends = [
        Line2D([], [], ls="none", marker=style.state_marker(s), mfc="white", ms=6,
               mec=style.state_color(s), label=f"{s} state")
        for s in present
    ]  # fmt: skip
    handles += ends + ([censored_handle()] if any_censored else [])
    _legend_below(fig, handles)
    return finish(fig, stem)


def _geometry_handle(geometry: str, index: int) -> Line2D:
    return Line2D(
        [],
        [],
        color=style.geometry_color(geometry, index),
        ls=style.geometry_linestyle(geometry),
        marker="o",
        ms=3,
        label=geometry,
    )


def _family_lines(axes, rows: pd.DataFrame, geometry: str, index: int, quantity: str) -> bool:
    """Half-life and its ratio to c = 0 against c for one geometry; whether any is censored."""
    c = rows["c"].to_numpy(float)
    flags = censored(rows, quantity)
    tau = np.where(flags, np.nan, rows[quantity].to_numpy(float))
    line = {
        "color": style.geometry_color(geometry, index),
        "ls": style.geometry_linestyle(geometry),
        "marker": "o",
        "ms": 3,
    }
    axes[0].plot(c, tau, **line)
    if flags.any():
        censored_marker(axes[0], c[flags], line["color"])
    base = tau[np.isclose(c, 0.0)]
    if base.size and np.isfinite(base[0]) and base[0] > 0:
        axes[1].plot(c, tau / base[0], **line)
    return bool(flags.any())


def _family_ends(ax, rows: pd.DataFrame, quantity: str) -> None:
    """The classical and quantum rows as open markers at c = 0 and c = 1."""
    for state, c in (("classical", 0.0), ("quantum", 1.0)):
        one_state = rows[rows["state"] == state]
        if one_state.empty or censored(one_state, quantity)[0]:
            continue
        ax.plot(
            [c],
            [float(one_state[quantity].iloc[0])],
            ls="none",
            marker=style.state_marker(state),
            mfc="none",
            ms=6,
            mec=style.state_color(state),
            zorder=3,
        )


# ----------------------------------------------------------------------------
# the ergotropy split: E, E_i and E_c against time


def _series(one_state: xr.Dataset, name: str) -> np.ndarray:
    """A time series; its realisation average for a disordered trajectory."""
    if DIM in one_state.dims and f"{name}{AVERAGE_SUFFIX}" in one_state:
        return one_state[f"{name}{AVERAGE_SUFFIX}"].values
    return one_state[name].values


@style.styled
def ergotropy_split(
    datasets: Datasets, stem: Stem = None, *, state: str = "quantum", t_max: float | None = 2.5
) -> Figure:
    """E, its incoherent part E_i and its coherent part E_c = E - E_i against time.

    One panel per geometry (the paper's order), in hbar omega0, for one
    initial state of the given trajectories.
    """
    fn = "ergotropy_split"
    dss = by_geometry(datasets)
    if not dss:
        raise ValueError(f"{fn} needs at least one dataset")
    title, _ = describe([point(ds) for ds in dss], vary="geometry")
    fig = style.new_figure(style.PAGE_WIDTH, 2.5)
    geometry_list = [point(ds)["geometry"] for ds in dss]
    axes = _geometry_axes(
        fig, geometry_list, r"time $t$ ($1/\Gamma$)", r"ergotropy ($\hbar\omega_0$)"
    )
    for ax, ds in zip(axes, dss, strict=True):
        one_state = state_of(ds, state, fn)
        for name, (color, ls, label) in style.SPLIT_STYLES.items():
            ax.plot(ds["time"].values, _series(one_state, name), color=color, ls=ls, label=label)
        time_axis(ax, [ds], t_max)
    axes[0].set_ylim(bottom=0)
    fig.suptitle(f"{state} state, {title}")
    handles, _ = axes[0].get_legend_handles_labels()
    _legend_below(fig, handles)
    return finish(fig, stem)


# ----------------------------------------------------------------------------
# entangled against product states, and the dark singlet pairs


def _state_offsets(states: Sequence[str], width: float = 0.7) -> dict[str, float]:
    step = width / max(len(states), 1)
    return {s: (k - (len(states) - 1) / 2) * step for k, s in enumerate(states)}


def _categorical_points(ax, rows, categories, key, states, quantity) -> list[float]:
    """Half-lives of each state at each category (x = index + offset); censored on top.

    Returns the x positions of censored values.
    """
    offsets = _state_offsets(states)
    flagged = []
    for state in states:
        xs, ys, cens = [], [], []
        for i, category in enumerate(categories):
            one_row = filter_rows(rows, **{key: category}, state=state)
            if one_row.empty:
                continue
            x = i + offsets[state]
            if censored(one_row, quantity)[0]:
                cens.append(x)
            else:
                xs.append(x)
                ys.append(float(one_row[quantity].iloc[0]))
        color = style.state_color(state)
        ax.plot(xs, ys, ls="none", marker=style.state_marker(state), color=color, ms=4.5)
        if cens:
            censored_marker(ax, cens, color, ms=5)
        flagged += cens
    ax.set_xticks(range(len(categories)), [str(c) for c in categories], fontsize=6.5)
    ax.set_xlim(-0.6, len(categories) - 0.4)
    ax.xaxis.set_minor_locator(NullLocator())
    return flagged


@style.styled
def entangled_vs_product(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    dark: pd.DataFrame | None = None,
    n_cells: int = 4,
    J: float = PAPER_J,
    gamma12: float = PAPER_GAMMA12,
    channels: Sequence[str] = ENTANGLED_CHANNELS,
    states: Sequence[str] = ENTANGLED_STATES,
    quantity: str = "ergotropy_half_life",
) -> Figure:
    """Half-lives of product and entangled states, per geometry, one panel per channel.

    ``frame`` holds the labels at ``n_cells``, ``J``, ``gamma12``; ``dark``
    (optional) the rows of the last panel: the collectively dark singlet
    pairs (amplitude damping, symmetric, Gamma_12 = Gamma), against N. A
    half-life not reached within t_max is an open triangle at the top of its
    panel, labelled "not reached".
    """
    fn = "entangled_vs_product"
    rows = _rows(frame, fn, n_cells=n_cells, J=J, gamma12=gamma12)
    rows = label_axes_rows(rows, fn)
    states = states_present(rows, states)
    fig = style.new_figure(style.PAGE_WIDTH, 4.4)
    grid = fig.subplots(2, 3, squeeze=False)
    panels = list(grid.flat)
    for ax in panels[1 : len(channels)]:
        ax.sharey(panels[0])
    any_censored = False
    for ax, channel in zip(panels, channels, strict=False):
        one_channel = filter_rows(rows, channel=channel)
        geometry_list = geometries(one_channel) or list(style.GEOMETRY_ORDER)
        any_censored |= bool(
            _categorical_points(ax, one_channel, geometry_list, "geometry", states, quantity)
        )
        ax.set_title(channel_text(channel))
    panels[0].set_ylim(0, top_of(rows[quantity]))
    for ax in panels[: len(channels)]:
        ax.set_ylabel(quantity_label(quantity) if ax in grid[:, 0] else "")
    if dark is not None:
        any_censored |= _dark_panel(panels[len(channels)], dark, states, quantity)
    for ax in panels[len(channels) + (dark is not None) :]:
        ax.set_axis_off()
    fig.suptitle(rf"$N = {n_cells}$, {couplings_text(J, gamma12)}")
    handles = state_handles(states, lines=False)
    if any_censored:
        handles.append(censored_handle())
    _legend_below(fig, handles)
    return finish(fig, stem)


def _dark_panel(ax, dark: pd.DataFrame, states: Sequence[str], quantity: str) -> bool:
    """The dark-state labels against N, the censored half-lives annotated "not reached"."""
    rows = label_axes_rows(clean_rows(dark), "entangled_vs_product (dark)")
    sizes = sorted({int(n) for n in rows["n_cells"]})
    flagged = _categorical_points(ax, rows, sizes, "n_cells", states, quantity)
    for x in flagged:
        ax.annotate(
            NOT_REACHED,
            xy=(x, 0.96),
            xycoords=ax.get_xaxis_transform(),
            xytext=(0, -11),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=6,
            rotation=90,
        )
    ax.set_ylim(0, top_of(rows[quantity]))
    ax.set_xticks(range(len(sizes)), [f"$N = {n}$" for n in sizes])
    channel = str(rows["channel"].iloc[0]) if len(rows) else ""
    geometry = str(rows["geometry"].iloc[0]) if len(rows) else ""
    gamma12 = float(rows["gamma12"].iloc[0]) if len(rows) else 1.0
    ax.set_title(
        f"dark: {channel_text(channel)}, {geometry},\n" + rf"$\Gamma_{{12}} = {rate(gamma12)}$",
        fontsize=7.5,
    )
    return bool(flagged)


# ----------------------------------------------------------------------------
# disorder: half-life against W, mean and 10-90 % band over realisations


def disorder_series(
    statistics: pd.DataFrame, clean: pd.DataFrame | None, quantity: str
) -> pd.DataFrame:
    """One row per W of one label and state: mean, q10, q90 and what was not reached.

    ``statistics`` are rows of the ``disorder_statistics`` table
    (``<quantity>_{mean,q10,q90,n_censored}``); ``clean`` the clean label's
    row (W = 0), whose value stands for all three. A statistic is censored
    when it is NaN and some realisation did not reach the event; the mean is
    ``partial`` when it is over the realisations that reached it only.
    """
    out = []
    if clean is not None and len(clean):
        flag = bool(censored(clean.iloc[:1], quantity)[0])
        v = np.nan if flag else float(clean[quantity].iloc[0])
        out.append({"W": 0.0, "mean": v, "q10": v, "q90": v, "n_censored": int(flag)})
    for _, row in statistics.sort_values("W").iterrows():
        n_cens = row[f"{quantity}_n_censored"]
        out.append(
            {
                "W": float(row["W"]),
                **{k: float(row[f"{quantity}_{k}"]) for k in ("mean", "q10", "q90")},
                "n_censored": 0 if pd.isna(n_cens) else int(n_cens),
            }
        )
    series = pd.DataFrame(out, columns=["W", "mean", "q10", "q90", "n_censored"])
    some = series["n_censored"].to_numpy() > 0
    for k in ("mean", "q10", "q90"):
        series[f"{k}_censored"] = series[k].isna().to_numpy() & some
    series["partial"] = series["mean"].notna().to_numpy() & some
    return series


def _disorder_state(ax, series: pd.DataFrame, state: str) -> None:
    """Mean line, 10-90 % band, open markers for partial means and censored statistics."""
    color = style.state_color(state)
    w = series["W"].to_numpy(float)
    ax.fill_between(w, series["q10"], series["q90"], color=color, alpha=0.18, lw=0)
    marker = style.state_marker(state)
    ax.plot(w, series["mean"], color=color, ls=style.state_linestyle(state), marker=marker)
    partial = series["partial"].to_numpy()
    ax.plot(w[partial], series["mean"][partial], ls="none", marker=marker, mfc="white", mec=color)
    top = series["q90_censored"].to_numpy() | series["mean_censored"].to_numpy()
    if top.any():
        censored_marker(ax, w[top], color)


def _open_ends(ax, series: pd.DataFrame, state: str) -> None:
    """A dotted line from q10 up to the censored marker where q90 is not reached."""
    lo, hi = ax.get_ylim()
    for _, row in series[series["q90_censored"]].iterrows():
        start = lo if np.isnan(row["q10"]) else row["q10"]
        ax.plot(
            [row["W"]] * 2,
            [start, lo + 0.96 * (hi - lo)],
            color=style.state_color(state),
            ls=":",
            lw=0.9,
        )


def _disorder_legend(fig: Figure, states, any_partial: bool, any_censored: bool) -> None:
    handles = state_handles(states)
    handles.append(Patch(facecolor="0.6", alpha=0.35, label="10-90 % of realisations"))
    if any_partial:
        handles.append(
            Line2D([], [], ls="none", marker="o", mfc="white", mec="0.3",
                   label="mean of the realisations that reached it (some did not)")
        )  # fmt: skip
    if any_censored:
        handles.append(censored_handle(f"statistic {CENSORED_NOTE}"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2)


@style.styled
def disorder_half_life_vs_W(
    statistics: pd.DataFrame,
    stem: Stem = None,
    *,
    clean: pd.DataFrame | None = None,
    channel: str = "relaxation",
    n_cells: int = 5,
    J: float = PAPER_J,
    gamma12: float = PAPER_GAMMA12,
    W_J: float = 0.0,
    quantity: str = "ergotropy_half_life",
    states: Sequence[str] = PRODUCT_STATES,
) -> Figure:
    """Half-life against local-field disorder W: mean over realisations, 10-90 % band.

    ``statistics`` is the ``disorder_statistics`` table (W > 0); ``clean``
    (optional) a table with the clean labels (W = 0, e.g. ``half_lives``).
    One panel per geometry, classical against quantum. A quantile not
    reached within t_max is an open triangle at the top; a mean over only
    the realisations that reached the half-life is an open marker.
    """
    fn = "disorder_half_life_vs_W"
    where = {"channel": channel, "n_cells": n_cells, "J": J, "gamma12": gamma12}
    stats = label_axes_rows(_rows(statistics, fn, **where, W_J=W_J), fn, shown=("W",))
    base = None
    if clean is not None:
        base = label_axes_rows(filter_rows(clean_rows(clean), **where), fn)
    geometry_list, states = geometries(stats), states_present(stats, states)
    fig = style.new_figure(style.PAGE_WIDTH, 2.9)
    axes = _geometry_axes(fig, geometry_list, DISORDER_LABEL, quantity_label(quantity))
    drawn, flags = [], {"partial": False, "censored": False}
    for ax, geometry in zip(axes, geometry_list, strict=True):
        for state in states:
            picked = {"geometry": geometry, "state": state}
            series = disorder_series(
                filter_rows(stats, **picked),
                None if base is None else filter_rows(base, **picked),
                quantity,
            )
            _disorder_state(ax, series, state)
            drawn.append((ax, series, state))
            flags["partial"] |= bool(series["partial"].any())
            flags["censored"] |= bool(series[["mean_censored", "q90_censored"]].any(axis=None))
    values = np.concatenate(
        [s[["mean", "q10", "q90"]].to_numpy(float).ravel() for _, s, _ in drawn]
    )
    axes[0].set_ylim(0, top_of(values))
    for ax, series, state in drawn:
        _open_ends(ax, series, state)
    title = _point_title(channel, n_cells, J, gamma12)
    if W_J:
        title += rf", $W_J = {rate(W_J)}$"
    fig.suptitle(title)
    _disorder_legend(fig, states, flags["partial"], flags["censored"])
    return finish(fig, stem)
