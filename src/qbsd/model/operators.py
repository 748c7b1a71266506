"""Many-cell operators in the computational basis.

Cell ``n`` is bit ``N-1-n`` of the basis index (cell 0 is the most significant
tensor factor, as in ``qutip.tensor``). A bit value 1 means the cell is
excited, so ``|e> = (0, 1)^T`` and ``|g> = (1, 0)^T``, ``sm = |g><e|``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .geometry import Geometry

SM = np.array([[0.0, 1.0], [0.0, 0.0]])  # |g><e|
SP = SM.T.copy()  # |e><g|
SZ = np.diag([-1.0, 1.0])  # |e><e| - |g><g|
EXCITED = np.diag([0.0, 1.0])  # sp sm


def excitations(n_cells: int) -> np.ndarray:
    """Number of excited cells of every basis state (the spectrum of H0/omega0)."""
    index = np.arange(2**n_cells)
    return np.array([bin(i).count("1") for i in index], dtype=float)


def cell_bits(n_cells: int) -> np.ndarray:
    """``bits[n, i]`` is 1 when cell ``n`` is excited in basis state ``i``."""
    index = np.arange(2**n_cells)
    shifts = n_cells - 1 - np.arange(n_cells)
    return ((index[None, :] >> shifts[:, None]) & 1).astype(float)


def local(op: np.ndarray, cell: int, n_cells: int) -> sp.csr_matrix:
    """``op`` acting on ``cell`` (identity elsewhere), sparse."""
    left = sp.identity(2**cell, format="csr")
    right = sp.identity(2 ** (n_cells - cell - 1), format="csr")
    return sp.kron(sp.kron(left, sp.csr_matrix(op)), right, format="csr")


def interaction_hamiltonian(geometry: Geometry, J: float) -> sp.csr_matrix:
    """H_int = J sum_{(n,m) in E} (sp_n sm_m + sm_n sp_m), in units of Gamma."""
    n = geometry.n_cells
    d = 2**n
    h = sp.csr_matrix((d, d))
    if J == 0.0 or not geometry.edges:
        return h
    lowering = [local(SM, c, n) for c in range(n)]
    for a, b in geometry.edges:
        hop = lowering[a].T @ lowering[b]
        h = h + hop + hop.T
    return (J * h).tocsr()


def bare_hamiltonian(n_cells: int, omega0: float = 1.0) -> sp.csr_matrix:
    """H0 = omega0 sum_n sp_n sm_n (diagonal)."""
    return sp.diags(omega0 * excitations(n_cells)).tocsr()
