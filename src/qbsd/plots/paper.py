"""The paper's panels (Figs. 2-5 and its Sec. II C) from trajectory datasets.

Each panel takes one trajectory :class:`xarray.Dataset` or a collection of
them and draws every dataset it is given; :func:`paper_panel` picks a
panel's points out of any collection (a whole sweep). ``PANELS`` is the one
list of panels: the workflow's rules and the figure jobs read it.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..points import PAPER_GAMMA12, PAPER_J
from . import style
from .common import (
    HALF_LIFE_SYMBOL,
    UNIT_YLIM,
    Stem,
    describe,
    finish,
    time_axis,
    top_legend,
)
from .data import Datasets, as_list, by_geometry, one, point, select, state_of

EFFICIENCY_LABEL = r"efficiency $\xi(t) = \mathcal{E}/U$"


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


def _half_life_marker(ax, one_state: xr.Dataset, state: str, color, t_end: float):
    """A dashed line at the state's half-life, or a legend entry saying it is censored."""
    tau = float(one_state["ergotropy_half_life"])
    symbol = rf"\Gamma{HALF_LIFE_SYMBOL}^{{\rm {state[:2]}}}"
    if np.isfinite(tau):
        return ax.axvline(
            tau, color=color, ls=(0, (3, 2)), lw=0.9, label=rf"${symbol} = {tau:.3f}$"
        )
    marker = Line2D([], [], ls="none")
    marker.set_label(rf"${symbol} > {t_end:g}$ (not reached)")
    return marker


def _ergotropy_panel(datasets, stem, states, t_max, panel) -> Figure:
    ds = one(datasets, panel)
    fig = style.new_figure()
    ax = fig.add_subplot()
    ax.axhline(0.5, color="0.6", lw=0.6, ls=":", zorder=0)
    lines, markers = [], []
    t_end = float(ds["time"].values[-1])
    for state in states:
        one_state = state_of(ds, state, panel)
        e = one_state["ergotropy"].values
        color = style.state_color(state)
        (line,) = ax.plot(
            ds["time"].values, e / e[0], color=color, ls=style.state_linestyle(state), label=state
        )
        lines.append(line)
        markers.append(_half_life_marker(ax, one_state, state, color, t_end))
    time_axis(ax, [ds], t_max)
    ax.set_ylim(*UNIT_YLIM)
    ax.set_ylabel(r"ergotropy $\mathcal{E}(t)/\mathcal{E}(0)$")
    title, _ = describe([point(ds)], vary="")
    top_legend(fig, ax, title, ncols=len(lines), handles=lines + markers)
    return finish(fig, stem)


@style.styled
def fig2b(
    datasets: Datasets,
    stem: Stem = None,
    *,
    states: Sequence[str] = ("classical", "quantum"),
    t_max: float | None = 2.0,
) -> Figure:
    """Paper Fig. 2b: efficiency xi(t) = E/U of one point, one curve per state."""
    ds = one(datasets, "fig2b")
    fig = style.new_figure()
    ax = fig.add_subplot()
    for state in states:
        ax.plot(
            ds["time"].values,
            state_of(ds, state, "fig2b")["efficiency"].values,
            color=style.state_color(state),
            ls=style.state_linestyle(state),
            label=state,
        )
    time_axis(ax, [ds], t_max)
    ax.set_ylim(*UNIT_YLIM)
    ax.set_ylabel(EFFICIENCY_LABEL)
    title, _ = describe([point(ds)], vary="")
    top_legend(fig, ax, title, ncols=2)
    return finish(fig, stem)


_N_DASHES = ["-", (0, (5, 1.5)), (0, (6, 1.5, 1.5, 1.5)), (0, (1.5, 1.2)), (0, (3, 1, 1, 1, 1, 1))]


def _efficiency_vs_n(datasets: Datasets, stem: Stem, state: str, panel: str, t_max) -> Figure:
    dss = sorted(as_list(datasets), key=lambda ds: point(ds)["n_cells"])
    if not dss:
        raise ValueError(f"{panel} needs at least one dataset")
    title, labels = describe([point(ds) for ds in dss], vary="n_cells")
    fig = style.new_figure()
    ax = fig.add_subplot()
    colors = style.ordinal_colors(len(dss))
    for i, (ds, label) in enumerate(zip(dss, labels, strict=True)):
        ax.plot(
            ds["time"].values,
            state_of(ds, state, panel)["efficiency"].values,
            color=colors[i],
            ls=_N_DASHES[i % len(_N_DASHES)],
            label=label,
        )
    time_axis(ax, dss, t_max)
    ax.set_ylim(*UNIT_YLIM)
    ax.set_ylabel(EFFICIENCY_LABEL)
    top_legend(fig, ax, f"{state} state, {title}", ncols=3)
    return finish(fig, stem)


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


def geometry_curves(
    ax,
    dss: Sequence[xr.Dataset],
    labels: Sequence[str],
    variable: str,
    state: str,
    panel: str,
    normalise: bool = False,
    lw: float | None = None,
) -> None:
    """One curve of ``variable`` per dataset, in its geometry's colour and dashes."""
    for i, (ds, label) in enumerate(zip(dss, labels, strict=True)):
        geometry = point(ds)["geometry"]
        y = state_of(ds, state, panel)[variable].values
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


def geometry_panel(
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
    """A figure of ``variable`` against time, one curve per geometry (Figs. 4 and 5)."""
    dss = by_geometry(datasets)
    if not dss:
        raise ValueError(f"{panel} needs at least one dataset")
    title, labels = describe([point(ds) for ds in dss], vary="geometry")
    fig = style.new_figure()
    ax = fig.add_subplot()
    geometry_curves(ax, dss, labels, variable, state, panel, normalise)
    time_axis(ax, dss, t_max)
    if ylim is not None:
        ax.set_ylim(*ylim)
    else:
        ax.set_ylim(bottom=-0.02 * ax.get_ylim()[1])
    ax.set_ylabel(ylabel)
    top_legend(fig, ax, f"{state} state, {title}", ncols=2)
    return fig, ax, dss


def _quantum_by_geometry(
    datasets: Datasets,
    stem: Stem,
    panel: str,
    variable: str,
    ylabel: str,
    t_max: float | None,
    **options,
) -> Figure:
    """:func:`geometry_panel` of the quantum state, finished (Figs. 4a, 5a and 5b)."""
    fig, _, _ = geometry_panel(
        datasets,
        variable=variable,
        state="quantum",
        panel=panel,
        ylabel=ylabel,
        t_max=t_max,
        **options,
    )
    return finish(fig, stem)


@style.styled
def fig4a(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 5.0) -> Figure:
    """Paper Fig. 4a: U(t)/U(0) of the quantum state, one curve per geometry.

    The paper's datasets: N = 5, central, linear, circular and symmetric,
    J = 2, gamma12 = 1/2, relaxation (U(0) = N hbar omega0 / 2).
    """
    return _quantum_by_geometry(
        datasets, stem, "fig4a", "energy", r"internal energy $U(t)/U(0)$", t_max, normalise=True
    )


@style.styled
def fig4b(
    datasets: Datasets,
    stem: Stem = None,
    *,
    t_max: float | None = 2.0,
    inset_ylim: tuple[float, float] | None = (-0.02, 0.72),
    panel: str = "fig4b",
) -> Figure:
    """Paper Fig. 4b: xi(t) per geometry, quantum state (main) and classical state (inset).

    ``inset_ylim`` None fits the inset to its curves (another channel than
    the paper's relaxation). The title names the channel and couplings the
    datasets share.
    """
    fig, ax, dss = geometry_panel(
        datasets,
        variable="efficiency",
        state="quantum",
        panel=panel,
        ylabel=EFFICIENCY_LABEL,
        t_max=t_max,
    )
    inset = ax.inset_axes((0.58, 0.5, 0.39, 0.46))
    _, labels = describe([point(ds) for ds in dss], vary="geometry")
    geometry_curves(inset, dss, labels, "efficiency", "classical", panel, lw=1.0)
    inset.set_xlim(ax.get_xlim())
    if inset_ylim is None:
        inset_ylim = (-0.02, max(0.1, 1.1 * inset.get_ylim()[1]))
    inset.set_ylim(*inset_ylim)
    inset.text(
        0.95, 0.92, "classical", transform=inset.transAxes, ha="right", va="top", fontsize=7
    )
    inset.tick_params(labelsize=6.5, which="both")
    inset.xaxis.set_major_locator(mpl.ticker.MaxNLocator(2, steps=[1, 2, 5, 10]))
    inset.yaxis.set_major_locator(mpl.ticker.MaxNLocator(3, steps=[1, 2, 5, 10]))
    inset.set_xlabel(r"$t$ ($1/\Gamma$)", fontsize=6.5, labelpad=1)
    inset.set_ylabel(r"$\xi(t)$", fontsize=6.5, labelpad=1)
    return finish(fig, stem)


@style.styled
def fig5a(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 2.0) -> Figure:
    """Paper Fig. 5a: normalised l1 coherence of the quantum state, one curve per geometry."""
    return _quantum_by_geometry(
        datasets, stem, "fig5a", "coherence", r"$l_1$ coherence $C_{l_1}(t)$", t_max
    )


@style.styled
def fig5b(datasets: Datasets, stem: Stem = None, *, t_max: float | None = 2.0) -> Figure:
    """Paper Fig. 5b: link-averaged concurrence of the quantum state, one curve per geometry."""
    return _quantum_by_geometry(
        datasets,
        stem,
        "fig5b",
        "concurrence_mean",
        r"mean concurrence $\bar{C}(t)$",
        t_max,
        ylim=None,
    )


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


#: The paper's panels, name -> drawing function: the one list of them (the
#: workflow's rules draw ``results/figures/paper/<name>.png`` for each).
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
#: The panel names, in the paper's order.
PAPER_PANELS = tuple(PANELS)

_CHAIN = {"channel": "relaxation", "geometry": "linear", "J": PAPER_J, "gamma12": PAPER_GAMMA12}
NETWORKS = {
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
    "fig4a": (NETWORKS, "geometry"),
    "fig4b": (NETWORKS, "geometry"),
    "fig5a": (NETWORKS, "geometry"),
    "fig5b": (NETWORKS, "geometry"),
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
        tag = point(ds)[key] if key else None
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
