"""Propagation backends.

Every backend builds the Liouvillian of a point once and propagates all
requested initial states through it, yielding the states on the uniform time
grid in chunks so that memory stays bounded:

``sector`` (the default, ``SectorSolver``)
    the density matrix in symmetry-reduced coordinates (``symmetry``: the
    conserved excitation difference q and the geometry's automorphisms), with
    exact steps for N <= 6 and zvode's Adams method above; observables straight
    from the reduced coordinates, spectra block by block. Chunks are (B, n_orbits).
    Built from the channel's ladder form; a channel that changes q is refused
    (``sector_refusal``), and ``auto`` runs it on the full space instead.

The full-space backends (``FullSpaceSolver``; chunks are (B, d, d)):

``expm``
    exact propagator ``P = exp(L dt)`` (dense) applied step by step to all
    states at once; machine-precision accurate, for small N.
``bdf`` / ``adams``
    QuTiP 5's ``MESolver`` on the prebuilt Liouvillian (variable-order
    multistep integrators with the given tolerances), for larger N.

``evolve(rho, s)`` propagates one state by a short time ``s`` exactly
(``scipy.sparse.linalg.expm_multiply``); the event finder uses it to locate
half-lives on the solution rather than on the grid.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time as _time
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg

from .channels import excitation_difference_violation
from .liouvillian import liouvillian, liouvillian_rows, to_qutip
from .model import Point
from .observables import Observer, SectorObserver, blas_threads
from .states import check_state, density_matrix
from .symmetry import (
    SectorBasis,
    SpectralBlocks,
    automorphism_generators,
    stabilizer_generators,
    state_permutation,
)

# piqs: permutational.PermutationalSolver; sector: SectorSolver (symmetry-reduced default)
METHODS = ("auto", "sector", "expm", "bdf", "adams", "piqs")

# Memory for one chunk of stored states (bytes), before observables.
CHUNK_BYTES = 2**27


def choose_method(n_cells: int, method: str = "auto") -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "auto":
        return "sector"
    return method


def chunk_length(n_cells: int, n_states: int = 1) -> int:
    """Time points per chunk so that a chunk of states holds about CHUNK_BYTES."""
    per_point = 16 * 4**n_cells * n_states
    return int(max(1, min(256, CHUNK_BYTES // per_point)))


class FullSpaceSolver:
    """Propagates density matrices of ``point`` on the full Hilbert space.

    Parameters
    ----------
    point
        The parameter point.
    method
        ``auto``, ``expm``, ``bdf`` or ``adams``.
    rtol, atol
        Integrator tolerances (ignored by ``expm``, which is exact).
    omega0
        Cell frequency in the Hamiltonian; 0 simulates in the rotating frame
        (all reported quantities are independent of it).
    """

    def __init__(
        self,
        point: Point,
        method: str = "auto",
        rtol: float = 1e-8,
        atol: float = 1e-10,
        omega0: float = 0.0,
    ):
        self.point = point
        self.n_cells = point.n_cells
        self.dim = 2**point.n_cells
        self.method = choose_method(point.n_cells, method)
        self.rtol, self.atol = rtol, atol
        start = _time.perf_counter()
        self.generator = liouvillian(point, omega0)
        self._observer = Observer(point.geometry)
        self.stats: dict[str, float | int | str] = {
            "method": self.method,
            "liouvillian_nnz": int(self.generator.nnz),
            "build_seconds": _time.perf_counter() - start,
        }

    def observe(self, rho: np.ndarray) -> dict[str, np.ndarray]:
        """Every stored observable of a chunk of states (B, d, d), plus the link mean."""
        values = self._observer(rho)
        conc = values["concurrence"]
        values["concurrence_mean"] = conc.mean(axis=1) if conc.shape[1] else np.zeros(len(rho))
        return values

    def initial(self, label: str) -> np.ndarray:
        """Dense density matrix of the initial state ``label``."""
        return density_matrix(label, self.n_cells)

    def run(
        self, states: Sequence[str], times: np.ndarray
    ) -> Iterator[tuple[int, slice, np.ndarray]]:
        """Yield ``(state_index, time_slice, rho)`` with ``rho`` of shape (B, d, d)."""
        start = _time.perf_counter()
        if self.method == "expm":
            yield from self._run_expm(states, times)
        else:
            yield from self._run_qutip(states, times)
        self.stats["solve_seconds"] = _time.perf_counter() - start

    def _run_expm(self, states, times):
        d = self.dim
        steps = np.diff(times)
        dt = float(steps[0])
        if not np.allclose(steps, dt, rtol=1e-9, atol=0):
            raise ValueError("the expm method needs a uniform time grid")
        propagator = scipy.linalg.expm(self.generator.toarray() * dt)
        current = np.stack([self.initial(s).ravel() for s in states], axis=1)  # (d^2, S)
        n_chunk = chunk_length(self.n_cells, len(states))
        buffer = np.empty((n_chunk, d * d, len(states)), dtype=complex)
        for first in range(0, len(times), n_chunk):
            last = min(first + n_chunk, len(times))
            for k in range(first, last):
                if k > 0:
                    current = propagator @ current
                buffer[k - first] = current
            block = buffer[: last - first]
            for s in range(len(states)):
                yield s, slice(first, last), block[:, :, s].reshape(-1, d, d)
        self.stats["steps"] = len(times) - 1

    def _run_qutip(self, states, times):
        import qutip  # only this backend needs it (~0.6 s to import)

        d = self.dim
        options = {
            "method": self.method,
            "rtol": self.rtol,
            "atol": self.atol,
            "nsteps": 10**6,
            "store_states": False,
            "progress_bar": "",
        }
        solver = qutip.MESolver(to_qutip(self.generator, self.n_cells), options=options)
        n_chunk = chunk_length(self.n_cells)
        buffer = np.empty((n_chunk, d, d), dtype=complex)
        dims = [[2] * self.n_cells, [2] * self.n_cells]
        for s, label in enumerate(states):
            solver.start(qutip.Qobj(self.initial(label), dims=dims), float(times[0]))
            for first in range(0, len(times), n_chunk):
                last = min(first + n_chunk, len(times))
                for k in range(first, last):
                    if k == 0:
                        buffer[0] = self.initial(label)
                    else:
                        buffer[k - first] = solver.step(float(times[k])).full()
                yield s, slice(first, last), buffer[: last - first]
        self.stats["integrator"] = f"qutip MESolver {self.method}"

    def evolve(self, rho: np.ndarray, duration: float) -> np.ndarray:
        """State ``duration`` after ``rho`` (exact: Krylov-free Taylor expm_multiply)."""
        if duration == 0:
            return rho
        vec = scipy.sparse.linalg.expm_multiply(self.generator * duration, rho.ravel())
        return vec.reshape(self.dim, self.dim)


# ---- symmetry-reduced backend ("sector", the default) ----------------------------

# Reduced dimension up to which a q-block's exact propagator exp(L dt) is formed
# densely; larger blocks step with a truncated Taylor series of machine precision.
DENSE_BLOCK_MAX = 600

# Up to this N the default integrator is exact (dense or Taylor steps); above it
# zvode's Adams method with the given tolerances (about 13x fewer products with L).
EXACT_MAX_CELLS = 6

# Memory of one chunk of the sector backend (states and spectral blocks).
SECTOR_CHUNK_BYTES = int(os.environ.get("QBSD_CHUNK_BYTES", 2**25))

# Above this N the Adams method's atol is scaled by 2^(ATOL_REFERENCE_CELLS - N).
ATOL_REFERENCE_CELLS = 6

# Unit round-off the exact steps are truncated at.
_TAYLOR_TOL = 2.0**-53


def taylor_parameters(norm: float, duration: float, max_degree: int = 40) -> tuple[int, int]:
    """Degree m and substeps s of ``exp(L t) ~ [T_m(L t / s)]^s`` at unit round-off.

    Bound of the remainder with the 1-norm of L: ``theta^(m+1) / (m+1)! <= 2^-53``
    with ``theta = norm * |t| / s <= 1``; the cheapest ``m * s`` is chosen.
    """
    theta_total = abs(norm * duration)
    if theta_total == 0.0:
        return 0, 1
    best = None
    for s in range(max(1, math.ceil(theta_total)), max(1, math.ceil(theta_total)) + 64):
        theta = theta_total / s
        term, m = theta, 1
        while m < max_degree and term * theta / (m + 1) > _TAYLOR_TOL:
            m += 1
            term *= theta / m
        if best is None or m * s < best[0] * best[1]:
            best = (m, s)
        if m <= 2:
            break
    return best


def taylor_step(generator, y: np.ndarray, duration: float, degree: int, substeps: int):
    """``exp(generator * duration) @ y`` by ``substeps`` Taylor polynomials of ``degree``."""
    h = duration / substeps
    for _ in range(substeps):
        term = y
        total = y.copy()
        for j in range(1, degree + 1):
            term = (generator @ term) * (h / j)
            total += term
        y = total
    return y


class SectorSolver:
    """Propagates the symmetry-reduced density matrix (``symmetry.SectorBasis``).

    rho(t) is stored by one number per orbit of index pairs with ``q >= 0``
    under the geometry's automorphisms; the reduced Liouvillian acts on that
    vector, block by block in q, only on the blocks where a state has content
    (``full`` and ``classical`` live in ``q = 0``). Observables come from the
    reduced coordinates directly (``observables.SectorObserver``); the full
    density matrix is never formed.

    Integrators (``integrator``): ``exact`` (dense exp(L dt) for small blocks,
    Taylor steps at unit round-off otherwise; default for N <= EXACT_MAX_CELLS)
    or ``adams`` (zvode's variable-order Adams method with ``rtol`` and
    ``atol * 2^(6 - N)`` above N = 6, about 1.5 products with L per output step
    against 13; default above).
    The integration runs in a background thread, one chunk ahead of the
    observables.
    """

    def __init__(
        self,
        point: Point,
        method: str = "sector",
        rtol: float = 1e-8,
        atol: float = 1e-10,
        omega0: float = 0.0,
        integrator: str = "auto",
    ):
        if integrator not in ("auto", "exact", "adams"):
            raise ValueError(f"integrator must be auto, exact or adams, got {integrator!r}")
        refusal = sector_refusal(point)
        if refusal:
            raise ValueError(
                f"the sector method needs a generator that conserves the excitation "
                f"difference q: {refusal}. Use method 'auto', 'expm', 'bdf' or 'adams'"
            )
        self.point = point
        self.n_cells = point.n_cells
        self.dim = 2**point.n_cells
        self.method = "sector"
        self.rtol, self.atol = rtol, atol
        # atol bounds the error of entries of rho, which scale as 2^-N, while the
        # ergotropy sums the errors of 2^N eigenvalues: tighten it with N
        # (measured at N = 9: 1.4e-7 in the ergotropy with atol 1e-10, 4e-9 with 1e-12)
        self.atol_effective = atol * min(1.0, 2.0 ** (ATOL_REFERENCE_CELLS - point.n_cells))
        self.omega0 = omega0
        if integrator == "auto":
            integrator = "exact" if point.n_cells <= EXACT_MAX_CELLS else "adams"
        self.integrator = integrator
        start = _time.perf_counter()
        # disorder keeps U(1) (it conserves excitations) but only the
        # automorphisms that map it onto itself: none, for random disorder
        generators = [g for g in automorphism_generators(point.geometry) if point.preserves(g)]
        self._point_generators = generators
        self._setup(generators)
        self.stats["build_seconds"] = _time.perf_counter() - start

    def _setup(self, generators) -> None:
        basis = SectorBasis(self.n_cells, generators)
        # the ladder form keeps every entry inside its q-block (checked in __init__)
        rows = liouvillian_rows(self.point, basis.reps, self.omega0, ladder=True)
        self.basis = basis
        self.generator = basis.reduce_rows(*rows)
        self._norm = float(abs(self.generator).sum(axis=0).max()) if self.generator.nnz else 0.0
        self._blocks = SpectralBlocks(basis)
        self._observer = SectorObserver(self.point.geometry, basis, self._blocks)
        self._observer.on_compute = self._count_observe
        self._block_generators: dict[tuple[int, int], sp.csr_matrix] = {}
        self._evolve_cache: dict[int, tuple] = {}
        self.stats: dict[str, float | int | str] = {
            "method": self.method,
            "integrator": self.integrator,
            "symmetry_generators": str(basis.generators),
            "reduced_dimension": int(basis.n_orbits),
            "full_dimension": int(self.dim**2),
            "liouvillian_rows_nnz": int(len(rows[0])),
            "reduced_nnz": int(self.generator.nnz),
            "spectral_blocks": str(self._blocks.block_sizes("general")),
            "blocks_checked": int(self._blocks.checked),
        }

    def _count_observe(self, seconds: dict[str, float]) -> None:
        for group, value in seconds.items():
            self.stats[f"observe_{group}_seconds"] = value

    def initial(self, label: str) -> np.ndarray:
        """Reduced coordinates of the initial state ``label`` (its entries at the representatives).

        Raises ``ValueError`` if the state is not invariant under the basis' group
        (``run`` first reduces the group to the states' stabilizer).
        """
        state = check_state(label, self.n_cells)
        n = self.n_cells
        if not all(
            state.invariant_under(state_permutation(g, n), n) for g in self.basis.generators
        ):
            raise ValueError(
                f"initial state {label!r} is not invariant under the automorphisms "
                f"{self.basis.generators} of this sector basis"
            )
        reps = self.basis.reps
        return state.entries(n, reps // self.dim, reps % self.dim)

    def fit_group(self, states: Sequence[str]) -> None:
        """Keep only the automorphisms that leave every initial state invariant.

        Products, ``ghz`` and ``dicke`` are invariant under every permutation of
        the cells; ``singlet_pairs`` only under those that map its pairs onto
        pairs (``symmetry.stabilizer_generators``). U(1) holds for every state.
        """
        n = self.n_cells
        parsed = [check_state(label, n) for label in states]

        def keeps_states(g) -> bool:
            image = state_permutation(g, n)
            return all(s.invariant_under(image, n) for s in parsed)

        generators = stabilizer_generators(self._point_generators, n, keeps_states)
        if generators != self.basis.generators:
            self._setup(generators)

    def observe(self, chunk: np.ndarray):
        """Every stored observable of a chunk of reduced states (B, n_orbits), plus the link mean.

        A mapping computed on access (the event finder asks for one series).
        """
        return self._observer(chunk)

    def expand(self, chunk: np.ndarray) -> np.ndarray:
        """Full density matrices (B, d, d) of a chunk (for checks)."""
        return self.basis.expand(chunk)

    def chunk_length(self, n_states: int) -> int:
        """Time points per chunk: its states and spectral blocks in about SECTOR_CHUNK_BYTES.

        Small chunks keep the temporaries on the heap (no page faults from fresh
        mmaps); at least 4 points so that the spectra split over the threads.
        """
        blocks = sum(m * m for m, _ in self._blocks.block_sizes("general"))
        per_point = 16 * (self.basis.n_orbits * max(1, n_states) + blocks)
        return int(max(4, min(256, SECTOR_CHUNK_BYTES // per_point)))

    def _block_generator(self, sl: slice) -> sp.csr_matrix:
        key = (sl.start, sl.stop)
        if key not in self._block_generators:
            self._block_generators[key] = self.generator[sl, sl].tocsr()
        return self._block_generators[key]

    # ---- propagation ---------------------------------------------------------
    def run(
        self, states: Sequence[str], times: np.ndarray
    ) -> Iterator[tuple[int, slice, np.ndarray]]:
        """Yield ``(state_index, time_slice, chunk)`` with ``chunk`` of shape (B, n_orbits)."""
        start = _time.perf_counter()
        generators = self.basis.generators
        self.fit_group(states)
        if self.basis.generators != generators:
            self.stats["build_seconds"] = _time.perf_counter() - start
        x0 = [self.initial(label) for label in states]
        units = self._units(x0)
        times = np.asarray(times, dtype=float)
        if self.integrator == "exact":
            steps = self._exact_steps(units, x0, times)
        else:
            steps = self._adams_steps(units, x0, times)
        n_chunk = self.chunk_length(len(states))

        busy = [0.0]

        def chunks():
            for first in range(0, len(times), n_chunk):
                tick = _time.perf_counter()
                last = min(first + n_chunk, len(times))
                # (n_orbits, B) buffers: the observables read the transposed layout
                out = [np.zeros((self.basis.n_orbits, last - first), dtype=complex) for _ in x0]
                for k in range(first, last):
                    values = next(steps)
                    for (sl, members), y in zip(units, values, strict=True):
                        for j, s in enumerate(members):
                            out[s][sl, k - first] = y[:, j]
                busy[0] += _time.perf_counter() - tick
                yield first, last, out

        self.stats["chunk_length"] = n_chunk
        with blas_threads.limit(1):
            for first, last, out in _ahead(chunks()):
                for s, chunk in enumerate(out):
                    yield s, slice(first, last), chunk.T
        # the integrator runs in its own thread, overlapped with the observables
        self.stats["integrate_seconds"] = busy[0]
        self.stats["solve_seconds"] = _time.perf_counter() - start

    def _units(self, x0) -> list[tuple[slice, list[int]]]:
        """q-blocks with content and the states that have it (merged for ``adams``)."""
        units: list[tuple[slice, list[int]]] = []
        for sl in self.basis.q_slices.values():
            members = [s for s, x in enumerate(x0) if np.any(x[sl])]
            if not members:
                continue
            if (
                self.integrator == "adams"
                and units
                and units[-1][1] == members
                and units[-1][0].stop == sl.start
            ):
                units[-1] = (slice(units[-1][0].start, sl.stop), members)
            else:
                units.append((sl, members))
        return units

    def _exact_steps(self, units, x0, times):
        steps = np.diff(times)
        uniform = len(steps) > 0 and np.allclose(steps, steps[0], rtol=1e-12, atol=0)
        movers = []
        for sl, _ in units:
            generator = self._block_generator(sl)
            norm = float(abs(generator).sum(axis=0).max()) if generator.nnz else 0.0
            n = sl.stop - sl.start
            if uniform and n <= DENSE_BLOCK_MAX:
                # exp(L dt) column by column from the same Taylor sum (3x faster
                # than scipy.linalg.expm on the dense block, equal to 2e-16)
                m, s = taylor_parameters(norm, steps[0])
                propagator = taylor_step(generator, np.eye(n, dtype=complex), steps[0], m, s)
                movers.append(lambda y, dt, p=propagator: p @ y)
            else:

                def move(y, dt, g=generator, norm=norm):
                    m, s = taylor_parameters(norm, dt)
                    return taylor_step(g, y, dt, m, s)

                movers.append(move)
        self.stats["integrator"] = "exact: Taylor at 2^-53 (dense exp(L dt) per small q-block)"
        self.stats["steps"] = len(steps)
        values = [np.stack([x0[s][sl] for s in members], axis=1) for sl, members in units]
        yield values
        for dt in steps:
            values = [move(y, dt) for move, y in zip(movers, values, strict=True)]
            yield values

    def _adams_steps(self, units, x0, times):
        # zvode keeps its state in Fortran common blocks: one integration per
        # process at a time; a concurrent one steps exactly instead
        if not _ZVODE_LOCK.acquire(blocking=False):
            yield from self._exact_steps(units, x0, times)
            return
        try:
            yield from self._zvode_steps(units, x0, times)
        finally:
            _ZVODE_LOCK.release()

    def _zvode_steps(self, units, x0, times):
        from scipy.integrate import ode

        blocks = [(self._block_generator(sl), sl.stop - sl.start, len(m)) for sl, m in units]
        bounds = np.cumsum([0] + [n * k for _, n, k in blocks])
        evaluations = [0]

        def rhs(t, y):
            evaluations[0] += 1
            out = np.empty_like(y)
            for (g, n, k), a, b in zip(blocks, bounds[:-1], bounds[1:], strict=True):
                if k == 1:
                    out[a:b] = g @ y[a:b]
                else:
                    out[a:b] = (g @ y[a:b].reshape(n, k)).ravel()
            return out

        def split(y):
            return [
                y[a:b].reshape(n, k)
                for (_, n, k), a, b in zip(blocks, bounds[:-1], bounds[1:], strict=True)
            ]

        y0 = np.concatenate(
            [np.stack([x0[s][sl] for s in members], axis=1).ravel() for sl, members in units]
        )
        solver = ode(rhs).set_integrator(
            "zvode", method="adams", rtol=self.rtol, atol=self.atol_effective, nsteps=10**8
        )
        solver.set_initial_value(y0, float(times[0]))
        self.stats["integrator"] = f"zvode adams rtol={self.rtol:g} atol={self.atol_effective:g}"
        yield split(y0)
        for t in times[1:]:
            y = solver.integrate(float(t))
            if not solver.successful():
                raise RuntimeError(f"zvode (adams) failed at t = {solver.t:g} before {t:g}")
            self.stats["rhs_evaluations"] = evaluations[0]
            yield split(y)

    # ---- exact short propagation for the event finder --------------------------
    def evolve(self, x: np.ndarray, duration: float) -> np.ndarray:
        """State ``duration`` after the reduced state ``x``, at unit round-off.

        Taylor polynomials of degree 14 about nodes spaced ``h`` with
        ``||L||_1 h <= 1/2``: the coefficients are computed once per starting
        state and node, so the many evaluations of a root search cost a Horner
        sum each.
        """
        if duration == 0:
            return x
        if duration < 0:
            raise ValueError("evolve needs a non-negative duration")
        entry = self._evolve_cache.get(id(x))
        if entry is None or entry[0] is not x:
            if len(self._evolve_cache) >= 8:
                self._evolve_cache.clear()
            entry = (x, {})
            self._evolve_cache[id(x)] = entry
        nodes = entry[1]
        h = 0.5 / self._norm if self._norm > 0 else np.inf
        j = int(duration // h) if np.isfinite(h) else 0
        if 0 not in nodes:
            nodes[0] = self._taylor_coefficients(x)
        for i in range(1, j + 1):
            if i not in nodes:
                nodes[i] = self._taylor_coefficients(self._horner(nodes[i - 1], h))
        return self._horner(nodes[j], duration - j * h if j else duration)

    _EVOLVE_DEGREE = 14  # (1/2)^15 / 15! ~ 2e-17

    def _taylor_coefficients(self, x):
        parts = []
        for sl in self.basis.q_slices.values():
            if not np.any(x[sl]):
                continue
            g = self._block_generator(sl)
            terms = [x[sl].copy()]
            for k in range(1, self._EVOLVE_DEGREE + 1):
                terms.append((g @ terms[-1]) / k)
            parts.append((sl, terms))
        return x.shape, x.dtype, parts

    @staticmethod
    def _horner(coefficients, tau: float) -> np.ndarray:
        shape, dtype, parts = coefficients
        out = np.zeros(shape, dtype=np.result_type(dtype, complex))
        for sl, terms in parts:
            total = terms[-1].copy()
            for term in terms[-2::-1]:
                total *= tau
                total += term
            out[sl] = total
        return out


_DONE = object()
_ZVODE_LOCK = threading.Lock()


def _ahead(iterator, depth: int = 2):
    """Run ``iterator`` in a background thread, ``depth`` items ahead of the consumer."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as error:  # handed to the consumer
            items.put(error)

    thread = threading.Thread(target=produce, name="qbsd-integrator", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def sector_refusal(point: Point) -> str | None:
    """Why the sector backend cannot run ``point`` (None: it can).

    It needs the U(1) symmetry: a channel whose ladder form has a term that
    changes ``q = n(ket) - n(bra)`` (``channels.excitation_difference_violation``)
    is refused. The graph automorphisms need nothing from the channel: every
    Kossakowski matrix is ``I`` or ``I + gamma12 A``, invariant under them.
    """
    return excitation_difference_violation(point)


# Cells up to which the full-space fallback of ``auto`` uses the exact propagator.
FALLBACK_EXPM_MAX_CELLS = 5


def make_solver(
    point: Point, method: str = "auto", *, states: Sequence[str] = (), **options
) -> FullSpaceSolver:
    """The solver backend for ``point``: every backend has ``run``, ``observe``, ``evolve``.

    ``run(states, times)`` yields ``(state_index, time_slice, chunk)``;
    ``observe(chunk)`` returns the observables of a chunk (leading dim B);
    ``evolve(one_state, s)`` propagates one state of the chunk by ``s``.
    ``auto`` takes the first backend that can run the point and the initial
    ``states``: the Dicke basis (large symmetric points, permutation-symmetric
    states), the sector backend, the full space (``expm`` up to
    FALLBACK_EXPM_MAX_CELLS cells, ``adams`` above).
    """
    # --- permutation-invariant backend: "piqs", or "auto" for large symmetric N
    from .permutational import PermutationalSolver, accepts_state, wants_permutational

    takes_states = method == "piqs" or all(accepts_state(label) for label in states)
    if wants_permutational(point, method) and takes_states:
        return PermutationalSolver(point, method=method, **options)
    # --- end permutation-invariant backend
    if method == "sector" or (method == "auto" and sector_refusal(point) is None):
        return SectorSolver(point, method="sector", **options)
    if method == "auto":
        options.pop("integrator", None)
        method = "expm" if point.n_cells <= FALLBACK_EXPM_MAX_CELLS else "adams"
        solver = FullSpaceSolver(point, method=method, **options)
        solver.stats["fallback"] = sector_refusal(point)
        return solver
    return FullSpaceSolver(point, method=method, **options)
