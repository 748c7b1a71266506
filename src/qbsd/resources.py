"""What one simulation costs: bytes of memory and seconds of one core.

The one estimator: ``qbsd.simulate`` checks a point against this machine's
memory with it, the config check sizes every N with it, and the batch layout
and the cluster's resource requests read it through a point's settings
(``Study.point_settings``: ``point_memory_bytes``, ``point_seconds``). Which
backend runs a point is the backends' own decision
(``dynamics.select_backend``), so an estimate is always that of the solver
that will run.

Memory is a formula per backend: the generator, the integrator's work
vectors, a few chunks of stored states (``dynamics.chunks``), the stored
series (``n_points`` long) and 300 MB of interpreter and libraries.

Run time is a fixed cost per point (building the generator, the dataset and
locating the events, writing the file: about 0.2 s for a few cells) plus the
propagation, scaled from measured anchors: 0.5 s for N = 5 on the symmetry-reduced
solver (three states, t_max = 10, 1001 time points), growing about 4.5-fold
per cell; 120 s for N = 100 on the Dicke-basis solver, growing as N^5. The
estimate only has to rank points and size batches; a factor of two either
way costs little. A disordered point costs its realisations, each without the
graph's automorphisms (``runtime_factor``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping, Sequence

from .dynamics.backend import BACKENDS, select_backend
from .dynamics.chunks import CHUNK_BYTES, chunk_length
from .model.geometry import NAMED_GEOMETRIES, Geometry
from .model.point import Point
from .points import PAPER_GAMMA12, PAPER_J

#: Seconds of fixed cost per simulated point (generator, dataset, events).
POINT_OVERHEAD_SECONDS = 0.2
#: Largest slowdown of one disorder realisation against the clean point.
MAX_DISORDER_LOSS = 8.0
#: Interpreter, libraries and the dataset's fixed parts (bytes).
BASE_BYTES = 300e6
#: The initial states a count of states stands for (products: every backend takes them).
PRODUCT_STATES = ("full", "classical", "quantum")


# ---- memory of each backend --------------------------------------------------------


def full_space_memory(n_cells: int, n_states: int = 3, method: str = "adams") -> int:
    """Peak memory (bytes) of the full-space backend (``FullSpaceSolver``).

    The sparse Liouvillian (about (3 + N + N^2/2) nonzeros per row of 4^N
    rows at 16 B plus indices, twice while building; ``expm`` adds three dense
    4^N x 4^N matrices), the integrator's work vectors and one chunk of stored
    states with its eigenvalue workspace.
    """
    d2 = 4**n_cells
    liouvillian = 2 * (n_cells * n_cells / 2 + n_cells + 3) * d2 * 24
    if method == "expm":
        liouvillian += 3 * d2 * d2 * 16
    integrator = 20 * d2 * 16
    chunk = chunk_length(16 * d2 * n_states) * d2 * 16 * n_states * 3
    return int(liouvillian + integrator + chunk + BASE_BYTES)


def sector_orbits_bound(n_cells: int, geometry: str | None = None) -> float:
    """Upper bound on the reduced coordinates of the ``sector`` backend.

    The ``q >= 0`` index pairs, (4^N + C(2N, N)) / 2, divided by a lower bound
    on the reduction factor of the named geometry's automorphism group (orbits
    of pairs counted for N = 3..9: linear 1.62-1.99, circular 3.2-17.4 (about
    2N for large N), central 1.6-414, symmetric 3.2-1243); 1 for edge lists.
    """
    n = n_cells
    pairs = (4**n + math.comb(2 * n, n)) / 2
    if n <= 2 or geometry is None:
        return pairs
    factor = {
        "linear": 1.6,
        "circular": float(n),
        "central": 3.0 * 2.4 ** (n - 4),
        "symmetric": 3.0 * 2.4 ** (n - 3),
    }.get(geometry, 1.0)
    return pairs / max(1.0, factor)


def sector_memory(n_cells: int, n_states: int = 3, geometry: str | None = None) -> int:
    """Peak memory (bytes) of the ``sector`` backend (``SectorSolver``).

    The reduced generator (about (3 + N + N^2/2) nonzeros per orbit, twice while
    it is reduced from the representative rows), zvode's work vectors for the
    merged states, a few chunks of ``CHUNK_BYTES`` (the integration runs one
    chunk ahead, with the spectral blocks' workspace) and 300 MB of interpreter
    and libraries. Against measured peak RSS (n_points 1001, linear chain):
    N = 8 one state 288 MB (estimate 0.49 GB), N = 10 three states 1.27 GB
    (estimate 1.97 GB); the full-space estimate at N = 10 is 4.1 GB.
    """
    n = n_cells
    orbits = sector_orbits_bound(n, geometry)
    generator = 2 * (n * n / 2 + n + 3) * orbits * 24
    integrator = 20 * orbits * 16 * max(1, n_states)
    chunks = 4 * CHUNK_BYTES
    return int(generator + integrator + chunks + BASE_BYTES)


def dicke_memory(
    n_cells: int, n_states: int = 3, n_points: int = 1001, coherent: bool = True
) -> int:
    """Peak memory (bytes) of the Dicke-basis backend (``PermutationalSolver``).

    The sparse generator (at most 6 nonzeros per stored element, built in
    COO and CSR), the Taylor work vectors, two chunks of states, the
    coherence transform (one dense square block per pair of excitation
    numbers, only when a state has Dicke-basis coherences) and the per-link
    concurrence series of the dataset (``n_points`` long, a few copies).
    """
    basis_size = (math.comb(n_cells + 3, 3) + (n_cells // 2 + 1) ** 2) // 2 + 1
    generator = 6 * basis_size * 40
    work = 8 * basis_size * 16 * max(1, n_states)
    chunk = CHUNK_BYTES * 2
    transform = 0
    if coherent:
        pairs = sum(
            (min(k1, n_cells - k) + 1) ** 2 for k in range(n_cells + 1) for k1 in range(k + 1)
        )
        transform = 3 * pairs * 12
    n_links = n_cells * (n_cells - 1) // 2
    series = 4 * n_states * n_links * n_points * 8
    return int(generator + work + chunk + transform + series + BASE_BYTES)


def realisation_series_bytes(
    n_cells: int, n_states: int, n_points: int, realisations: int = 1
) -> int:
    """Memory of the stored series of ``realisations`` disorder realisations (bytes).

    Per realisation, state and time point: about 12 scalar series (energy,
    ergotropy, efficiency, coherence, link-mean concurrence and room for more
    measures), one population per cell and one concurrence per link (at most
    N(N-1)/2), as float64; three copies (the realisations' own datasets, the
    stacked one and its averages with the write's buffers).
    """
    per_point = 12 + n_cells + n_cells * (n_cells - 1) // 2
    return int(3 * 8 * per_point * max(1, n_states) * n_points * max(1, realisations))


# ---- one point -----------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _realisation(point: Point) -> Point:
    """A stand-in for one disorder realisation of the clean ``point`` (a detuned cell)."""
    return dataclasses.replace(point, detunings=(1.0,) + (0.0,) * (point.n_cells - 1))


def backend_of(
    point: Point, states: Sequence[str] = PRODUCT_STATES, method: str = "auto"
) -> tuple[str, str]:
    """``(backend name, method)`` that runs ``point`` from ``states`` (``select_backend``)."""
    return _backend_of(point, tuple(states), method, tuple(BACKENDS))


@functools.lru_cache(maxsize=65536)
def _backend_of(point: Point, states: tuple, method: str, registry: tuple) -> tuple[str, str]:
    # a study asks the same question for many points of one channel and geometry;
    # ``registry`` keys the answer to the backends registered when it was given
    backend, chosen, _ = select_backend(point, states, method)
    return backend.name, chosen


def memory_estimate(
    point: Point,
    states: Sequence[str] = PRODUCT_STATES,
    method: str = "auto",
    *,
    n_points: int = 1001,
    realisations: int = 1,
    disordered: bool | None = None,
) -> int:
    """Peak memory (bytes) ``simulate`` needs for ``point`` and its initial ``states``.

    The estimate of the backend that runs the point (``backend_of``). A
    disordered point (``point.disordered``, or ``disordered=True`` for the
    clean point of a disordered study: W > 0 or W_J > 0) runs on the backend
    that takes a realisation, which keeps none of the geometry's
    automorphisms (estimated as an edge list); its ``realisations`` run one
    after another, so the solver's peak is paid once, and the stored series
    of every realisation (``realisation_series_bytes``) come on top.
    """
    disordered = point.disordered if disordered is None else disordered
    if disordered and not point.disordered:
        point = _realisation(point)
    n, n_states = point.n_cells, len(states)
    backend, chosen = backend_of(point, states, method)
    geometry = None if disordered else point.geometry.name
    if backend == "dicke":
        solver = dicke_memory(n, n_states, n_points)
    elif backend == "sector":
        solver = sector_memory(n, n_states, geometry)
    else:
        solver = full_space_memory(n, n_states, chosen)
    if not disordered:
        return int(solver)
    return int(solver + realisation_series_bytes(n, n_states, n_points, realisations))


def runtime_factor(
    n_cells: int,
    geometry: str | None = None,
    *,
    realisations: int = 1,
    disordered: bool = False,
) -> float:
    """Runtime of ``simulate`` relative to the clean point on the ``sector`` backend.

    The realisations run one after another, and each loses the reduction the
    named ``geometry``'s automorphisms give the clean point: the ratio of
    ``sector_orbits_bound`` without and with them (1 for ``linear`` N <= 2 and
    edge lists, up to 1.6 for ``linear``, about N for ``circular``, more for
    ``central`` and ``symmetric``). Multiply a clean runtime estimate by it.

    Close for ``linear`` and ``circular``; generous for ``central`` and
    ``symmetric``, whose observables gain less from the symmetry than their
    generator does. Measured on a loaded machine, one realisation against the
    clean point (three states, 1001 points, W = 1; this factor in brackets):
    N = 5 linear 1.3 (1.6), circular 2.7 (5.0), central 2.0 (7.2), symmetric
    1.8 (17); N = 6 circular 6.5 (6.0), symmetric 5.7 (41); N = 7 circular
    5.4 (7.0).
    """
    if not disordered:
        return float(max(1, realisations))
    loss = sector_orbits_bound(n_cells, None) / sector_orbits_bound(n_cells, geometry)
    return float(max(1, realisations) * loss)


def seconds_estimate(
    point: Point,
    states: Sequence[str] = PRODUCT_STATES,
    method: str = "auto",
    *,
    t_max: float = 10.0,
    n_points: int = 1001,
    realisations: int = 1,
    disordered: bool | None = None,
) -> float:
    """Estimated one-core seconds to simulate ``point``, all its realisations included."""
    disordered = point.disordered if disordered is None else disordered
    n = point.n_cells
    stand_in = _realisation(point) if disordered and not point.disordered else point
    if backend_of(stand_in, states, method)[0] == "dicke":
        physics = 120.0 * (n / 100) ** 5
    else:
        physics = 0.5 * 4.5 ** (n - 5)
    # a disordered realisation loses the graph's automorphisms: measured 1.3-6.5
    # times a clean point for N = 5, 6, so the bound is capped there
    loss = 1.0
    if disordered:
        loss = min(runtime_factor(n, point.geometry.name, disordered=True), MAX_DISORDER_LOSS)
    scale = (len(states) / 3) * max(1.0, n_points / 1001) * max(1.0, t_max / 10)
    runs = max(1, realisations) if disordered else 1
    return (POINT_OVERHEAD_SECONDS + physics * loss * scale) * runs


def available_memory() -> int:
    """Physical memory of this machine in bytes."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 2**30


def check_memory(
    point: Point,
    states: Sequence[str],
    method: str = "auto",
    *,
    n_points: int = 1001,
    realisations: int = 1,
    disordered: bool | None = None,
) -> None:
    """Raise ``ValueError`` if ``point`` needs more memory than this machine has."""
    need = memory_estimate(
        point,
        states,
        method,
        n_points=n_points,
        realisations=realisations,
        disordered=disordered,
    )
    have = available_memory()
    if need <= have:
        return
    disordered = point.disordered if disordered is None else disordered
    stand_in = _realisation(point) if disordered and not point.disordered else point
    where = {
        "dicke": "permutation-invariant (piqs)",
        "sector": "symmetry-reduced (sector)",
        "full": "full density-matrix",
    }[backend_of(stand_in, states, method)[0]]
    stored, fewer = "", "use fewer cells"
    if disordered:
        stored = f" with {realisations} disorder realisation(s) stored"
        fewer += " or fewer realisations per call (realisation_indices)"
    raise ValueError(
        f"n_cells={point.n_cells} needs about {need / 2**30:.1f} GiB on the {where} "
        f"solver{stored} but this machine has {have / 2**30:.1f} GiB; {fewer}"
    )


# ---- a study's points (their settings) -----------------------------------------------


def representative_point(
    n_cells: int,
    geometry: str | Geometry | None = None,
    channel: str = "relaxation",
    J: float = PAPER_J,
    gamma12: float = PAPER_GAMMA12,
    n_th: float | None = None,
) -> Point:
    """The point a study's point is estimated as: its graph and channel, couplings by kind.

    ``geometry`` is a named geometry, a ``Geometry``, or None (an edge list
    with no symmetry). The backends' decision reads the couplings only as
    zero or not (uncoupled cells are permutation invariant; a collective term
    is ``I + gamma12 A``, so whether a channel conserves q depends only on
    whether ``gamma12 A`` vanishes), so a nonzero J or gamma12 stands as the
    paper's value (gamma12 cut to the graph's complete-positivity bound):
    one estimate serves every point of a sweep that differs only in them.
    """
    if isinstance(geometry, Geometry):
        graph = geometry
    elif geometry in NAMED_GEOMETRIES:
        graph = _named(geometry, n_cells)
    else:  # an edge list: no automorphism, not complete (N > 2) is assumed
        graph = Geometry(n_cells, _named("linear", n_cells).edges, "custom")
    parameters = () if n_th is None else (("n_th", float(n_th)),)
    J = 0.0 if J == 0 else PAPER_J
    gamma12 = 0.0 if gamma12 == 0 else min(PAPER_GAMMA12, graph.gamma12_bound())
    return _point(graph, J, gamma12, channel, parameters)


@functools.lru_cache(maxsize=256)
def _named(name: str, n_cells: int) -> Geometry:
    return Geometry.make(name, n_cells)


@functools.lru_cache(maxsize=65536)
def _point(graph: Geometry, J: float, gamma12: float, channel: str, parameters) -> Point:
    return Point(graph, J, gamma12, channel, parameters=dict(parameters))


def settings_point(settings: Mapping) -> Point:
    """The point a study's point is estimated as (``representative_point``), from its settings.

    ``settings`` are a point's (``Study.point_settings``); keys missing from
    them take the paper's values (relaxation, J = 2, gamma12 = 1/2) and the
    named geometry's edges.
    """
    n = int(settings["n_cells"])
    name = settings.get("geometry")
    edges = settings.get("edges")
    geometry: Geometry | str | None = name  # a named geometry: its name gives its edges
    if name not in NAMED_GEOMETRIES and edges is not None:
        geometry = _geometry(n, tuple(tuple(e) for e in edges), "custom")
    return representative_point(
        n,
        geometry,
        settings.get("channel", "relaxation"),
        settings.get("J", PAPER_J),
        settings.get("gamma12", PAPER_GAMMA12),
        settings.get("n_th"),
    )


@functools.lru_cache(maxsize=65536)
def _geometry(n_cells: int, edges: tuple, name: str) -> Geometry:
    return Geometry(n_cells, edges, name)


def realisations(settings: Mapping) -> int:
    """Number of disorder realisations of a point (1 for a clean point)."""
    value = settings.get("realisations")
    return int(value) if value else 1


def _disordered(settings: Mapping) -> bool:
    return bool(settings.get("W") or settings.get("W_J"))


def _states(settings: Mapping) -> list[str]:
    return list(settings.get("states", PRODUCT_STATES))


def point_seconds(settings: Mapping) -> float:
    """Estimated one-core seconds to simulate a point, all its realisations included."""
    return seconds_estimate(
        settings_point(settings),
        _states(settings),
        settings.get("method", "auto"),
        t_max=float(settings.get("t_max", 10.0)),
        n_points=int(settings.get("n_points", 1001)),
        realisations=realisations(settings),
        disordered=_disordered(settings),
    )


def point_memory_bytes(settings: Mapping) -> int:
    """Peak memory of simulating a point (realisations run one after another)."""
    return memory_estimate(
        settings_point(settings),
        _states(settings),
        settings.get("method", "auto"),
        n_points=int(settings.get("n_points", 1001)),
        realisations=realisations(settings),
        disordered=_disordered(settings),
    )
