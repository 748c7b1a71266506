"""Observables from the symmetry-reduced coordinates of the sector backend.

The same quantities as ``density.Observer`` on the expanded density matrices
(``model.symmetry.SectorBasis``), without forming them: linear maps for the
diagonal, the single-cell coherences, the l1 sum and the two-cell states,
and the spectra block by block (``model.spectral_blocks.SpectralBlocks``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp

from ..linalg import blas_threads, eigvalsh_many
from ..model.geometry import Geometry
from ..model.operators import excitations
from .measures import concurrence, local_ergotropy, passive_and_maximal, spectral_measures

__all__ = ["LazyObservables", "SectorObserver", "cell_coherence_map"]


class LazyObservables(Mapping):
    """Observables of a chunk, computed group by group on first access.

    Iterating (``items()``) computes everything; the event finder's single
    lookups (``observe(...)["energy"]``) compute only what they need.
    """

    def __init__(self, groups: dict[str, str], compute):
        self._groups = groups
        self._compute = compute
        self._values: dict[str, np.ndarray] = {}

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._values:
            if key not in self._groups:
                raise KeyError(key)
            self._values.update(self._compute(self._groups[key]))
        return self._values[key]

    def __iter__(self):
        return iter(self._groups)

    def __len__(self) -> int:
        return len(self._groups)


class SectorObserver:
    """Every stored observable from symmetry-reduced coordinates (``symmetry.SectorBasis``).

    The same quantities as ``Observer`` on the expanded density matrices: linear
    maps for the diagonal, the single-cell coherences, the l1 sum and the
    two-cell states, and the spectrum from the symmetry blocks of
    ``spectral_blocks.SpectralBlocks`` (the ``diagonal`` structure when the chunk has
    no ``q != 0`` content). The dephased state Delta(rho) of the incoherent
    ergotropy is the ``q = 0`` part of the coordinates, so its spectrum is that
    ``diagonal`` structure applied to the ``q = 0`` block alone.
    """

    _GROUPS = {
        "energy": "basic",
        "ergotropy": "spectrum",
        "ergotropy_incoherent": "spectrum",
        "ergotropy_coherent": "spectrum",
        "capacity": "spectrum",
        "ergotropy_local": "basic",
        "coherence": "basic",
        "population": "basic",
        "concurrence": "concurrence",
        "trace_error": "basic",
        "min_eigenvalue": "spectrum",
        "hermiticity_error": "basic",
        "concurrence_mean": "concurrence",
    }

    def __init__(self, geometry: Geometry, basis, blocks):
        self.geometry = geometry
        self.n_cells = geometry.n_cells
        self.basis = basis
        self.blocks = blocks
        self.levels = np.sort(excitations(self.n_cells))
        diagonal = np.unique(basis.diagonal_orbits())
        self._trace = (diagonal, basis.size[diagonal].astype(float))
        own, partner = basis.transpose_partner()
        pair = own <= partner  # each transposed pair once
        self._own, self._partner = own[pair], partner[pair]
        self._q0_end = q0 = basis.q_slices[0].stop
        population = basis.population_map()
        self._cell_coherence = cell_coherence_map(basis)
        coherence = basis.coherence_weights()
        two_cell = basis.two_cell_map(geometry.edges) if geometry.edges else None
        # linear maps on all coordinates, and on the q = 0 ones (states without
        # q != 0 content: full, classical), keyed by ``q0_only``
        self._maps = {
            False: (population, coherence, two_cell),
            True: (
                population[:, :q0],
                coherence[:q0],
                None if two_cell is None else (two_cell[0][:, :q0].tocsr(),) + two_cell[1:],
            ),
        }
        self._diagonal_groups = None
        self._buffers: dict[tuple[int, ...], np.ndarray] = {}
        self.seconds: dict[str, float] = {}  # compute time per group of observables
        self.on_compute = None  # called with ``seconds`` after each computation

    def __call__(self, c: np.ndarray) -> LazyObservables:
        c = np.asarray(c)
        cache: dict = {}

        def coordinates():
            """(c^T, q0_only): the transposed chunk, cut to q = 0 if nothing else is stored."""
            if "ct" not in cache:
                ct = np.ascontiguousarray(c.T)
                q0_only = not ct[self._q0_end :].any()
                cache["ct"] = (ct[: self._q0_end] if q0_only else ct, q0_only)
            return cache["ct"]

        def compute(group: str) -> dict[str, np.ndarray]:
            tick = time.perf_counter()
            ct, q0_only = coordinates()
            if group == "basic":
                values = self._basic(ct, q0_only)
            elif group == "spectrum":
                values = self._spectrum(ct, q0_only)
            else:
                values = self._concurrence(ct, q0_only)
            self.seconds[group] = self.seconds.get(group, 0.0) + time.perf_counter() - tick
            if self.on_compute is not None:
                self.on_compute(self.seconds)
            return values

        return LazyObservables(self._GROUPS, compute)

    def _basic(self, ct, q0_only) -> dict[str, np.ndarray]:
        population_map, coherence_weights, _ = self._maps[q0_only]
        population = np.real(population_map @ ct).T
        if q0_only:  # no q = 1 content: every single-cell state is diagonal
            cells = np.zeros_like(population)
        else:
            cells = (self._cell_coherence @ ct).T
        orbits, weights = self._trace
        trace = weights @ np.real(ct[orbits])
        d = self.basis.dim
        b = ct.shape[1]
        coherence = coherence_weights @ np.abs(ct) / (d - 1) if d > 1 else np.zeros(b)
        if len(self._own):
            hermiticity = np.abs(ct[self._own] - np.conj(ct[self._partner])).max(axis=0)
        else:  # pragma: no cover - q = 0 always has orbits
            hermiticity = np.zeros(b)
        return {
            "energy": population.sum(axis=-1),
            "ergotropy_local": local_ergotropy(population, cells),
            "coherence": coherence,
            "population": population,
            "trace_error": np.abs(trace - 1.0),
            "hermiticity_error": hermiticity,
        }

    def _groups(self, q0_only: bool):
        """``(group, entry_map)`` pairs of the spectral block structure for the chunk."""
        if not q0_only:
            return [(g, g.entry_map) for g in self.blocks.groups("general")]
        if self._diagonal_groups is None:
            q0 = self._q0_end
            self._diagonal_groups = [
                (g, g.entry_map[:, :q0].tocsr()) for g in self.blocks.groups("diagonal")
            ]
        return self._diagonal_groups

    def _buffer(self, shape: tuple[int, ...]) -> np.ndarray:
        """A reused work array (fresh large arrays cost page faults on every chunk)."""
        if shape not in self._buffers:
            if len(self._buffers) > 8:
                self._buffers.clear()
            self._buffers[shape] = np.zeros(shape, dtype=complex)
        return self._buffers[shape]

    def spectrum(self, c: np.ndarray) -> np.ndarray:
        """Eigenvalues of each expanded rho of the chunk ``c`` (B, n_orbits), ascending."""
        ct = np.ascontiguousarray(np.asarray(c).T)
        q0_only = not ct[self._q0_end :].any()
        return self._eigenvalues(ct[: self._q0_end] if q0_only else ct, q0_only)

    def _eigenvalues(self, ct, q0_only) -> np.ndarray:
        b = ct.shape[1]
        groups = self._groups(q0_only)
        stacks = []
        for group, entry_map in groups:
            m, count = group.size, group.count
            values = entry_map @ ct  # (count * m(m+1)/2, B)
            # only the lower triangle is set: eigvalsh(UPLO="L") never reads the rest
            mats = self._buffer((b, count, m, m))
            values = values.reshape(count, -1, b).transpose(2, 0, 1)
            mats[:, :, group.rows, group.cols] = values
            stacks.append(mats.reshape(b * count, m, m))
        with blas_threads.limit(1):
            spectra = eigvalsh_many(stacks)
        parts = []
        for (group, _), ev in zip(groups, spectra, strict=True):
            ev = ev.reshape(b, group.count, group.size)
            parts.append(np.repeat(ev, group.multiplicity, axis=1).reshape(b, -1))
        return np.sort(np.concatenate(parts, axis=1), axis=1)

    def _spectrum(self, ct, q0_only) -> dict[str, np.ndarray]:
        eigenvalues = self._eigenvalues(ct, q0_only)
        # Delta(rho) keeps the q = 0 coordinates: the chunk itself when it has nothing else
        dephased = eigenvalues if q0_only else self._eigenvalues(ct[: self._q0_end], True)
        energy = np.real(self._maps[q0_only][0] @ ct).sum(axis=0)
        passive, maximal = passive_and_maximal(eigenvalues, self.levels)
        return {
            **spectral_measures(energy, passive, maximal, dephased[:, ::-1] @ self.levels),
            "min_eigenvalue": eigenvalues[:, 0],
        }

    def _concurrence(self, ct, q0_only) -> dict[str, np.ndarray]:
        b = ct.shape[1]
        edges = self.geometry.edges
        two_cell = self._maps[q0_only][2]
        if two_cell is None:
            return {"concurrence": np.zeros((b, 0)), "concurrence_mean": np.zeros(b)}
        m, xs, ys = two_cell
        values = (m @ ct).reshape(len(edges), len(xs), b).transpose(2, 0, 1)
        rho2 = np.zeros((b, len(edges), 4, 4), dtype=complex)
        rho2[:, :, ys, xs] = np.conj(values)
        rho2[:, :, xs, ys] = values
        with blas_threads.limit(1):
            conc = concurrence(rho2)
        return {"concurrence": conc, "concurrence_mean": conc.mean(axis=1)}


def cell_coherence_map(basis) -> sp.csr_matrix:
    """``(M @ c)[n] = rho_n[e, g]``: single-cell coherences from reduced coordinates.

    ``rho_n[e, g]`` sums ``rho[i, i - bit_n]`` over the basis states i with cell n
    excited: pairs with ``q = 1``, all stored.
    """
    n, d = basis.n_cells, basis.dim
    index = np.arange(d)
    rows, cols = [], []
    for c in range(n):
        bit = 1 << (n - 1 - c)
        ket = index[(index & bit) != 0]
        rows.append(np.full(len(ket), c))
        cols.append(basis.orbit_of[ket * d + (ket ^ bit)])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    m = sp.csr_matrix((np.ones(len(rows), dtype=complex), (rows, cols)), shape=(n, basis.n_orbits))
    m.sum_duplicates()
    return m
