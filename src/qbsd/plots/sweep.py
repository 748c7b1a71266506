"""Sweep figures from a summary table: half-life versus N, xi(0) versus N, large N.

Each takes a summary :class:`pandas.DataFrame` (the columns of
``qbsd.summaries.summarize``, the README's "Analysing results") and filters
it by keyword; only clean labels are drawn, with one bath occupation per
channel that has one (:func:`qbsd.plots.data.label_axes_rows`). The
half-life maps are in :mod:`qbsd.plots.maps`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import style
from .common import (
    Stem,
    censored_handle,
    censored_marker,
    channel_text,
    couplings_text,
    finish,
    fmt,
    integer_axis,
    log_n_axis,
    quantity_label,
    rate,
    state_handles,
    state_series,
    top_of,
)
from .data import (
    censored,
    clean_rows,
    filter_rows,
    geometries,
    label_axes_rows,
    states_present,
    unique_value,
)


def _combos(frame: pd.DataFrame) -> list[tuple[float, float]]:
    """The (J, gamma12) pairs of ``frame``, sorted."""
    return sorted(
        {(float(a), float(b)) for a, b in zip(frame["J"], frame["gamma12"], strict=True)}
    )


def _row_note(ax, combos, j_value: float, g_value: float) -> None:
    """The couplings of a row of panels, right of its last panel."""
    one_j = len({j for j, _ in combos}) == 1
    ax.annotate(
        rf"$\Gamma_{{12}} = {rate(g_value)}$"
        if one_j
        else couplings_text(j_value, g_value, sep="\n"),
        xy=(1.04, 0.5),
        xycoords="axes fraction",
        ha="left",
        va="center",
        fontsize=7,
    )


@style.styled
def half_life_vs_n(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str | None = None,
    J: float | None = None,
    gamma12: float | None = None,
    n_th: float | None = None,
    quantity: str = "ergotropy_half_life",
    states: Sequence[str] = ("classical", "quantum"),
) -> Figure:
    """Half-life versus N: one column per geometry, one row per (J, gamma12).

    One line per initial state; a half-life not reached within t_max is an
    open triangle at the top of its panel. ``channel``, ``J``, ``gamma12``
    and ``n_th`` (a channel with a bath) filter the table (``channel`` may be
    left out when the table holds one).
    """
    fn = "half_life_vs_n"
    channel = unique_value(frame, "channel", channel, fn)
    sub = filter_rows(frame, channel=channel, J=J, gamma12=gamma12)
    if sub.empty:
        raise ValueError(f"{fn}: no rows for channel={channel!r}, J={J}, gamma12={gamma12}")
    sub = label_axes_rows(sub, fn, n_th=n_th)
    geometry_list, combos = geometries(sub), _combos(sub)
    states = states_present(sub, states)
    n_rows, n_cols = len(combos), len(geometry_list)
    fig = style.new_figure(min(style.PAGE_WIDTH, 0.6 + 1.65 * n_cols), 1.0 + 1.35 * n_rows)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey=True)
    any_censored = False
    for r, (j_value, g_value) in enumerate(combos):
        for c, geometry in enumerate(geometry_list):
            ax = axes[r, c]
            for state in states:
                rows = filter_rows(sub, J=j_value, gamma12=g_value, geometry=geometry, state=state)
                any_censored |= state_series(ax, rows, "n_cells", quantity, state)
            if r == 0:
                ax.set_title(geometry)
            if c == n_cols - 1 and n_rows > 1:
                _row_note(ax, combos, j_value, g_value)
            integer_axis(ax)
    axes[0, 0].set_ylim(0, top_of(sub[quantity]))
    for ax in axes[-1, :]:
        ax.set_xlabel("cells $N$")
    fig.supylabel(quantity_label(quantity), fontsize=mpl.rcParams["axes.labelsize"])
    fig.suptitle(_vs_n_title(channel, combos, sub))
    handles = state_handles(states) + ([censored_handle()] if any_censored else [])
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return finish(fig, stem)


def _vs_n_title(channel: str, combos, sub: pd.DataFrame) -> str:
    title = channel_text(channel)
    if "n_th" in sub.columns and sub["n_th"].nunique() == 1 and float(sub["n_th"].iloc[0]) > 0:
        title += rf", $n_{{\rm th}} = {fmt(float(sub['n_th'].iloc[0]))}$"
    if len(combos) == 1:
        title += ", " + couplings_text(*combos[0])
    elif len({j for j, _ in combos}) == 1:
        title += rf", $J = {rate(combos[0][0])}$"
    return title


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

    Product initial states make both independent of channel, geometry,
    couplings and bath: every clean row of one state and N is drawn (median
    marker, with the min-max spread as an error bar, invisible when the rows
    agree). The second panel is drawn when the table has
    ``dead_energy_per_cell`` (the ``xi0_scaling`` summary table).
    ``criteria`` filter the table (e.g. ``channel="relaxation"``).
    """
    sub = filter_rows(clean_rows(frame), **criteria)
    if sub.empty:
        raise ValueError(f"xi0_vs_n: no rows for {criteria}")
    states = states_present(sub, states)
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
            ax.errorbar(
                n,
                mid,
                yerr=np.abs(spread.T - mid),
                color=style.state_color(state),
                ls=style.state_linestyle(state),
                marker=style.state_marker(state),
                capsize=2,
                label=state,
            )
        ax.set_xlabel("cells $N$")
        ax.set_ylabel(label)
        integer_axis(ax)
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(0.0, lo), max(hi, 0.05) * 1.1 if column != "xi0" else 1.1)
    axes[0].legend(loc="lower right")
    if len(panels) > 1:
        for ax, letter in zip(axes, "ab", strict=False):
            ax.set_title(f"({letter})", loc="left")
    return finish(fig, stem)


_MARKERS = ["o", "s", "D", "v", "P", "X"]
_LINESTYLES = ["-", "--", ":", "-."]


def _large_n_combo(axes, combo_rows, k: int, n_combos: int, states, quantity) -> tuple:
    """The lines of one (J, gamma12): half-life, ratio and xi(0) against N."""
    series, any_censored = {}, False
    marker = _MARKERS[k % len(_MARKERS)]
    ls = _LINESTYLES[k % len(_LINESTYLES)] if n_combos > 1 else "-"
    for state in states:
        rows = combo_rows[combo_rows["state"] == state].sort_values("n_cells")
        rows = rows.drop_duplicates("n_cells")
        n = rows["n_cells"].to_numpy()
        flags = censored(rows, quantity)
        y = np.where(flags, np.nan, rows[quantity].astype(float).to_numpy())
        series[state] = pd.Series(y, index=n)
        color = style.state_color(state)
        m = marker if n_combos > 1 else style.state_marker(state)
        axes[0].plot(n, y, color=color, marker=m, ls=ls, ms=3.5)
        if flags.any():
            any_censored = True
            censored_marker(axes[0], n[flags], color)
        axes[2].plot(n, rows["xi0"].astype(float), color=color, marker=m, ls=ls, ms=3.5)
    cl, qu = states if len(states) == 2 else (None, None)
    if cl in series and qu in series:
        ratio = (series[qu] / series[cl]).dropna()
        axes[1].plot(ratio.index, ratio.to_numpy(), color="black", marker=marker, ls=ls, ms=3.5)
    handle = Line2D([], [], color="0.35", marker=marker, ls=ls, ms=3.5)
    return handle, any_censored


@style.styled
def large_n_scaling(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str | None = "relaxation",
    geometry: str | None = "symmetric",
    J: float | None = None,
    gamma12: float | None = None,
    n_th: float | None = None,
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
    sub = filter_rows(frame, channel=channel, geometry=geometry, J=J, gamma12=gamma12)
    if sub.empty:
        raise ValueError(
            f"{fn}: no rows for channel={channel!r}, geometry={geometry!r}, "
            f"J={J}, gamma12={gamma12}"
        )
    channel = unique_value(sub, "channel", channel, fn)
    geometry = unique_value(sub, "geometry", geometry, fn)
    sub = label_axes_rows(sub, fn, n_th=n_th)
    combos, present = _combos(sub), states_present(sub, states)
    fig = style.new_figure(style.PAGE_WIDTH, 2.5)
    axes = fig.subplots(1, 3)
    handles, any_censored = [], False
    for k, (j_value, g_value) in enumerate(combos):
        combo_rows = filter_rows(sub, J=j_value, gamma12=g_value)
        handle, flagged = _large_n_combo(axes, combo_rows, k, len(combos), present, quantity)
        any_censored |= flagged
        handle.set_label(couplings_text(j_value, g_value))
        handles.append(handle)
    handles = state_handles(present, marker=len(combos) == 1) + (
        handles if len(combos) > 1 else []
    )
    _large_n_axes(axes, sub, quantity, states)
    title = f"{geometry}, {channel_text(channel)}"
    if len(combos) == 1:
        title += ", " + couplings_text(*combos[0])
    fig.suptitle(title)
    if any_censored:
        handles.append(censored_handle())
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5))
    return finish(fig, stem)


def _large_n_axes(axes, sub: pd.DataFrame, quantity: str, states) -> None:
    cl, qu = states
    axes[0].set_ylim(0, top_of(sub[quantity]))
    axes[0].set_ylabel(quantity_label(quantity))
    axes[1].axhline(1.0, color="0.6", lw=0.6, ls=":")
    axes[1].set_ylabel(
        rf"quantum advantage $\tau^{{\rm {qu[:2]}}}_{{1/2}}/\tau^{{\rm {cl[:2]}}}_{{1/2}}$"
    )
    axes[2].set_ylabel(r"initial efficiency $\xi(0)$")
    axes[2].set_ylim(0, 1.1)
    for ax, letter in zip(axes, "abc", strict=True):
        log_n_axis(ax, sub["n_cells"].to_numpy())
        ax.set_title(f"({letter})", loc="left")
