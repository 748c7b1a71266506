"""The Lindblad generator of a point as a sparse superoperator.

States are vectorised row-major, ``vec(rho)[i*d + j] = rho[i, j]``, so that
``vec(A rho B) = (A kron B^T) vec(rho)``. ``to_qutip`` converts to QuTiP's
column-stacking convention.
"""

from __future__ import annotations

import numpy as np
import qutip
import scipy.sparse as sp

from .model import Point
from .operators import SM, SZ, bare_hamiltonian, interaction_hamiltonian, local


def hamiltonian(point: Point, omega0: float = 0.0) -> sp.csr_matrix:
    """H in the frame rotating with H0 (``omega0 = 0``), or in the lab frame."""
    h = interaction_hamiltonian(point.geometry, point.J)
    if omega0:
        h = h + bare_hamiltonian(point.n_cells, omega0)
    return h.tocsr()


def dissipator_terms(point: Point) -> list[tuple[np.ndarray, list[sp.csr_matrix]]]:
    """``(K, X)`` pairs: each term is ``sum_nm K_nm D[X_n, X_m]``."""
    n = point.n_cells
    spec = point.spec
    jump = {"sm": SM, "sz": SZ}[spec.jump]
    terms = [(point.kossakowski(), [local(jump, c, n) for c in range(n)])]
    if spec.local_dephasing:
        terms.append((spec.local_dephasing * np.eye(n), [local(SZ, c, n) for c in range(n)]))
    return terms


def liouvillian(point: Point, omega0: float = 0.0) -> sp.csr_matrix:
    """Sparse Liouvillian L (d^2 x d^2, row-major vectorisation) of ``point``.

    ``L rho = -i[H, rho] + sum_nm K_nm (X_n rho X_m^dag - 1/2 {X_m^dag X_n, rho})``
    summed over the channel's terms. Built from the Kossakowski matrix directly,
    so a zero eigenvalue of K (a point on the complete-positivity bound) needs
    no square root.
    """
    d = 2**point.n_cells
    eye = sp.identity(d, format="csr")
    h = hamiltonian(point, omega0)
    g = sp.csr_matrix((d, d), dtype=complex)  # G = H + (-i/2) sum K_nm X_m^dag X_n
    g = g + h
    jumps = sp.csr_matrix((d * d, d * d), dtype=complex)
    for kossakowski, ops in dissipator_terms(point):
        rows, cols = np.nonzero(kossakowski)
        for a, b in zip(rows, cols, strict=True):
            k_ab = kossakowski[a, b]
            g = g - 0.5j * k_ab * (ops[b].conj().T @ ops[a])
            jumps = jumps + k_ab * sp.kron(ops[a], ops[b].conj(), format="csr")
    # -i (G rho - rho G^dag) with G non-Hermitian: -i (G kron I - I kron conj(G))
    coherent = -1j * (sp.kron(g, eye, format="csr") - sp.kron(eye, g.conj(), format="csr"))
    lv = (coherent + jumps).tocsr()
    lv.eliminate_zeros()
    lv.sort_indices()
    return lv


def _transpose_permutation(d: int) -> np.ndarray:
    index = np.arange(d * d)
    return (index % d) * d + index // d


def to_qutip(lv: sp.spmatrix, n_cells: int) -> qutip.Qobj:
    """Row-major sparse Liouvillian as a QuTiP superoperator (column stacking)."""
    perm = _transpose_permutation(2**n_cells)
    col = sp.csr_matrix(lv)[perm][:, perm]
    dims = [[[2] * n_cells, [2] * n_cells], [[2] * n_cells, [2] * n_cells]]
    return qutip.Qobj(col, dims=dims, superrep="super", copy=False)


def qutip_operators(point: Point, omega0: float = 0.0) -> tuple[qutip.Qobj, list[qutip.Qobj]]:
    """H and collapse operators from diagonalising K (the textbook route, for checks)."""
    n = point.n_cells
    dims = [[2] * n, [2] * n]
    h = qutip.Qobj(hamiltonian(point, omega0).toarray(), dims=dims)
    c_ops = []
    for kossakowski, ops in dissipator_terms(point):
        lam, vec = np.linalg.eigh(kossakowski)
        for k in range(n):
            if lam[k] > 1e-14:
                op = sum(np.sqrt(lam[k]) * vec[c, k] * ops[c] for c in range(n))
                c_ops.append(qutip.Qobj(op.toarray(), dims=dims))
    return h, c_ops
