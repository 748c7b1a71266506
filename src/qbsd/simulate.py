"""``qbsd.simulate``: one parameter point, every requested initial state.

It checks the arguments, plans the disorder realisations, checks the memory
(``qbsd.resources``), runs the solver ``dynamics.make_solver`` picks, locates
the events (``observables.events``) and builds the trajectory dataset.
"""

from __future__ import annotations

import math
import time as _time
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import xarray as xr

from .dataset import build_dataset
from .disorder import plan as plan_disorder
from .dynamics.backend import check_method, make_solver
from .model.channels import declared_parameters
from .model.geometry import Geometry
from .model.point import Point
from .model.states import check_states
from .observables.events import EventTracker
from .observables.measures import MEASURES
from .realisations import add_explicit_disorder, stack_realisations
from .resources import check_memory


def time_grid(t_max: float, n_points: int) -> np.ndarray:
    """Uniform grid of ``n_points`` times from 0 to ``t_max`` inclusive."""
    check_time(t_max, n_points)
    return np.linspace(0.0, float(t_max), int(n_points))


def check_time(t_max, n_points) -> None:
    if isinstance(t_max, bool) or not isinstance(t_max, (int, float, np.number)):
        raise ValueError(f"t_max must be a positive number (in 1/Gamma), got {t_max!r}")
    if not math.isfinite(t_max) or t_max <= 0:
        raise ValueError(f"t_max must be a positive number (in 1/Gamma), got {t_max!r}")
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")


def check_tolerances(rtol, atol) -> None:
    for key, value in (("rtol", rtol), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
            raise ValueError(f"{key} must be a positive number, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"{key} must be a positive number, got {value!r}")


def simulate(
    n_cells: int,
    geometry: str | Iterable[Sequence[int]] = "linear",
    J: float = 2.0,
    gamma12: float = 0.5,
    channel: str = "relaxation",
    states: Sequence[str] = ("full", "classical", "quantum"),
    t_max: float = 10.0,
    n_points: int = 1001,
    *,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    method: str = "auto",
    omega0: float = 0.0,
    n_th: float | None = None,
    W: float = 0.0,
    W_J: float = 0.0,
    realisations: int | None = None,
    realisation_indices: Iterable[int] | None = None,
    detunings: Sequence[float] | None = None,
    coupling_offsets: Sequence[float] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> xr.Dataset:
    """Simulate one parameter point for every requested initial state.

    Parameters
    ----------
    n_cells
        Number of cells N >= 1.
    geometry
        ``linear``, ``circular``, ``central``, ``symmetric`` or an edge list.
    J, gamma12
        Exchange coupling J/Gamma and collective rate Gamma_12/Gamma.
    channel
        ``relaxation``, ``amplitude_damping``, ``phase_damping``, ``thermal``
        or ``depolarizing`` (any name of ``model.CHANNELS``).
    states
        Initial-state labels (``states.STATES``: ``full``, ``classical``,
        ``quantum``, ``equal_ergotropy:<c>``, ``ghz``, ``dicke``,
        ``singlet_pairs``), solved through one Liouvillian.
    t_max, n_points
        Uniform time grid from 0 to ``t_max`` (units of 1/Gamma).
    rtol, atol
        Integrator tolerances.
    method
        ``auto`` (default) asks the backends (``qbsd.dynamics``) in order of
        preference and takes the first that runs the point and the states: the
        Dicke basis for permutation-invariant points above
        ``dynamics.dicke.FULL_SPACE_MAX_CELLS`` cells, the symmetry-reduced
        ``sector`` backend, the full space. ``sector``, ``expm``, ``bdf``,
        ``adams`` or ``piqs`` (the Dicke basis) names one backend, which refuses
        a point it cannot run.
    omega0
        Cell frequency; 0 (default) simulates in the rotating frame.
    n_th
        Mean thermal occupation of the bath (>= 0): required by ``thermal``,
        an error for every channel without that parameter.

    W, W_J
        Disorder strengths in Gamma (``docs/model.md``, "Disorder"): detunings
        delta_n uniform in [-W/2, W/2] (H gains ``sum_n (delta_n/2) sz_n``),
        coupling offsets u_nm uniform in [-W_J/2, W_J/2] (link (n, m) couples
        with J + u_nm). W = W_J = 0 (default) is the clean point, simulated once.
        Energies and ergotropy stay measured against the clean H0.
    realisations
        Number R of disorder realisations (indices 0..R-1), required when
        W > 0 or W_J > 0; at the clean point it is checked and has nothing to
        count. Realisation r draws from a generator seeded by the point's key
        and r alone (``qbsd.disorder``), with common random numbers across W
        and W_J: the same r is the same pattern scaled, so results are smooth
        in W, and asking for more realisations keeps the first ones.
    realisation_indices
        Instead of ``realisations``: the realisation indices to run (distinct
        integers >= 0), e.g. ``range(10, 20)`` for one batch of a large
        ensemble; join the batches with ``qbsd.realisations.concat_realisations``.
    detunings
        One explicit realisation: delta_n/Gamma for every cell (e.g. a field
        gradient). Combines with none of W, W_J, realisations.
    coupling_offsets
        One explicit realisation: u_l/Gamma for every link, in the order of the
        dataset's ``link`` coordinate (edges sorted, n < m); may go with
        ``detunings``.
    progress
        Called as ``progress(done, total, detail)`` while the solver advances:
        ``done`` of ``total`` (state, time point) pairs of the grid (times the
        realisations) are computed; ``detail`` says where (``"state 2/3"``,
        ``"building the generator"``, and ``"locating events, state 2/3"``
        once a run's grid is done). A ``qbsd.progress.ProgressReporter`` fits.

    Returns
    -------
    xarray.Dataset
        The trajectory dataset (the README, "Using the package"), plus event
        times, peak concurrence and numerical-health diagnostics per state. With
        W > 0 or W_J > 0: every per-state variable gains a leading
        ``realisation`` dimension, and ``<name>_avg`` holds the realisation
        average of each time series (layout: ``qbsd.realisations``).
    """
    started = _time.perf_counter()
    states = check_states(states, n_cells)
    check_time(t_max, n_points)
    check_tolerances(rtol, atol)
    check_method(method)
    if progress is not None and not callable(progress):
        raise ValueError(
            f"progress must be a callable(done, total, detail) or None, got {progress!r}"
        )
    parameters = {} if n_th is None else {"n_th": n_th}
    point = Point(Geometry.make(geometry, n_cells), J, gamma12, channel, parameters=parameters)
    disorder = plan_disorder(
        point,
        W=W,
        W_J=W_J,
        realisations=realisations,
        realisation_indices=realisation_indices,
        detunings=detunings,
        coupling_offsets=coupling_offsets,
    )
    check_memory(
        point,
        states,
        method,
        n_points=n_points,
        realisations=disorder.runs,
        disordered=disorder.disordered,
    )
    times = time_grid(t_max, n_points)
    settings = {
        **_point_settings(point),
        "states": states,
        "t_max": float(t_max),
        "n_points": int(n_points),
        "rtol": rtol,
        "atol": atol,
        "omega0": omega0,
        **disorder.settings(),
    }
    options = {
        "method": method,
        "rtol": rtol,
        "atol": atol,
        "omega0": omega0,
        "progress": progress,
    }
    if disorder.kind != "random":
        ds = _simulate_point(disorder.point(point), states, times, settings, started, **options)
        if disorder.kind == "explicit":
            add_explicit_disorder(ds, disorder.detunings, disorder.coupling_offsets)
        return ds
    return _simulate_realisations(point, disorder, states, times, settings, options)


def _point_settings(point: Point) -> dict:
    """The point's part of the dataset's ``settings`` attribute."""
    return {
        "n_cells": point.n_cells,
        "geometry": point.geometry.label,
        "edges": [list(e) for e in point.geometry.edges],
        "J": point.J,
        "gamma12": point.gamma12,
        "channel": point.channel,
        # every channel parameter of the study, null where the channel has none
        **{name: dict(point.parameters).get(name) for name in declared_parameters()},
    }


def _simulate_realisations(
    point: Point, disorder, states: list[str], times: np.ndarray, settings: dict, options: dict
) -> xr.Dataset:
    """Every random realisation of ``disorder`` at ``point``, one after another, stacked."""
    runs = len(disorder.indices)
    parts = [
        _simulate_point(
            disorder.point(point, r),
            states,
            times,
            settings,
            _time.perf_counter(),
            run=(k, runs),
            **options,
        )
        for k, r in enumerate(disorder.indices)
    ]
    cells, links = disorder.draws(point.n_cells, len(point.geometry.edges))
    return stack_realisations(
        parts,
        disorder.indices,
        W=disorder.W,
        W_J=disorder.W_J,
        key=disorder.key,
        detunings=cells,
        coupling_offsets=links,
    )


def _progress_steps(
    progress: Callable[[int, int, str], None] | None,
    run: tuple[int, int],
    n_states: int,
    n_times: int,
) -> Callable[[int, str], None]:
    """``report(done, detail)`` for run k of K: ``progress`` over all K runs' grids."""
    k, runs = run
    grid = n_states * n_times
    where = f"realisation {k + 1}/{runs}, " if runs > 1 else ""

    def report(done: int, detail: str) -> None:
        if progress is not None:
            progress(k * grid + done, runs * grid, where + detail)

    return report


def _simulate_point(
    point: Point,
    states: list[str],
    times: np.ndarray,
    settings: dict,
    started: float,
    *,
    method: str,
    rtol: float,
    atol: float,
    omega0: float,
    progress: Callable[[int, int, str], None] | None = None,
    run: tuple[int, int] = (0, 1),
) -> xr.Dataset:
    """One solver run of ``point`` (clean or one realisation): the clean-layout dataset.

    ``run`` is (k, K): this is run k of K, for ``progress`` (see ``simulate``).
    """
    report = _progress_steps(progress, run, len(states), len(times))
    report(0, "building the generator")
    solver = make_solver(point, method=method, states=states, rtol=rtol, atol=atol, omega0=omega0)
    trackers = [EventTracker(times) for _ in states]
    report(0, f"state 1/{len(states)}")
    done, grid = 0, range(len(times))
    for s, chunk, rho in solver.run(states, times):
        trackers[s].feed(solver.observe(rho), rho)
        done += len(grid[chunk])
        report(done, f"state {s + 1}/{len(states)}")

    events = []
    for s, tracker in enumerate(trackers):
        report(len(states) * len(times), f"locating events, state {s + 1}/{len(states)}")
        events.append(tracker.refine(solver.evolve, solver.observe))
    series = {}
    for measure in MEASURES:  # (state, time), or (state, cell|link, time)
        stacked = np.stack([t.full(measure.name) for t in trackers])
        series[measure.name] = np.swapaxes(stacked, 1, 2) if measure.per else stacked
    has_links = bool(point.geometry.edges)
    peaks = [t.peak("concurrence_mean") if has_links else (np.nan, np.nan) for t in trackers]
    health = {
        "max_trace_error": [t.full("trace_error").max() for t in trackers],
        "min_eigenvalue": [t.full("min_eigenvalue").min() for t in trackers],
        "max_hermiticity_error": [t.full("hermiticity_error").max() for t in trackers],
    }
    event_arrays = {key: [e[key] for e in events] for key in events[0]}
    if not has_links:  # entanglement is undefined without links
        for key in ("entanglement_birth_time", "entanglement_death_time"):
            event_arrays[key] = [np.nan] * len(states)
    solver.stats["total_seconds"] = _time.perf_counter() - started
    return build_dataset(
        point=point,
        states=states,
        times=times,
        series=series,
        events=event_arrays,
        peaks={"value": [p[0] for p in peaks], "time": [p[1] for p in peaks]},
        health=health,
        settings={**settings, "method": solver.method},
        solver_stats=solver.stats,
    )
