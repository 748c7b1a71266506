"""Initial states in the Dicke basis, read from their declarations (``model.states``).

Products of one single-cell state, and pure states of the symmetric
subspace given by their amplitudes; states that are not permutation
symmetric are refused. ``to_full_space`` expands a Dicke-basis state to the
2^N x 2^N density matrix (small N: tests and checks).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from scipy.special import xlogy

from ...model.states import InitialState, check_state, parse_state
from .basis import DickeBasis, log_binomial


def state_refusal(label: str) -> str | None:
    """Why this backend cannot start from ``label`` (None: it can).

    It takes the permutation-symmetric states (their declaration says so).
    """
    if parse_state(label).permutation_symmetric:
        return None
    return (
        f"initial state {label!r} is not invariant under permutations of the cells: the "
        f"permutation-invariant solver (method 'piqs') takes products of one single-cell "
        f"state (full, classical, quantum, equal_ergotropy:<c>), ghz and dicke. Use method "
        f"'sector' or 'auto' for {label!r}"
    )


def accepts_state(label: str) -> bool:
    """Whether this backend can start from ``label``: the permutation-symmetric states."""
    return state_refusal(label) is None


def initial_state(label: str, basis: DickeBasis) -> np.ndarray:
    """``w`` of the initial state ``label`` (its declaration in ``model.states.STATES``).

    Products of one single-cell state:

    - diagonal: the real ``q = 0`` block (length ``basis.n0``),
      ``w_{j m m} = d_j p^k (1-p)^(N-k)`` for every ``j`` (each of the
      ``C(N, k)`` configurations with ``k`` excitations has weight
      ``p^k (1-p)^(N-k)``);
    - pure, ``|psi> = a|e> + b|g>``: the spin-coherent state in the
      ``j = N/2`` block, amplitudes ``sqrt(C(N, k)) a^k b^(N-k)`` on ``|N/2, m>``;
    - mixed with coherence: the diagonal product along the Bloch vector,
      rotated block by block (``_rotated_product``).

    Symmetric pure states (``ghz``, ``dicke``) are declared by their amplitudes
    on ``|N/2, k - N/2>``: ``w = a_k conj(a_k1)`` in the ``j = N/2`` block
    (``d_{N/2} = 1``). A state with only real ``q = 0`` content is returned
    compact. A state that is not permutation symmetric (``singlet_pairs``) is
    refused with a ``ValueError``.
    """
    state = check_state(label, basis.n_cells)
    refusal = state_refusal(label)
    if refusal:
        raise ValueError(refusal)
    one = state.single_cell
    if one is None:
        return _compact_if_possible(_symmetric_pure(state, basis), basis)
    n = basis.n_cells
    if abs(one[0, 1]) == 0:
        p = float(np.real(one[1, 1]))
        k = basis.k[: basis.n0].astype(float)
        log_w = basis.log_d[: basis.n0] + xlogy(k, p) + xlogy(n - k, 1.0 - p)
        return np.exp(log_w)
    values, vectors = np.linalg.eigh(one)
    if not np.isclose(values[-1], 1.0, atol=1e-12):
        return _rotated_product(one, basis)
    psi = vectors[:, -1]  # (g, e) components
    b, a = complex(psi[0]), complex(psi[1])
    top = n / 2
    in_top = np.isclose(basis.j, top)
    w = np.zeros(basis.size, dtype=complex)
    k, k1 = basis.k[in_top].astype(float), basis.k1[in_top].astype(float)

    def log_amp(kk):
        return 0.5 * log_binomial(n, kk) + xlogy(kk, abs(a)) + xlogy(n - kk, abs(b))

    phase = (k - k1) * np.angle(a) - (k - k1) * np.angle(b)
    w[in_top] = np.exp(log_amp(k) + log_amp(k1) + 1j * phase)
    return w


def _symmetric_pure(state: InitialState, basis: DickeBasis) -> np.ndarray:
    """``w`` of a pure state of the symmetric subspace from its declared amplitudes."""
    n = basis.n_cells
    amplitudes = state.amplitudes(n)
    k, k1 = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    upper = k >= k1
    idx = basis.index(np.full(k[upper].shape, n / 2), k[upper], k1[upper])
    w = np.zeros(basis.size, dtype=complex)
    w[idx] = (amplitudes[:, None] * np.conj(amplitudes[None, :]))[upper]
    w[: basis.n0] = w[: basis.n0].real  # the diagonal of a Hermitian block
    return w


def _spin_x(j: float) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues and eigenvectors of J_x in the spin-j block (m = j, j-1, ..., -j)."""
    m = j - np.arange(int(round(2 * j)))  # J+ couples m - 1 to m
    off = 0.5 * np.sqrt(np.clip(j * (j + 1) - m * (m - 1), 0.0, None))
    if len(off) == 0:
        return np.zeros(1), np.ones((1, 1))
    return scipy.linalg.eigh_tridiagonal(np.zeros(len(off) + 1), off)


def _rotated_product(one: np.ndarray, basis: DickeBasis) -> np.ndarray:
    """``w`` of the product of a mixed single-cell state with coherence.

    ``one = (1 + r.sigma)/2`` (up = ``|e>``) is the rotation R of the diagonal
    state ``diag((1 + |r|)/2, (1 - |r|)/2)`` that takes the z axis to r: polar
    angle beta, azimuth phi. The product of the diagonal states is diagonal
    in the Dicke basis (weights ``d_j p_up^k p_down^(N-k)``), and ``R^(x)N`` acts
    on every copy of spin j as ``D^j = exp(-i phi Jz) exp(-i beta Jy)``, with
    ``exp(-i beta Jy) = exp(-i pi/2 Jz) exp(-i beta Jx) exp(i pi/2 Jz)`` and
    ``exp(-i beta Jx)`` from the eigenvectors of the real tridiagonal Jx.
    Costs ``sum_j (2j + 1)^3 ~ N^4 / 8``.
    """
    n = basis.n_cells
    eg = complex(one[1, 0])
    x, y, z = 2.0 * eg.real, -2.0 * eg.imag, float(np.real(one[1, 1] - one[0, 0]))
    length = math.sqrt(x * x + y * y + z * z)
    beta, phi = math.atan2(math.hypot(x, y), z), math.atan2(y, x)
    p_up, p_down = 0.5 * (1.0 + length), 0.5 * (1.0 - length)
    w = np.zeros(basis.size, dtype=complex)
    for ji, jv in enumerate(basis.j_values):
        m = jv - np.arange(int(round(2 * jv)) + 1)
        k = n / 2 + m
        weights = np.exp(basis.log_d_values[ji] + xlogy(k, p_up) + xlogy(n - k, p_down))
        if not np.any(weights):
            continue  # underflow: the block carries no weight
        lam, vec = _spin_x(jv)
        rotate_x = (vec * np.exp(-1j * beta * lam)) @ vec.T
        d = np.exp(-1j * (phi + np.pi / 2) * m)[:, None] * rotate_x * np.exp(1j * np.pi / 2 * m)
        block = (d * weights) @ np.conj(d.T)
        r, c = np.triu_indices(len(m))  # row r <-> m = j - r: m >= m1 where r <= c
        kk = np.rint(k[r]).astype(np.int64)
        kk1 = np.rint(k[c]).astype(np.int64)
        w[basis.index(np.full(len(r), jv), kk, kk1)] = block[r, c]
    w[: basis.n0] = w[: basis.n0].real  # the diagonal of a Hermitian block
    return w


def _compact_if_possible(w: np.ndarray, basis: DickeBasis) -> np.ndarray:
    """The real ``q = 0`` block of ``w`` when it has no other content, else ``w``."""
    if not np.any(w[basis.n0 :]) and not np.any(np.imag(w[: basis.n0])):
        return np.ascontiguousarray(np.real(w[: basis.n0]))
    return w


def is_compact(state: np.ndarray, basis: DickeBasis) -> bool:
    """A compact state holds only the real ``q = 0`` block."""
    return state.shape[-1] == basis.n0 and not np.iscomplexobj(state)


# --------------------------------------------------------------------------
# Small-N bridge to the full space (tests, checks)


def to_full_space(w: np.ndarray, basis: DickeBasis) -> np.ndarray:
    """The 2^N x 2^N density matrix of a Dicke-basis state (small N only).

    Builds ``|j m><j m1| (x) 1_{d_j} = c J-^(j-m) P_j J+^(j-m1) c'`` with ``P_j``
    the projector on total spin j and ``Jz = j`` (cell 0 most significant,
    bit 1 excited, as in ``operators``).
    """
    from ...model.operators import SM, local

    n = basis.n_cells
    if n > 10:
        raise ValueError("to_full_space is meant for N <= 10")
    dim = 2**n
    jm = sum(local(SM, c, n) for c in range(n)).toarray()
    jp = jm.T.copy()
    nop = np.diag([bin(i).count("1") for i in range(dim)]).astype(float)
    jz = nop - n / 2 * np.eye(dim)
    j2 = jp @ jm + jz @ jz - jz
    w = np.asarray(w)
    full_w = np.zeros(basis.size, dtype=complex)
    full_w[: len(w)] = w
    rho = np.zeros((dim, dim), dtype=complex)
    for jv in basis.j_values:
        proj = np.eye(dim)
        for other in basis.j_values:
            if other != jv:
                proj = proj @ (j2 - other * (other + 1) * np.eye(dim))
                proj = proj / (jv * (jv + 1) - other * (other + 1))
        k_top = int(round(n / 2 + jv))
        top = proj @ np.diag((np.diag(nop) == k_top).astype(float))

        def ket_ops(m, jv=jv):
            op = np.eye(dim)
            for mm in np.arange(jv, m, -1.0):  # lower from jv to m
                op = (jm @ op) / np.sqrt((jv + mm) * (jv - mm + 1))
            return op

        sel = np.nonzero(np.isclose(basis.j, jv))[0]
        d = math.exp(basis.log_d_values[int(round(jv - basis.j_values[0]))])
        for e in sel:
            value = full_w[e] / d
            if value == 0:
                continue
            op = ket_ops(basis.m[e]) @ top @ ket_ops(basis.m1[e]).T
            rho += value * op
            if basis.q[e] > 0:
                rho += np.conj(value) * op.T
    return rho
