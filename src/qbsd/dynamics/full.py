"""The full-space backend: density matrices of all 4^N entries.

``expm``
    exact propagator ``P = exp(L dt)`` (dense) applied step by step to all
    states at once; machine-precision accurate, for small N.
``bdf`` / ``adams``
    QuTiP 5's ``MESolver`` on the prebuilt Liouvillian (variable-order
    multistep integrators with the given tolerances), for larger N.

It runs every point and every initial state, so ``method="auto"`` falls back
to it when no reduced backend supports a point (``expm`` up to
``FALLBACK_EXPM_MAX_CELLS`` cells, ``adams`` above). Chunks are (B, d, d).
``evolve(rho, s)`` propagates one state by a short time ``s`` exactly
(``taylor.expm_multiply``); the event finder uses it to locate half-lives on
the solution rather than on the grid.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterator, Sequence

import numpy as np
import scipy.linalg

from ..model.liouvillian import liouvillian, to_qutip
from ..model.point import Point
from ..model.states import density_matrix
from ..observables.density import Observer
from .chunks import chunk_length
from .taylor import expm_multiply, one_norm

# Cells up to which ``auto`` on this backend uses the exact propagator.
FALLBACK_EXPM_MAX_CELLS = 5


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

    name = "full"
    methods = ("expm", "bdf", "adams")
    auto_min_cells = 1
    options = ("rtol", "atol", "omega0")

    @classmethod
    def supports(cls, point: Point, states: Sequence[str] = ()) -> str | None:
        """Every point and every initial state (None): only memory limits this backend."""
        return None

    @classmethod
    def auto_method(cls, point: Point) -> str:
        """``expm`` up to ``FALLBACK_EXPM_MAX_CELLS`` cells, ``adams`` above."""
        return "expm" if point.n_cells <= FALLBACK_EXPM_MAX_CELLS else "adams"

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
        if method == "auto":
            method = self.auto_method(point)
        if method not in self.methods:
            raise ValueError(
                f"FullSpaceSolver runs method auto, {', '.join(self.methods)}, got {method!r}"
            )
        self.method = method
        self.rtol, self.atol = rtol, atol
        start = _time.perf_counter()
        self.generator = liouvillian(point, omega0)
        self._norm = one_norm(self.generator)
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
        n_chunk = chunk_length(16 * d * d * len(states))
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
        n_chunk = chunk_length(16 * d * d)
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
        """State ``duration`` after ``rho``, at unit round-off (``taylor.expm_multiply``)."""
        if duration == 0:
            return rho
        vec = expm_multiply(self.generator, rho.ravel().astype(complex), duration, self._norm)
        return vec.reshape(self.dim, self.dim)
