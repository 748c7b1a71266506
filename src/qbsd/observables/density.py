"""Observables of stacks of full density matrices, vectorised over time points.

Every function takes ``rho`` of shape ``(B, d, d)`` (a chunk of B time points,
``d = 2^N``) and never loops over time in Python. The formulas that turn the
spectra and reduced states into the stored measures are those of
``measures``, shared with the sector and Dicke observers.
"""

from __future__ import annotations

import string

import numpy as np

from ..linalg import blas_threads, eigvalsh_batched, eigvalsh_many
from ..model.geometry import Geometry
from ..model.operators import cell_bits, excitations
from .measures import concurrence, local_ergotropy, passive_and_maximal, spectral_measures

__all__ = ["Observer", "concurrence", "l1_coherence", "spectrum", "two_cell_states"]


def spectrum(rho: np.ndarray) -> np.ndarray:
    """Eigenvalues of each (Hermitian) rho, ascending, shape (B, d)."""
    with blas_threads.limit(1):
        return eigvalsh_batched(np.asarray(rho))


def populations(diagonal: np.ndarray, n_cells: int) -> np.ndarray:
    """Excited population of each cell, shape (B, N), from the diagonals (B, d)."""
    return diagonal @ cell_bits(n_cells).T


def l1_coherence(rho: np.ndarray) -> np.ndarray:
    """Normalised l1 coherence sum_{i != j} |rho_ij| / (d - 1) in the computational basis."""
    d = rho.shape[-1]
    if d == 1:
        return np.zeros(rho.shape[0])
    total = np.abs(rho).sum(axis=(-2, -1))
    diagonal = np.abs(np.diagonal(rho, axis1=-2, axis2=-1)).sum(axis=-1)
    return (total - diagonal) / (d - 1)


def two_cell_states(rho: np.ndarray, n_cells: int, edges) -> np.ndarray:
    """Reduced states of the cell pairs in ``edges``, shape (B, len(edges), 4, 4).

    Uses repeated einsum indices (diagonal views), so each pair touches only the
    4d entries of rho that survive the partial trace.
    """
    b = rho.shape[0]
    tensor = rho.reshape((b,) + (2,) * (2 * n_cells))
    letters = string.ascii_letters
    out = np.empty((b, len(edges), 4, 4), dtype=complex)
    for k, (p, q) in enumerate(edges):
        ket = list(letters[1 : n_cells + 1])
        bra = list(ket)
        bra[p], bra[q] = letters[n_cells + 1], letters[n_cells + 2]
        spec = "a" + "".join(ket) + "".join(bra) + "->a" + ket[p] + ket[q] + bra[p] + bra[q]
        out[:, k] = np.einsum(spec, tensor).reshape(b, 4, 4)
    return out


def cell_coherences(rho: np.ndarray, n_cells: int) -> np.ndarray:
    """``rho_n[e, g]`` of every cell's reduced state, shape (B, N)."""
    index = np.arange(2**n_cells)
    out = np.empty((rho.shape[0], n_cells), dtype=complex)
    for c in range(n_cells):
        bit = 1 << (n_cells - 1 - c)
        ket = index[(index & bit) != 0]
        out[:, c] = rho[:, ket, ket ^ bit].sum(axis=-1)
    return out


class Observer:
    """Computes every stored observable of a chunk of full density matrices."""

    def __init__(self, geometry: Geometry):
        self.geometry = geometry
        self.n_cells = geometry.n_cells
        exc = excitations(self.n_cells)
        self.levels = np.sort(exc)
        self._sectors = [np.flatnonzero(exc == k) for k in range(self.n_cells + 1)]
        self._between_sectors = exc[:, None] != exc[None, :]

    def dephased_spectrum(self, rho: np.ndarray) -> np.ndarray:
        """Eigenvalues (B, d), ascending, of Delta(rho): rho's blocks of fixed excitation."""
        stacks = [rho[:, k][:, :, k] for k in self._sectors]
        with blas_threads.limit(1):
            parts = eigvalsh_many(stacks)
        return np.sort(np.concatenate(parts, axis=1), axis=1)

    def __call__(self, rho: np.ndarray) -> dict[str, np.ndarray]:
        """Observables of ``rho`` (B, d, d): arrays with leading dimension B."""
        diagonal = np.real(np.diagonal(rho, axis1=-2, axis2=-1))
        population = populations(diagonal, self.n_cells)
        energy = population.sum(axis=-1)
        eigenvalues = spectrum(rho)
        # a chunk without coherence between energies is its own dephased state
        coherent = bool(np.any(rho[:, self._between_sectors]))
        dephased = self.dephased_spectrum(rho) if coherent else eigenvalues
        passive, maximal = passive_and_maximal(eigenvalues, self.levels)
        hermiticity = np.abs(rho - np.conj(np.swapaxes(rho, -1, -2))).max(axis=(-2, -1))
        result = {
            "energy": energy,
            **spectral_measures(energy, passive, maximal, dephased[:, ::-1] @ self.levels),
            "ergotropy_local": local_ergotropy(population, cell_coherences(rho, self.n_cells)),
            "coherence": l1_coherence(rho),
            "population": population,
            "concurrence": (
                concurrence(two_cell_states(rho, self.n_cells, self.geometry.edges))
                if self.geometry.edges
                else np.zeros((rho.shape[0], 0))
            ),
            "trace_error": np.abs(diagonal.sum(axis=-1) - 1.0),
            "min_eigenvalue": eigenvalues[:, 0],
            "hermiticity_error": hermiticity,
        }
        return result
