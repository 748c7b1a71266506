"""The Lindblad generator of a point as a sparse superoperator.

States are vectorised row-major, ``vec(rho)[i*d + j] = rho[i, j]``, so that
``vec(A rho B) = (A kron B^T) vec(rho)``. ``to_qutip`` converts to QuTiP's
column-stacking convention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from .channels import JUMPS, excitation_difference_violation, ladder_form, term_matrices
from .operators import SM, SP, SZ, bare_hamiltonian, cell_bits, interaction_hamiltonian, local
from .point import Point

if TYPE_CHECKING:  # qutip costs ~0.6 s to import; only the conversions need it
    import qutip


def hamiltonian(point: Point, omega0: float = 0.0) -> sp.csr_matrix:
    """H in the frame rotating with H0 (``omega0 = 0``), or in the lab frame.

    ``H_int`` plus the point's disorder (``docs/model.md``, "Disorder"): the
    local fields ``sum_n (delta_n / 2) sz_n`` and the hopping ``u_l`` added to
    J on each link. H0 itself, against which energies are measured, is clean.
    """
    h = interaction_hamiltonian(point.geometry, point.J)
    if point.disordered:
        h = h + disorder_hamiltonian(point)
    if omega0:
        h = h + bare_hamiltonian(point.n_cells, omega0)
    return h.tocsr()


def disorder_hamiltonian(point: Point) -> sp.csr_matrix:
    """``sum_n (delta_n / 2) sz_n + sum_l u_l (sp_n sm_m + sm_n sp_m)``, l = (n, m)."""
    n = point.n_cells
    d = 2**n
    h = sp.csr_matrix((d, d))
    if any(point.detunings):
        sz = 2.0 * cell_bits(n) - 1.0  # (N, d): the diagonal of each sz_n
        h = h + sp.diags(0.5 * np.asarray(point.detunings) @ sz)
    if any(point.coupling_offsets):
        lowering = [local(SM, c, n) for c in range(n)]
        for (a, b), u in zip(point.geometry.edges, point.coupling_offsets, strict=True):
            if u:
                hop = lowering[a].T @ lowering[b]
                h = h + u * (hop + hop.T)
    return h.tocsr()


_LADDER = {"sm": SM, "sp": SP, "sz": SZ}


def jump_matrix(kind: str) -> np.ndarray:
    """The single-cell operator of a jump kind (``channels.JUMPS``), basis (g, e)."""
    return sum(x * _LADDER[a] for a, x in JUMPS[kind])


def dissipator_terms(
    point: Point, ladder: bool = False
) -> list[tuple[np.ndarray, list[sp.csr_matrix]]]:
    """``(K, X)`` pairs: each term is ``sum_nm K_nm D[X_n, X_m]``.

    ``ladder=False``: the channel's terms as declared (``channels``), one pair
    per term. ``ladder=True``: its ladder form (``channels.ladder_form``), the
    same generator written in ``sm``, ``sp``, ``sz`` with no cross terms;
    only for channels that conserve the excitation difference q. Terms whose
    matrix vanishes (``thermal`` at ``n_th = 0``) are left out.
    """
    n = point.n_cells
    if ladder:
        violation = excitation_difference_violation(point)
        if violation:
            raise ValueError(violation)
        pairs = [(m, a) for a, _, m in ladder_form(point)]
    else:
        pairs = [(m, term.jump) for term, m in term_matrices(point)]
    return [
        (m, [local(jump_matrix(kind), c, n) for c in range(n)]) for m, kind in pairs if np.any(m)
    ]


def effective_hamiltonian(
    point: Point, omega0: float = 0.0, ladder: bool = False
) -> sp.csr_matrix:
    """``G = H - (i/2) sum_nm K_nm X_m^dag X_n`` summed over the channel's terms (d x d)."""
    d = 2**point.n_cells
    g = sp.csr_matrix((d, d), dtype=complex)
    g = g + hamiltonian(point, omega0)
    for kossakowski, ops in dissipator_terms(point, ladder):
        rows, cols = np.nonzero(kossakowski)
        for a, b in zip(rows, cols, strict=True):
            g = g - 0.5j * kossakowski[a, b] * (ops[b].conj().T @ ops[a])
    g = g.tocsr()
    g.sum_duplicates()
    return g


def _row_gather(m: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(owner, position)``: for every stored entry of the given rows, its row's index in
    ``rows`` and its position in ``m.data``."""
    start = m.indptr[rows]
    count = m.indptr[rows + 1] - start
    owner = np.repeat(np.arange(len(rows)), count)
    first = np.repeat(np.cumsum(count) - count, count)
    position = np.repeat(start, count) + (np.arange(int(count.sum())) - first)
    return owner, position


def _single_entry_rows(op: sp.spmatrix) -> tuple[np.ndarray, np.ndarray]:
    """Column and value of the one stored entry of each row (-1 where the row is empty)."""
    coo = sp.coo_matrix(op)
    keep = coo.data != 0
    coo = sp.coo_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=op.shape)
    d = op.shape[0]
    if len(np.unique(coo.row)) != coo.nnz:
        raise ValueError("jump operators must have at most one entry per row")
    col = np.full(d, -1, dtype=np.int64)
    val = np.zeros(d, dtype=complex)
    col[coo.row] = coo.col
    val[coo.row] = coo.data
    return col, val


def liouvillian_rows(
    point: Point, rows: np.ndarray, omega0: float = 0.0, ladder: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The given rows of the Liouvillian as COO triplets ``(row, col, value)``.

    ``row`` indexes ``rows`` (not the full space); duplicates are to be summed.
    The same terms as ``liouvillian`` (which is this over every row), built
    directly from the effective Hamiltonian G and the single-entry rows of the
    jump operators, without forming the d^2 x d^2 matrix:

    ``-i (G kron I - I kron conj(G)) + sum_nm K_nm X_n kron conj(X_m)``.

    ``ladder=True`` builds it from the channel's ladder form (see
    ``dissipator_terms``): the same generator, with every entry local to one
    q-block, which the sector backend needs row by row.
    """
    d = 2**point.n_cells
    rows = np.asarray(rows, dtype=np.int64)
    ket, bra = np.divmod(rows, d)
    g = effective_hamiltonian(point, omega0, ladder)
    r, c, v = [], [], []
    # -i G rho: entry (i, j) <- G[i, i'] rho[i', j]
    owner, pos = _row_gather(g, ket)
    r.append(owner)
    c.append(g.indices[pos].astype(np.int64) * d + bra[owner])
    v.append(-1j * g.data[pos])
    # +i rho G^dag: entry (i, j) <- rho[i, j'] conj(G[j, j'])
    owner, pos = _row_gather(g, bra)
    r.append(owner)
    c.append(ket[owner] * d + g.indices[pos].astype(np.int64))
    v.append(1j * np.conj(g.data[pos]))
    # K_nm X_n rho X_m^dag: entry (i, j) <- X_n[i, i'] conj(X_m[j, j']) rho[i', j']
    for kossakowski, ops in dissipator_terms(point, ladder):
        maps = [_single_entry_rows(op) for op in ops]
        for a, b in zip(*np.nonzero(kossakowski), strict=True):
            col_a, val_a = maps[a]
            col_b, val_b = maps[b]
            hit = np.flatnonzero((col_a[ket] >= 0) & (col_b[bra] >= 0))
            r.append(hit)
            c.append(col_a[ket[hit]] * d + col_b[bra[hit]])
            v.append(kossakowski[a, b] * val_a[ket[hit]] * np.conj(val_b[bra[hit]]))
    return np.concatenate(r), np.concatenate(c), np.concatenate(v)


def liouvillian(point: Point, omega0: float = 0.0, ladder: bool = False) -> sp.csr_matrix:
    """Sparse Liouvillian L (d^2 x d^2, row-major vectorisation) of ``point``.

    ``L rho = -i[H, rho] + sum_nm K_nm (X_n rho X_m^dag - 1/2 {X_m^dag X_n, rho})``
    summed over the channel's terms, as declared (or in ladder form, see
    ``liouvillian_rows``). Built from the Kossakowski matrices directly, so a
    zero eigenvalue of K (a point on the complete-positivity bound) needs no
    square root. Entries that cancel exactly (the cross terms of ``D[sx]``
    and ``D[sy]`` under ``depolarizing``) are removed.
    """
    d2 = 4**point.n_cells
    r, c, v = liouvillian_rows(point, np.arange(d2), omega0, ladder)
    lv = sp.csr_matrix((v, (r, c)), shape=(d2, d2))
    lv.sum_duplicates()
    lv.eliminate_zeros()
    lv.sort_indices()
    return lv


def _transpose_permutation(d: int) -> np.ndarray:
    index = np.arange(d * d)
    return (index % d) * d + index // d


def to_qutip(lv: sp.spmatrix, n_cells: int) -> qutip.Qobj:
    """Row-major sparse Liouvillian as a QuTiP superoperator (column stacking)."""
    import qutip

    perm = _transpose_permutation(2**n_cells)
    col = sp.csr_matrix(lv)[perm][:, perm]
    dims = [[[2] * n_cells, [2] * n_cells], [[2] * n_cells, [2] * n_cells]]
    return qutip.Qobj(col, dims=dims, superrep="super", copy=False)


def qutip_operators(point: Point, omega0: float = 0.0) -> tuple[qutip.Qobj, list[qutip.Qobj]]:
    """H and collapse operators from diagonalising K (the textbook route, for checks)."""
    import qutip

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
