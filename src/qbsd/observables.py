"""Observables of stacks of density matrices, vectorised over time points.

Every function takes ``rho`` of shape ``(B, d, d)`` (a chunk of B time points,
``d = 2^N``) and never loops over time in Python.
"""

from __future__ import annotations

import string

import numpy as np

from .geometry import Geometry
from .operators import cell_bits, excitations

_SY_SY = np.kron(np.array([[0, -1j], [1j, 0]]), np.array([[0, -1j], [1j, 0]]))


def spectrum(rho: np.ndarray) -> np.ndarray:
    """Eigenvalues of each (Hermitian) rho, ascending, shape (B, d)."""
    return np.linalg.eigvalsh(rho)


def ergotropy_from_spectrum(
    energy: np.ndarray, eigenvalues: np.ndarray, levels: np.ndarray
) -> np.ndarray:
    """E = U - sum_k r_k eps_k, r descending, eps (H0 spectrum) ascending.

    ``eigenvalues`` ascending as returned by ``eigvalsh``; ``levels`` ascending.
    """
    passive = eigenvalues[:, ::-1] @ levels
    return energy - passive


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


def concurrence(rho2: np.ndarray) -> np.ndarray:
    """Wootters concurrence of two-qubit states ``rho2`` (..., 4, 4).

    ``C = max(0, l1 - l2 - l3 - l4)`` with ``l_i`` the square roots of the
    eigenvalues of ``rho (sy x sy) rho* (sy x sy)``, obtained stably as the
    square roots of the eigenvalues of the Hermitian ``sqrt(rho) rho~ sqrt(rho)``.
    """
    w, v = np.linalg.eigh(rho2)
    root = (v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))
    flipped = _SY_SY @ np.conj(rho2) @ _SY_SY
    m = root @ flipped @ root
    lam = np.sqrt(np.clip(np.linalg.eigvalsh(m), 0.0, None))[..., ::-1]
    return np.clip(lam[..., 0] - lam[..., 1] - lam[..., 2] - lam[..., 3], 0.0, None)


class Observer:
    """Computes every stored observable of a chunk of full density matrices."""

    names = ("energy", "ergotropy", "coherence", "population", "concurrence")

    def __init__(self, geometry: Geometry):
        self.geometry = geometry
        self.n_cells = geometry.n_cells
        self.levels = np.sort(excitations(self.n_cells))

    def __call__(self, rho: np.ndarray) -> dict[str, np.ndarray]:
        """Observables of ``rho`` (B, d, d): arrays with leading dimension B."""
        diagonal = np.real(np.diagonal(rho, axis1=-2, axis2=-1))
        population = populations(diagonal, self.n_cells)
        energy = population.sum(axis=-1)
        eigenvalues = spectrum(rho)
        hermiticity = np.abs(rho - np.conj(np.swapaxes(rho, -1, -2))).max(axis=(-2, -1))
        result = {
            "energy": energy,
            "ergotropy": ergotropy_from_spectrum(energy, eigenvalues, self.levels),
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
