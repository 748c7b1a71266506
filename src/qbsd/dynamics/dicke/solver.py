"""The Dicke-basis backend (``method = "piqs"``): permutation-invariant points.

``PermutationalSolver.supports`` says which points and initial states it can
run (complete graph or uncoupled cells, no disorder, a channel with Dicke
rates, permutation-symmetric states); ``method="auto"`` takes it for such
points with more than ``FULL_SPACE_MAX_CELLS`` cells.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterator, Sequence

import numpy as np

from ...model.point import Point
from ..chunks import chunk_length
from .basis import (
    DickeBasis,
    DickeRates,
    channel_refusal,
    dissipator_matrix,
    hamiltonian_phase,
    is_permutation_invariant,
    split_levels,
)
from .observer import DickeObserver
from .propagator import TaylorExp
from .states import initial_state, is_compact, state_refusal

# ``method="auto"`` uses this backend for permutation-invariant points with
# more cells than this; the symmetry-reduced density matrix stays the default
# up to here.
FULL_SPACE_MAX_CELLS = 8

# Degeneracies d_j ~ 2^N / N are held as floats: beyond this N they overflow.
MAX_CELLS = 1000


def point_refusal(point: Point) -> str | None:
    """Why this backend cannot run ``point`` (None: it can), naming what to use instead."""
    if point.disordered:
        return (
            f"the permutation-invariant solver (method 'piqs') takes no disorder: a point "
            f"with detunings or coupling offsets (W > 0 or W_J > 0) is not "
            f"permutation-invariant (geometry={point.geometry.label}, "
            f"n_cells={point.n_cells}). Use method 'auto' or 'sector' (symmetry-reduced), "
            f"or 'expm', 'bdf', 'adams' for this point"
        )
    if not is_permutation_invariant(point):
        return (
            f"the permutation-invariant solver (method 'piqs') needs the all-to-all "
            f"geometry (every pair of cells linked, geometry 'symmetric') or uncoupled cells "
            f"(J = 0 and gamma12 = 0); got geometry={point.geometry.label}, "
            f"n_cells={point.n_cells}, J={point.J:g}, gamma12={point.gamma12:g}. "
            f"Use method 'auto', 'expm', 'bdf' or 'adams' for this point"
        )
    if point.n_cells > MAX_CELLS:
        return (
            f"n_cells={point.n_cells}: the permutation-invariant solver holds the spin "
            f"multiplicities d_j ~ 2^N/N as floats and supports n_cells <= {MAX_CELLS}"
        )
    refusal = channel_refusal(point)
    if refusal:
        return (
            f"the permutation-invariant solver (method 'piqs') runs channels made of "
            f"emission, pumping and dephasing, local and collective: {refusal}. Use method "
            f"'auto', 'expm', 'bdf' or 'adams' for this point"
        )
    return None


class PermutationalSolver:
    """Solver backend for permutation-invariant points (``method = "piqs"``).

    The interface of ``dynamics.backend.Backend``: ``run`` yields chunks of
    states (here Dicke-basis vectors ``w``, shape (B, n0) real for states
    diagonal in the Dicke basis, (B, n) complex otherwise), ``observe`` turns
    a chunk into the stored observables, ``evolve`` propagates one state.
    The propagation is exact to double precision (``propagator.TaylorExp``),
    so the backend takes no integrator tolerances.

    Parameters
    ----------
    point
        A permutation-invariant point (complete graph, or uncoupled cells).
    method
        Must be ``"piqs"`` or ``"auto"``.
    omega0
        Cell frequency (0: rotating frame).
    """

    name = "dicke"
    methods = ("piqs",)
    #: ``auto`` takes this backend from this many cells on (when it supports the point).
    auto_min_cells = FULL_SPACE_MAX_CELLS + 1
    options = ("omega0",)

    @classmethod
    def supports(cls, point: Point, states: Sequence[str] = ()) -> str | None:
        """Why this backend cannot run ``point`` from ``states`` (None: it can)."""
        return point_refusal(point) or next(
            (r for r in (state_refusal(label) for label in states) if r), None
        )

    @classmethod
    def auto_method(cls, point: Point) -> str:
        return "piqs"

    def __init__(self, point: Point, method: str = "piqs", omega0: float = 0.0):
        if method not in ("piqs", "auto"):
            raise ValueError(f"PermutationalSolver runs method 'piqs', got {method!r}")
        refusal = point_refusal(point)
        if refusal:
            raise ValueError(refusal)
        start = _time.perf_counter()
        self.point = point
        self.n_cells = point.n_cells
        self.method = "piqs"
        self.rates = DickeRates.of(point)
        self.basis = b = DickeBasis(point.n_cells)
        self.generator = dissipator_matrix(b, self.rates)
        self.phase = hamiltonian_phase(b, point.J, omega0)
        # Along a lowering (m, m1) -> (m-1, m1-1) the phase changes by -2 J q.
        self.omega = 2.0 * point.J * b.q
        self._d0, self._dlow, self._draise = split_levels(b, self.generator)
        self._observer = DickeObserver(b, len(point.geometry.edges))
        n0 = b.n0
        self._zero = TaylorExp(
            self._d0[:n0, :n0], self._dlow[:n0, :n0], draise=self._draise[:n0, :n0]
        )
        self._groups = self._make_groups()
        self.stats: dict[str, float | int | str] = {
            "method": self.method,
            "representation": "Dicke basis (qutip.piqs coefficients, double precision)",
            "dicke_elements": int(b.size),
            "liouvillian_nnz": int(self.generator.nnz),
            "rates": str(self.rates.as_dict()),
            "build_seconds": _time.perf_counter() - start,
        }

    def _make_groups(self) -> list[tuple[int, int, TaylorExp]]:
        """The q > 0 blocks in groups ``q_lo..q_hi`` with ``q_hi <= 1.5 q_lo``.

        Each group has its own shift and Taylor parameters; its largest
        lowering frequency ``2 J q_hi`` sets how many terms of the phase series
        each order needs. Trailing groups with few elements are merged.
        """
        b = self.basis
        ranges, q = [], 1
        while q <= b.n_cells:
            q_hi = min(b.n_cells, max(q, int(1.5 * q)))
            ranges.append([q, q_hi])
            q = q_hi + 1
        merged = []
        for q_lo, q_hi in ranges:
            size = b.q_offsets[q_hi + 1] - b.q_offsets[q_lo]
            if merged and size < 256:
                merged[-1][1] = q_hi
            else:
                merged.append([q_lo, q_hi])
        built = []
        for q_lo, q_hi in merged:
            lo, hi = int(b.q_offsets[q_lo]), int(b.q_offsets[q_hi + 1])
            sub = slice(lo, hi)
            taylor = TaylorExp(
                self._d0[sub, sub],
                self._dlow[sub, sub],
                self.phase[sub],
                self.omega[sub],
                draise=self._draise[sub, sub],
            )
            built.append((lo, hi, taylor))
        return built

    # ----- states
    def initial(self, label: str) -> np.ndarray:
        return initial_state(label, self.basis)

    def _propagate(self, x0: np.ndarray, xq: np.ndarray | None, t: float, params=None):
        x0 = self._zero(x0, t, params[0] if params else None)
        if xq is not None:
            out = np.empty_like(xq)
            n0 = self.basis.n0
            for g, (lo, hi, taylor) in enumerate(self._groups):
                out[lo - n0 : hi - n0] = taylor(
                    xq[lo - n0 : hi - n0], t, params[1][g] if params else None
                )
            xq = out
        return x0, xq

    def evolve(self, state: np.ndarray, duration: float) -> np.ndarray:
        """The state ``duration`` after ``state`` (exact to double precision)."""
        if duration == 0:
            return state
        n0 = self.basis.n0
        if is_compact(state, self.basis):
            x0, _ = self._propagate(state[:, None], None, duration)
            return x0[:, 0]
        x0, xq = self._propagate(state[:n0].real[:, None], state[n0:, None], duration)
        return np.concatenate([x0[:, 0], xq[:, 0]]).astype(complex)

    def observe(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """Every stored observable of a chunk of states (leading dim B)."""
        return self._observer(chunk)

    def run(
        self, states: Sequence[str], times: np.ndarray
    ) -> Iterator[tuple[int, slice, np.ndarray]]:
        """Yield ``(state_index, time_slice, w)`` chunk by chunk on a uniform grid."""
        start = _time.perf_counter()
        steps = np.diff(times)
        dt = float(steps[0])
        if not np.allclose(steps, dt, rtol=1e-9, atol=0):
            raise ValueError("the piqs method needs a uniform time grid")
        b = self.basis
        n0 = b.n0
        init = [self.initial(s) for s in states]
        compact = [is_compact(x, b) for x in init]
        coherent = [s for s, c in enumerate(compact) if not c]
        x0 = np.stack([x[:n0].real for x in init], axis=1)
        xq = np.stack([init[s][n0:] for s in coherent], axis=1) if coherent else None
        params = (self._zero.parameters(dt), [g[2].parameters(dt) for g in self._groups])
        per_point = sum(8 * n0 if c else 16 * b.size for c in compact)
        n_chunk = chunk_length(per_point)
        buffers = [
            np.empty((n_chunk, n0)) if c else np.empty((n_chunk, b.size), dtype=complex)
            for c in compact
        ]
        for first in range(0, len(times), n_chunk):
            last = min(first + n_chunk, len(times))
            for k in range(first, last):
                if k > 0:
                    x0, xq = self._propagate(x0, xq, dt, params)
                for s, buf in enumerate(buffers):
                    if compact[s]:
                        buf[k - first] = x0[:, s]
                    else:
                        buf[k - first, :n0] = x0[:, s]
                        buf[k - first, n0:] = xq[:, coherent.index(s)]
            for s, buf in enumerate(buffers):
                yield s, slice(first, last), buf[: last - first]
        self.stats["steps"] = len(times) - 1
        self.stats["taylor_zero_block"] = str(params[0])
        self.stats["taylor_groups"] = len(self._groups)
        self.stats["matvecs"] = int(self._zero.matvecs + sum(g[2].matvecs for g in self._groups))
        self.stats["solve_seconds"] = _time.perf_counter() - start
