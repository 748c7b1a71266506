"""What one distinct point costs: seconds of one core and bytes of memory.

One estimator for the config check, the batch layout and the cluster's
resource requests. Both take a point's settings (``Study.point_settings``).

Run time is a fixed cost per point (building the generator, the dataset and
locating the events, writing the file: about 0.2 s for a few cells) plus the propagation,
scaled from measured anchors: 0.5 s for N = 5 on the symmetry-reduced
solver (three states, t_max = 10, 1001 time points), growing about 4.5-fold
per cell; 120 s for N = 100 on the Dicke-basis solver, growing as N^5. The
estimate only has to rank points and size batches; a factor of two either
way costs little. A disordered point costs its realisations, each without the
graph's automorphisms (``qbsd.simulate.runtime_factor``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .permutational import selects_permutational
from .simulate import memory_estimate, runtime_factor

#: Seconds of fixed cost per simulated point (generator, dataset, events).
POINT_OVERHEAD_SECONDS = 0.2
#: Largest slowdown of one disorder realisation against the clean point.
MAX_DISORDER_LOSS = 8.0


def _scale(settings: Mapping) -> float:
    """How the time grid and the number of states scale the propagation."""
    n_states = len(settings["states"])
    n_points = int(settings["n_points"])
    t_max = float(settings["t_max"])
    return (n_states / 3) * max(1.0, n_points / 1001) * max(1.0, t_max / 10)


def realisations(settings: Mapping) -> int:
    """Number of disorder realisations of a point (1 for a clean point)."""
    value = settings.get("realisations")
    return int(value) if value else 1


def point_seconds(settings: Mapping) -> float:
    """Estimated one-core seconds to simulate a point, all its realisations included."""
    n = int(settings["n_cells"])
    method = settings.get("method", "auto")
    geometry = settings.get("geometry")
    r = realisations(settings)
    if selects_permutational(n, method, geometry) and not _disordered(settings):
        physics = 120.0 * (n / 100) ** 5
    else:
        physics = 0.5 * 4.5 ** (n - 5)
    # a disordered realisation loses the graph's automorphisms: measured 1.3-6.5
    # times a clean point for N = 5, 6, so the bound is capped there
    loss = 1.0
    if _disordered(settings):
        loss = min(runtime_factor(n, geometry, disordered=True), MAX_DISORDER_LOSS)
    return (POINT_OVERHEAD_SECONDS + physics * loss * _scale(settings)) * r


def _disordered(settings: Mapping) -> bool:
    return bool(settings.get("W") or settings.get("W_J"))


def point_memory_bytes(settings: Mapping) -> int:
    """Peak memory of simulating a point (realisations run one after another)."""
    return memory_estimate(
        int(settings["n_cells"]),
        len(settings["states"]),
        settings.get("method", "auto"),
        geometry=settings.get("geometry"),
        realisations=realisations(settings),
        disordered=_disordered(settings),
        n_points=int(settings.get("n_points", 1001)),
    )
