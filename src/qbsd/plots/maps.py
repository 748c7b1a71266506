"""Half-life maps over (J, gamma12) from a summary table: classical | quantum | ratio."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, NullLocator

from . import style
from .common import CENSORED_NOTE, Stem, channel_text, finish, fmt, fmt3, quantity_label
from .data import (
    censored,
    filter_rows,
    geometries,
    label_axes_rows,
    same_value,
    unique_value,
)

#: Text of a cell whose half-life is not reached within t_max.
NOT_REACHED = "n.r."


def _grid(frame, quantity, x_values, y_values, x="J", y="gamma12"):
    """values, censored and missing masks over (y, x), one row per cell at most."""
    shape = (len(y_values), len(x_values))
    values = np.full(shape, np.nan)
    flags_grid = np.zeros(shape, dtype=bool)
    missing = np.ones(shape, dtype=bool)
    flags = censored(frame, quantity)
    for (_, row), flag in zip(frame.iterrows(), flags, strict=True):
        i = _index(y_values, row[y])
        j = _index(x_values, row[x])
        values[i, j] = row[quantity]
        flags_grid[i, j] = flag
        missing[i, j] = False
    return values, flags_grid, missing


def _index(values: Sequence[float], value: float) -> int:
    for i, v in enumerate(values):
        if same_value(v, value):
            return i
    raise KeyError(value)


def _text_color(cmap, norm, value) -> str:
    r, g, b, _ = cmap(norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _censored_cell(ax, i: int, j: int, text: str) -> None:
    """A hatched grey cell with its text on a white box."""
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
    box = {"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85}
    ax.text(j, i, text, ha="center", va="center", fontsize=6.5, color="black", bbox=box)


def _heat(ax, values, flags, missing, cmap, norm, censored_text):
    """One heatmap: colour cells, annotate values, hatch censored cells."""
    ny, nx = values.shape
    shown = np.ma.masked_invalid(np.where(flags | missing, np.nan, values))
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
            elif flags[i, j]:
                text = censored_text(i, j) if callable(censored_text) else censored_text
                _censored_cell(ax, i, j, text)
            elif np.isfinite(values[i, j]):
                color = _text_color(cmap, norm, values[i, j])
                ax.text(
                    j, i, fmt3(values[i, j]), ha="center", va="center", fontsize=6.5, color=color
                )
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    ax.minorticks_off()
    ax.tick_params(which="both", top=False, right=False, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return mesh


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


def _ratio_text(cc, cq):
    """Text of a ratio cell with a censored side: a bound, or n.r. when both are."""

    def text(i, j):
        # one side censored: tau > t_max >= the other side, a bound on the ratio
        if cc[i, j] and cq[i, j]:
            return NOT_REACHED
        return "< 1" if cc[i, j] else "> 1"

    return text


def _sequential_norm(grids: dict) -> mpl.colors.Normalize:
    """One colour scale over every reached half-life of every panel."""
    finite = [g[0][~(g[1] | g[2])] for g in grids.values()]
    finite = np.concatenate(finite) if finite else np.array([])
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        finite = np.array([0.0, 1.0])
    vmin, vmax = float(finite.min()), float(finite.max())
    if vmax - vmin < 1e-12:
        vmin, vmax = vmin - 0.05 * abs(vmin or 1), vmax + 0.05 * abs(vmax or 1)
    return mpl.colors.Normalize(vmin, vmax)


def _ratios(grids: dict, geometry_list: Sequence[str], cl: str, qu: str):
    """Per geometry: (ratio, censored, missing, classical censored, quantum censored)."""
    ratios = {}
    for geometry in geometry_list:
        vc, cc, mc = grids[geometry, cl]
        vq, cq, mq = grids[geometry, qu]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios[geometry] = (vq / vc, cc | cq, mc | mq, cc, cq)
    return ratios


def _ratio_norm(ratios: dict) -> tuple[mpl.colors.LogNorm, float]:
    """A logarithmic scale symmetric about 1 covering every drawn ratio."""
    logs = [np.abs(np.log(r[0][~(r[1] | r[2])])) for r in ratios.values()]
    logs = np.concatenate(logs) if logs else np.array([])
    logs = logs[np.isfinite(logs)]
    span = max(float(logs.max()) if logs.size else 0.0, math.log(1.05))
    return mpl.colors.LogNorm(math.exp(-span), math.exp(span)), span


def _legend(fig: Figure, any_censored: bool, any_missing: bool) -> None:
    handles = []
    if any_censored:
        handles.append(
            Patch(
                facecolor=style.CENSORED_FACE,
                edgecolor=style.CENSORED_EDGE,
                hatch=style.CENSORED_HATCH,
                label=f"{NOT_REACHED}: half-life {CENSORED_NOTE}; a ratio with one side "
                f"{NOT_REACHED} is a bound",
            )
        )
    if any_missing:
        handles.append(Line2D([], [], ls="none", marker="$–$", color="0.4", label="not in table"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))


def _draw_rows(axes, grids, ratios, geometry_list, states, n_cells) -> tuple:
    """Every row of panels; the two meshes (for the colour bars) and what was marked."""
    seq_cmap = mpl.colormaps[style.SEQUENTIAL_CMAP]
    div_cmap = mpl.colormaps[style.DIVERGING_CMAP]
    seq_norm = _sequential_norm(grids)
    div_norm, span = _ratio_norm(ratios)
    seq_mesh = div_mesh = None
    any_censored = any_missing = False
    for r, geometry in enumerate(geometry_list):
        for c, state in enumerate(states):
            values, flags, missing = grids[geometry, state]
            any_censored |= bool(flags.any())
            any_missing |= bool(missing.any())
            seq_mesh = _heat(axes[r, c], values, flags, missing, seq_cmap, seq_norm, NOT_REACHED)
        ratio, flags, missing, cc, cq = ratios[geometry]
        any_censored |= bool(flags.any())
        div_mesh = _heat(
            axes[r, 2], ratio, flags, missing, div_cmap, div_norm, _ratio_text(cc, cq)
        )
        row_label = "every geometry" if n_cells <= 2 else geometry
        axes[r, 0].set_ylabel(f"{row_label}\n" + r"$\Gamma_{12}$ ($\Gamma$)")
    return seq_mesh, div_mesh, span, any_censored, any_missing


@style.styled
def half_life_heatmap(
    frame: pd.DataFrame,
    stem: Stem = None,
    *,
    channel: str | None = None,
    n_cells: int | None = None,
    n_th: float | None = None,
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
    unphysical). ``channel``, ``n_cells`` and (for a channel with a bath)
    ``n_th`` select the facet; they may be left out when the table holds
    one value. Only clean labels (no disorder) are drawn.
    """
    fn = "half_life_heatmap"
    channel = unique_value(frame, "channel", channel, fn)
    n_cells = int(unique_value(filter_rows(frame, channel=channel), "n_cells", n_cells, fn))
    sub = filter_rows(frame, channel=channel, n_cells=n_cells)
    if sub.empty:
        raise ValueError(f"{fn}: no rows for channel={channel!r}, n_cells={n_cells}")
    sub = label_axes_rows(sub, fn, n_th=n_th)
    geometry_list = geometries(sub)
    if n_cells <= 2:  # one or two cells: every geometry is the same system, draw it once
        geometry_list = geometry_list[:1]
    js = sorted(sub["J"].astype(float).unique())
    gs = sorted(sub["gamma12"].astype(float).unique())
    grids = {}
    for geometry in geometry_list:
        for state in states:
            rows = filter_rows(sub, geometry=geometry, state=state)
            grids[geometry, state] = _grid(
                rows.drop_duplicates(["J", "gamma12"]), quantity, js, gs
            )
    ratios = _ratios(grids, geometry_list, *states)
    fig = style.new_figure(style.PAGE_WIDTH, 0.7 + 1.3 * len(geometry_list))
    axes = fig.subplots(len(geometry_list), 3, squeeze=False, sharex=True, sharey=True)
    seq_mesh, div_mesh, span, any_censored, any_missing = _draw_rows(
        axes, grids, ratios, geometry_list, states, n_cells
    )
    _decorate(fig, axes, (seq_mesh, div_mesh, span), js, gs, quantity, states)
    title = quantity_label(quantity).split(" (")[0]
    where = f"{channel_text(channel)}, $N = {n_cells}$"
    if "n_th" in sub.columns and sub["n_th"].nunique() == 1 and float(sub["n_th"].iloc[0]) > 0:
        where += rf", $n_{{\rm th}} = {fmt(float(sub['n_th'].iloc[0]))}$"
    fig.suptitle(f"{title[0].upper()}{title[1:]}: {where}")
    _legend(fig, any_censored, any_missing)
    return finish(fig, stem)


def _decorate(fig, axes, meshes, js, gs, quantity, states) -> None:
    """Column titles, tick labels and the two colour bars."""
    seq_mesh, div_mesh, span = meshes
    cl, qu = states
    symbol = {"ergotropy_half_life": r"\tau_{1/2}"}.get(quantity, r"\tau")
    titles = [
        rf"{cl}: $\Gamma{symbol}$",
        rf"{qu}: $\Gamma{symbol}$",
        rf"quantum advantage ${symbol}^{{\rm {qu[:2]}}}/{symbol}^{{\rm {cl[:2]}}}$",
    ]
    for c in range(3):
        axes[0, c].set_title(titles[c])
        axes[-1, c].set_xlabel(r"$J$ ($\Gamma$)")
    for ax in axes.flat:
        ax.set_xticks(range(len(js)), [fmt(v) for v in js])
        ax.set_yticks(range(len(gs)), [fmt(v) for v in gs])
    label = quantity_label(quantity)
    fig.colorbar(seq_mesh, ax=axes[:, :2], location="right", label=label, shrink=0.9, pad=0.02)
    bar = fig.colorbar(div_mesh, ax=axes[:, 2], location="right", shrink=0.9, pad=0.04)
    bar.set_label(rf"${symbol}^{{\rm {qu[:2]}}}/{symbol}^{{\rm {cl[:2]}}}$ (log scale)")
    _ratio_ticks(bar, span)
