"""The symmetry-reduced backend (``sector``, the default of ``auto`` up to large N).

The density matrix in symmetry-reduced coordinates (``model.symmetry``: the
conserved excitation difference q and the geometry's automorphisms), with
exact Taylor steps (``taylor``) for N <= ``EXACT_MAX_CELLS`` and zvode's Adams
method above; observables straight from the reduced coordinates
(``observables.sector``), spectra block by block. Chunks are (B, n_orbits).
Built from the channel's ladder form; a channel that changes q is refused
(``sector_refusal``), and ``auto`` then passes the point to the next backend.
"""

from __future__ import annotations

import threading
import time as _time
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

from ..linalg import blas_threads
from ..model.channels import excitation_difference_violation
from ..model.liouvillian import liouvillian_rows
from ..model.point import Point
from ..model.spectral_blocks import SpectralBlocks
from ..model.states import check_state
from ..model.symmetry import (
    SectorBasis,
    automorphism_generators,
    stabilizer_generators,
    state_permutation,
)
from ..observables.sector import SectorObserver
from .chunks import ahead, chunk_length
from .taylor import degree_for, expm_multiply, one_norm

# Reduced dimension up to which a q-block's exact propagator exp(L dt) is formed
# densely; larger blocks step with a truncated Taylor series of machine precision.
DENSE_BLOCK_MAX = 600

# Up to this N the default integrator is exact (dense or Taylor steps); above it
# zvode's Adams method with the given tolerances (about 13x fewer products with L).
EXACT_MAX_CELLS = 6

# Above this N the Adams method's atol is scaled by 2^(ATOL_REFERENCE_CELLS - N).
ATOL_REFERENCE_CELLS = 6

# The generator is not shifted: each Taylor substep keeps ||tau L||_1 below this,
# so that no term of a substep grows far above its result.
MAX_THETA = 1.0

# The exact steps sum every term of the degree: on the unshifted generator an early
# stop saves a term or two but its norm passes cost more (15-25% of the steps,
# measured at N = 6, linear chain, one state).
EARLY_STOP = False

# ``evolve``: Taylor polynomials about nodes spaced h with ||L||_1 h <= EVOLVE_THETA,
# of the degree that covers it at unit round-off (14).
EVOLVE_THETA = 0.5

# zvode keeps its state in Fortran common blocks: one integration per process at a time.
_ZVODE_LOCK = threading.Lock()


def sector_refusal(point: Point) -> str | None:
    """Why the sector backend cannot run ``point`` (None: it can).

    It needs the U(1) symmetry: a channel whose ladder form has a term that
    changes ``q = n(ket) - n(bra)`` (``channels.excitation_difference_violation``)
    is refused. The graph automorphisms need nothing from the channel: every
    Kossakowski matrix is ``I`` or ``I + gamma12 A``, invariant under them.
    """
    return excitation_difference_violation(point)


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
    observables (``chunks.ahead``).
    """

    name = "sector"
    methods = ("sector",)
    auto_min_cells = 1
    options = ("rtol", "atol", "omega0", "integrator")

    @classmethod
    def supports(cls, point: Point, states: Sequence[str] = ()) -> str | None:
        """Why this backend cannot run ``point`` (None: it can); it takes every state.

        The basis keeps only the automorphisms that leave the initial states
        invariant (``fit_group``), so no state is refused.
        """
        refusal = sector_refusal(point)
        if refusal is None:
            return None
        return (
            f"the sector method needs a generator that conserves the excitation "
            f"difference q: {refusal}. Use method 'auto', 'expm', 'bdf' or 'adams'"
        )

    @classmethod
    def auto_method(cls, point: Point) -> str:
        return "sector"

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
        refusal = self.supports(point)
        if refusal:
            raise ValueError(refusal)
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
        self._norm = one_norm(self.generator)
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
        """Time points per chunk (``chunks.chunk_length``): its states and spectral blocks.

        At least 4 points, so that the spectra split over the threads.
        """
        blocks = sum(m * m for m, _ in self._blocks.block_sizes("general"))
        per_point = 16 * (self.basis.n_orbits * max(1, n_states) + blocks)
        return chunk_length(per_point, minimum=4)

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
            for first, last, out in ahead(chunks()):
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
            norm = one_norm(generator)
            n = sl.stop - sl.start
            if uniform and n <= DENSE_BLOCK_MAX:
                # exp(L dt) column by column from the same Taylor sum (3x faster
                # than scipy.linalg.expm on the dense block, equal to 2e-16)
                propagator = expm_multiply(
                    generator, np.eye(n, dtype=complex), steps[0], norm, MAX_THETA, EARLY_STOP
                )
                movers.append(lambda y, dt, p=propagator: p @ y)
            else:
                movers.append(
                    lambda y, dt, g=generator, a=norm: expm_multiply(
                        g, y, dt, a, MAX_THETA, EARLY_STOP
                    )
                )
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

        Taylor polynomials about nodes spaced ``h`` with ``||L||_1 h <=
        EVOLVE_THETA``, of the degree ``taylor.THETA`` gives for it (14): the
        coefficients are computed once per starting state and node, so the many
        evaluations of a root search cost a Horner sum each.
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
        h = EVOLVE_THETA / self._norm if self._norm > 0 else np.inf
        j = int(duration // h) if np.isfinite(h) else 0
        if 0 not in nodes:
            nodes[0] = self._taylor_coefficients(x)
        for i in range(1, j + 1):
            if i not in nodes:
                nodes[i] = self._taylor_coefficients(self._horner(nodes[i - 1], h))
        return self._horner(nodes[j], duration - j * h if j else duration)

    _EVOLVE_DEGREE = degree_for(EVOLVE_THETA)  # 14: (1/2)^15 / 15! ~ 2e-17

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
