"""Drawing helpers shared by the figure modules: labels, legends, censored markers.

Parameter text follows one convention everywhere: rates in units of Gamma
(``J = 2\\,Gamma``), channels with spaces, values without trailing zeros.
A half-life not reached within t_max is drawn as an open marker at the top
edge of its panel (:func:`censored_marker`) and named by ``CENSORED_NOTE``,
never as a number.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from . import style
from .data import censored, relevant

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
#: Axes-fraction height of the open markers of values not reached.
CENSORED_HEIGHT = 0.96
#: Headroom above the largest drawn value, so censored markers sit clear of it.
HEADROOM = 1.12


def quantity_label(quantity: str) -> str:
    """Axis label of a summary column (``ergotropy_half_life`` -> its words and units)."""
    return QUANTITY_LABELS.get(quantity, quantity.replace("_", " "))


def fmt(x: float) -> str:
    """A parameter value for labels: 2, 0.5, 0.25 (no trailing zeros)."""
    return f"{x:g}"


def fmt3(x: float) -> str:
    """A value inside a heatmap cell: three decimals below 10, one above."""
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


def rate(x: float) -> str:
    """A rate in units of Gamma for mathtext: 0, Gamma, 2\\,Gamma, 0.5\\,Gamma."""
    if x == 0:
        return "0"
    return r"\Gamma" if x == 1 else rf"{fmt(x)}\,\Gamma"


def couplings_text(J: float, gamma12: float, sep: str = ", ") -> str:
    """``J = 2 Gamma, Gamma_12 = 0.5 Gamma`` in mathtext."""
    return rf"$J = {rate(J)}${sep}$\Gamma_{{12}} = {rate(gamma12)}$"


def channel_text(channel: str) -> str:
    """A channel name for text: ``amplitude_damping`` -> ``amplitude damping``."""
    return channel.replace("_", " ")


def point_text(point: dict, keys: Sequence[str]) -> str:
    """The parameters ``keys`` of ``point`` as one comma-separated label."""
    parts = []
    for key in keys:
        value = point[key]
        if key == "n_cells":
            parts.append(f"$N = {value}$")
        elif key == "geometry":
            parts.append(str(value))
        elif key == "J":
            parts.append(rf"$J = {rate(value)}$")
        elif key == "gamma12":
            parts.append(rf"$\Gamma_{{12}} = {rate(value)}$")
        elif key == "channel":
            parts.append(channel_text(value))
    return ", ".join(parts)


def describe(points: Sequence[dict], vary: str) -> tuple[str, list[str]]:
    """A title with the parameters every point shares, and one label per point.

    ``vary`` is the parameter the curves are labelled by; a parameter that
    differs between points (where it matters) is added to each label too.
    """
    common, varying = [], []
    for key in ("n_cells", "geometry", "J", "gamma12", "channel"):
        if key == vary:
            continue
        values = {p[key] for p in points if key in relevant(p)}
        if len(values) == 1:
            common.append(key)
        elif len(values) > 1:
            varying.append(key)
    shared = dict(points[0])
    for p in points:  # the shared value from a point where it matters
        for key in common:
            if key in relevant(p):
                shared[key] = p[key]
    title = point_text(shared, common)
    labels = []
    for p in points:
        keys = [vary] if vary else []
        keys += [k for k in varying if k in relevant(p)]
        labels.append(point_text(p, keys))
    return title, labels


def time_axis(ax, datasets: Sequence[xr.Dataset], t_max: float | None) -> None:
    """The time axis from the first to the last time of ``datasets`` (at most ``t_max``)."""
    end = max(float(ds["time"].values[-1]) for ds in datasets)
    start = min(float(ds["time"].values[0]) for ds in datasets)
    ax.set_xlim(start, end if t_max is None else min(float(t_max), end))
    ax.set_xlabel(TIME_LABEL)


def top_legend(fig: Figure, ax, title: str, ncols: int, handles=None) -> None:
    """The legend above the axes, the shared parameters as its title."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    ncols = min(ncols, len(handles))
    fig.legend(
        handles=row_major(handles, ncols),
        loc="outside upper center",
        ncols=ncols,
        title=title,
        columnspacing=1.4,
        handlelength=2.6,
    )


def row_major(handles: list, ncols: int) -> list:
    """Reorder so that matplotlib's column-by-column legend reads row by row."""
    n = len(handles)
    return [handles[i * ncols + j] for j in range(ncols) for i in range(-(-(n - j) // ncols))]


def finish(fig: Figure, stem: Stem) -> Figure:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` when a stem is given; return it."""
    if stem is not None:
        style.save(fig, stem)
    return fig


def censored_marker(ax, x, color, marker="^", **kwargs) -> None:
    """Open markers at the top edge of ``ax`` at data ``x``: a value not reached."""
    ax.plot(
        x,
        [CENSORED_HEIGHT] * len(x),
        ls="none",
        marker=marker,
        mfc="white",
        mec=color,
        mew=1.0,
        transform=ax.get_xaxis_transform(),
        clip_on=False,
        **kwargs,
    )


def state_series(ax, rows: pd.DataFrame, x: str, quantity: str, state: str, **line) -> bool:
    """One state's ``quantity`` against column ``x``; censored values as open markers on top.

    ``rows`` hold one row per ``x`` value (the first is kept otherwise).
    Returns whether any value was censored.
    """
    rows = rows.sort_values(x).drop_duplicates(x)
    xs = rows[x].astype(float).to_numpy()
    y = rows[quantity].astype(float).to_numpy()
    flags = censored(rows, quantity)
    color = line.pop("color", style.state_color(state))
    line.setdefault("ls", style.state_linestyle(state))
    line.setdefault("marker", style.state_marker(state))
    ax.plot(xs, np.where(flags, np.nan, y), color=color, label=state, **line)
    if flags.any():
        censored_marker(ax, xs[flags], color)
    return bool(flags.any())


def censored_handle(label: str = CENSORED_NOTE, marker: str = "^") -> Line2D:
    """The legend entry of :func:`censored_marker`."""
    return Line2D([], [], ls="none", marker=marker, mfc="white", mec="0.3", label=label)


def state_handles(states: Sequence[str], marker: bool = True, lines: bool = True) -> list:
    """One legend entry per initial state, in its colour, dashes and marker."""
    return [
        Line2D(
            [],
            [],
            color=style.state_color(s),
            ls=style.state_linestyle(s) if lines else "none",
            marker=style.state_marker(s) if marker else None,
            label=s,
        )
        for s in states
    ]


def top_of(values) -> float:
    """The upper y limit for ``values`` (NaN ignored): headroom for censored markers."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return HEADROOM * float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def integer_axis(ax) -> None:
    """Integer major ticks and no minor ticks on the x axis (cells N)."""
    ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    ax.xaxis.set_minor_locator(NullLocator())


def log_n_axis(ax, n_values) -> None:
    """A logarithmic cells axis with plain ticks 1, 2, 5, 10, ... inside the data range."""
    ax.set_xscale("log")
    ticks = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]
    lo, hi = min(n_values), max(n_values)
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo / 1.01 <= t <= hi * 1.01]))
    ax.xaxis.set_minor_locator(NullLocator())
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlim(lo / 1.25, hi * 1.25)
    ax.set_xlabel("cells $N$ (log scale)")
