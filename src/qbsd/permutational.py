"""Permutation-invariant solver: the all-to-all battery in the Dicke basis.

For the complete graph (geometry ``symmetric``) with identical cells, every
Kossakowski matrix of a channel's ladder form (``channels.ladder_form``:
``sum_a M^a D[E^a_n, E^a_m]`` with ``E`` in ``sm, sp, sz``) is
``M = alpha I + beta A = (alpha - beta) I + beta 11^T`` (``A = 11^T - I``), so
each term splits into a local part at rate ``alpha - beta`` on each cell and
a collective part at rate ``beta`` on ``sum_n E_n``: emission, pumping and
dephasing, local and collective (``DickeRates.of``). ``thermal`` gives
emission ``(n_th + 1)`` and pumping ``n_th`` times ``Gamma (1 - g)`` locally
and ``Gamma g`` collectively (``g = gamma12``); ``depolarizing``, whose
``D[sx] + D[sy]`` is ``2 (D[sm] + D[sp])``, gives emission and pumping at
``(Gamma/2)(1 - g)`` and ``(Gamma/2) g`` and dephasing at ``(Gamma/4)(1 - g)``
and ``(Gamma/4) g``. A channel with a q-changing part, or a matrix that is
not the same on every cell and pair, has no such rates and is refused
(``channel_refusal``). The exchange Hamiltonian is a function of the
collective spin,

    H_int = J sum_{n<m} (sp_n sm_m + h.c.) = J (J+ J- - Jz - N/2)
          = J (j (j + 1) - m^2 - N/2)   on |j, m>,

diagonal in the Dicke basis. Such dynamics maps permutation-invariant states
onto permutation-invariant states, ``rho = (+)_j rho_j (x) 1_{d_j}`` with
``d_j`` the number of copies of spin ``j`` (Schur-Weyl duality), and only the
``sum_j (2j + 1)^2 = C(N+3, 3)`` numbers ``<j, m| rho_j |j, m1>`` evolve
(Shammah et al., Phys. Rev. A 98, 063815 (2018), ``qutip.piqs``).

Rates in the normalisation of ``qutip.piqs.Dicke`` (checked against the full
density-matrix solver in the tests):

========================  =========================================
piqs keyword               ladder term (local ``l``, collective ``c``)
========================  =========================================
``emission``               ``l sum_n D[sm_n]``
``collective_emission``    ``c D[J-]``, ``J- = sum_n sm_n``
``pumping``                ``l sum_n D[sp_n]``
``collective_pumping``     ``c D[J+]``, ``J+ = sum_n sp_n``
``dephasing``              ``(dephasing / 4) sum_n D[sz_n]`` (piqs uses
                           ``sz / 2``): ``4 l``
``collective_dephasing``   ``(c' / 4) D[sum_n sz_n]``: ``4 c``
========================  =========================================

The generator is built here from the coefficient formulas of
``qutip.piqs`` (``_piqs.pyx``: ``gamma1`` ... ``gamma9``) evaluated in double
precision and vectorised: the compiled ``piqs.Dicke.lindbladian`` stores its
coefficients as C ``float`` (single precision, ~1e-7 relative), too coarse for
the 1e-7 agreement this backend promises, and its dictionary-driven assembly
grows with ``N^3`` Python objects. The tests compare both element by element.

Representation. The stored numbers are ``w_{j m m1} = d_j <j m| rho_j |j m1>``
(the weight of all copies: ``sum_{j,m} w_{jmm} = tr rho``; the numbers
``qutip.piqs`` stores in its Dicke-basis density matrices) for
``q = m - m1 >= 0`` only (``q < 0`` follows from Hermiticity). The generator
conserves ``q`` (phase covariance), so it is block diagonal in ``q``; the
``q = 0`` block is real. States that are diagonal in the Dicke basis
(``full``, ``classical``) live in the ``q = 0`` block and are propagated as
real vectors of that block only ("compact" states).

Propagation. ``exp(L dt)`` is applied on the uniform grid by the truncated
Taylor method of Al-Mohy and Higham (SIAM J. Sci. Comput. 33, 488 (2011)),
per group of ``q`` blocks with its own shift and scaling, in the frame that
costs fewer operations (``TaylorExp``: the lab frame, or the interaction
picture of the diagonal Hamiltonian); it is exact to double precision
whatever the stiffness (collective rates grow like N^2; checked against dense
``expm`` in the tests), needs no storage of states beyond one chunk, and
``evolve`` reuses it for any duration. The cost grows like (number of stored
numbers) x (largest rate, ~N^2) per unit time: ~N^5 for the ``quantum``
state, ~N^4 for the compact ones.

Observables, exact for any permutation-invariant state:

- ``U = <Jz> + N/2``; per-cell population ``U / N``.
- Ergotropy: the spectrum of rho is the spectrum of each ``rho_j`` repeated
  ``d_j`` times; against H0's levels ``k`` repeated ``C(N, k)`` times, the
  passive energy is ``sum_{k=1}^{N} (tr rho - F(B_k))`` with ``F(x)`` the
  weight of the ``x`` largest eigenvalues (piecewise linear, evaluated by
  interpolation on cumulative multiplicities) and ``B_k = sum_{k'<k} C(N, k')``.
  No 2^N-long array is formed.
- Concurrence: every pair has the same two-cell state, built from
  ``<Nop>, <Nop^2>, <J+J->, <J->, <Nop J->, <J-^2>`` (``Nop = Jz + N/2``):
  ``<A_1 B_2> = (<(sum A)(sum B)> - <sum A B>) / (N (N - 1))``; Wootters'
  formula is evaluated through singular values (``concurrence``), stable
  near pure product states.
- Coherence: the computational-basis elements of a permutation-invariant
  operator depend only on the orbit of the pair of bit strings ``(x, y)``
  under permutations, labelled by ``(k, k1, a)`` with ``a`` the number of
  cells excited in both; the orbit has ``N!/(a! (k-a)! (k1-a)! (N-k-k1+a)!)``
  members. The orthonormal orbit operators and the operators
  ``|j m><j m1| (x) 1_{d_j}`` span the same space for each ``(k, k1)``; the
  orthogonal matrix between them is generated by the exact action of ``J-``
  from the left and right (bidiagonal in ``a``), re-orthonormalised at every
  step (QR, descending ``j``), starting from the identity of each excitation
  sector. Then ``sum_{x != y} |rho_xy| = sum_orbits mult |rho_orbit|`` exactly
  (an orbit value below the rounding error of its terms counts as zero, so a
  state diagonal in the computational basis has exactly zero coherence).
- Health: ``trace_error`` from the diagonal weights; ``min_eigenvalue`` the
  smallest eigenvalue of any ``rho_j``; ``hermiticity_error`` is zero by
  construction (``q < 0`` is never stored, the ``q = 0`` block is real).
"""

from __future__ import annotations

import contextlib
import math
import time as _time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.special import gammaln, xlogy

from .channels import excitation_difference_violation, ladder_form
from .measures import concurrence, qubit_ergotropy, spectral_measures
from .model import Point
from .states import InitialState, check_state, parse_state

# ``method="auto"`` uses this backend for permutation-invariant points with
# more cells than this; the full density matrix (4^N entries) stays the
# default up to here.
FULL_SPACE_MAX_CELLS = 8

# Memory for one chunk of stored states (bytes).
CHUNK_BYTES = 2**27

# Degeneracies d_j ~ 2^N / N are held as floats: beyond this N they overflow.
MAX_CELLS = 1000

# Orbit values below this many (N + 1) ulps of their terms count as zero
# (see ``OrbitTransform``).
_COHERENCE_FLOOR = 32.0

# Taylor degrees and the largest ||A t||_1 each handles to double precision
# (Al-Mohy & Higham 2011, Table 3.1; the values scipy.sparse.linalg uses).
_THETA = {
    1: 2.29e-16,
    2: 2.58e-8,
    3: 1.39e-5,
    4: 3.40e-4,
    5: 2.40e-3,
    6: 9.07e-3,
    7: 2.38e-2,
    8: 5.00e-2,
    9: 8.96e-2,
    10: 1.44e-1,
    11: 2.14e-1,
    12: 3.00e-1,
    13: 4.00e-1,
    14: 5.14e-1,
    15: 6.41e-1,
    16: 7.81e-1,
    17: 9.31e-1,
    18: 1.09,
    19: 1.26,
    20: 1.44,
    21: 1.62,
    22: 1.82,
    23: 2.01,
    24: 2.22,
    25: 2.43,
    26: 2.64,
    27: 2.86,
    28: 3.08,
    29: 3.31,
    30: 3.54,
    35: 4.7,
    40: 6.0,
    45: 7.2,
    50: 8.5,
    55: 9.9,
}


# --------------------------------------------------------------------------
# Which points, which rates


def is_permutation_invariant(point: Point) -> bool:
    """True when the dynamics of ``point`` commutes with every permutation of the cells.

    That holds on the complete graph (every pair linked) and, whatever the
    graph, for uncoupled cells (``J = 0`` and ``gamma12 = 0``).
    """
    n = point.n_cells
    complete = len(point.geometry.edges) == n * (n - 1) // 2
    return complete or (point.J == 0 and point.gamma12 == 0)


def check_permutation_invariant(point: Point) -> None:
    """Raise ``ValueError`` naming what keeps ``point`` off this backend."""
    if point.disordered:
        raise ValueError(
            f"the permutation-invariant solver (method 'piqs') takes no disorder: a point "
            f"with detunings or coupling offsets (W > 0 or W_J > 0) is not "
            f"permutation-invariant (geometry={point.geometry.label}, "
            f"n_cells={point.n_cells}). Use method 'auto' or 'sector' (symmetry-reduced), "
            f"or 'expm', 'bdf', 'adams' for this point"
        )
    if not is_permutation_invariant(point):
        raise ValueError(
            f"the permutation-invariant solver (method 'piqs') needs the all-to-all "
            f"geometry (every pair of cells linked, geometry 'symmetric') or uncoupled cells "
            f"(J = 0 and gamma12 = 0); got geometry={point.geometry.label}, "
            f"n_cells={point.n_cells}, J={point.J:g}, gamma12={point.gamma12:g}. "
            f"Use method 'auto', 'expm', 'bdf' or 'adams' for this point"
        )
    refusal = channel_refusal(point)
    if refusal:
        raise ValueError(
            f"the permutation-invariant solver (method 'piqs') runs channels made of "
            f"emission, pumping and dephasing, local and collective: {refusal}. Use method "
            f"'auto', 'expm', 'bdf' or 'adams' for this point"
        )


def selects_permutational(n_cells: int, method: str, geometry: str | None) -> bool:
    """Whether ``method`` on ``n_cells`` cells of the named ``geometry`` uses this backend.

    ``"piqs"`` always does (and refuses points that are not permutation
    invariant); ``"auto"`` does for ``geometry="symmetric"`` with more than
    ``FULL_SPACE_MAX_CELLS`` cells.
    """
    if method == "piqs":
        return True
    return method == "auto" and geometry == "symmetric" and n_cells > FULL_SPACE_MAX_CELLS


def wants_permutational(point: Point, method: str) -> bool:
    """Whether ``make_solver(point, method)`` should use this backend.

    ``"auto"`` never picks it for a disordered point or a channel it has no
    rates for (``"piqs"`` then refuses).
    """
    if method == "auto" and (point.disordered or channel_refusal(point)):
        return False
    return selects_permutational(point.n_cells, method, point.geometry.name)


@dataclass(frozen=True)
class DickeRates:
    """Rates of ``point`` in the keywords (and normalisation) of ``qutip.piqs.Dicke``."""

    emission: float = 0.0
    dephasing: float = 0.0
    collective_emission: float = 0.0
    collective_dephasing: float = 0.0
    pumping: float = 0.0
    collective_pumping: float = 0.0

    @classmethod
    def of(cls, point: Point) -> DickeRates:
        """The rates of ``point``'s channel, from its ladder form (``channels.ladder_form``).

        Each ladder term ``M D[E_n, E_m]`` with ``M = alpha I + beta A`` on the
        complete graph (``A = 11^T - I``) is ``(alpha - beta) sum_n D[E_n]``
        plus ``beta D[sum_n E_n]``: local and collective rates of ``E = sm``
        (emission), ``sp`` (pumping) or ``sz`` (dephasing, 4x in piqs'
        normalisation). Raises ``ValueError`` (``channel_refusal``) where the
        channel has no such form.
        """
        refusal = channel_refusal(point)
        if refusal:
            raise ValueError(f"the permutation-invariant solver cannot run this point: {refusal}")
        rates = dict.fromkeys(cls.__dataclass_fields__, 0.0)
        for a, _, matrix in ladder_form(point):
            local, collective = _DICKE_KEYWORDS[a]
            scale = 4.0 if a == "sz" else 1.0  # piqs dephasing acts with sz / 2
            alpha = float(matrix[0, 0].real)
            beta = float(matrix[0, 1].real) if point.n_cells > 1 else 0.0
            rates[local] += scale * (alpha - beta)
            rates[collective] += scale * beta
        return cls(**rates)

    def as_dict(self) -> dict[str, float]:
        return {
            "emission": self.emission,
            "dephasing": self.dephasing,
            "collective_emission": self.collective_emission,
            "collective_dephasing": self.collective_dephasing,
            "pumping": self.pumping,
            "collective_pumping": self.collective_pumping,
        }


# piqs keywords (local, collective) of each ladder operator
_DICKE_KEYWORDS = {
    "sm": ("emission", "collective_emission"),
    "sp": ("pumping", "collective_pumping"),
    "sz": ("dephasing", "collective_dephasing"),
}


def channel_refusal(point: Point) -> str | None:
    """Why the channel of ``point`` has no Dicke-basis rates (None: it has).

    The backend runs ``sum_a M^a D[E^a_n, E^a_m]`` with ``E`` in ``sm, sp, sz``
    and every ``M^a`` of the form ``alpha I + beta (11^T - I)``: a channel
    with a term that changes q, or a matrix that singles out cells, is refused.
    """
    violation = excitation_difference_violation(point)
    if violation:
        return violation
    n = point.n_cells
    for a, _, matrix in ladder_form(point):
        off = ~np.eye(n, dtype=bool)
        alpha = matrix[0, 0]
        beta = matrix[off][0] if n > 1 else 0.0
        expected = alpha * np.eye(n) + beta * off
        scale = float(np.abs(matrix).max())
        if np.abs(matrix - expected).max() > 1e-14 * scale or np.iscomplexobj(matrix):
            return (
                f"channel {point.channel!r}: its {a} term is not the same on every cell "
                f"and every pair on geometry={point.geometry.label}"
            )
    return None


# --------------------------------------------------------------------------
# The Dicke basis


def log_degeneracy(n_cells: int, j: np.ndarray) -> np.ndarray:
    """``log d_j``, ``d_j = N! (2j+1) / ((N/2+j+1)! (N/2-j)!)`` copies of spin j."""
    j = np.asarray(j, float)
    n = n_cells
    return gammaln(n + 1) + np.log(2 * j + 1) - gammaln(n / 2 + j + 2) - gammaln(n / 2 - j + 1)


def log_binomial(n: int, k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, float)
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


class DickeBasis:
    """The numbers ``w_{j m m1}`` with ``q = m - m1 >= 0``, in a fixed order.

    Elements are ordered by ``q``, then ``j`` ascending, then ``m``
    descending; ``q_offsets[q]:q_offsets[q+1]`` is the block of ``q``. Excitation
    numbers ``k = m + N/2`` and ``k1 = m1 + N/2`` are integers.
    """

    def __init__(self, n_cells: int):
        if n_cells < 1:
            raise ValueError(f"n_cells must be >= 1, got {n_cells}")
        n = self.n_cells = int(n_cells)
        self.j_values = np.arange(n % 2 / 2, n / 2 + 1)
        self.n_j = len(self.j_values)
        js, ks, k1s, offsets = [], [], [], [0]
        for q in range(n + 1):
            for jv in self.j_values:
                size = int(round(2 * jv + 1)) - q
                if size <= 0:
                    continue
                k_top = int(round(n / 2 + jv))
                k = k_top - np.arange(size)
                js.append(np.full(size, jv))
                ks.append(k)
                k1s.append(k - q)
            offsets.append(sum(len(a) for a in ks))
        self.j = np.concatenate(js)
        self.k = np.concatenate(ks).astype(np.int64)
        self.k1 = np.concatenate(k1s).astype(np.int64)
        self.m = self.k - n / 2
        self.m1 = self.k1 - n / 2
        self.q = self.k - self.k1
        self.q_offsets = np.array(offsets, dtype=np.int64)
        self.size = len(self.j)
        self.n0 = int(self.q_offsets[1])  # the q = 0 block
        self.j_index = np.rint(self.j - self.j_values[0]).astype(np.int64)
        self.log_d_values = log_degeneracy(n, self.j_values)
        self.log_d = self.log_d_values[self.j_index]
        lookup = np.full((self.n_j, n + 1, n + 1), -1, dtype=np.int64)
        lookup[self.j_index, self.k, self.k1] = np.arange(self.size)
        self._lookup = lookup

    def index(self, j, k, k1) -> np.ndarray:
        """Element indices of ``(j, k, k1)`` (arrays); -1 where no such element is stored."""
        j = np.asarray(j, float)
        k = np.asarray(k, np.int64)
        k1 = np.asarray(k1, np.int64)
        ji = np.rint(j - self.j_values[0]).astype(np.int64)
        n = self.n_cells
        valid = (ji >= 0) & (ji < self.n_j) & (k >= 0) & (k <= n) & (k1 >= 0) & (k1 <= n)
        out = np.full(np.broadcast(ji, k, k1).shape, -1, dtype=np.int64)
        jb, kb, k1b = np.broadcast_arrays(ji, k, k1)
        out[valid] = self._lookup[jb[valid], kb[valid], k1b[valid]]
        return out


# --------------------------------------------------------------------------
# The generator (qutip.piqs coefficient formulas, double precision)


def _sqrt(x):
    return np.sqrt(np.clip(x, 0.0, None))


def _safe(den):
    return np.where(den == 0, 1.0, den)


def _gamma1(n, r: DickeRates, j, m, m1):
    spontaneous = r.collective_emission / 2 * (2 * j * (j + 1) - m * (m - 1) - m1 * (m1 - 1))
    losses = r.emission / 2 * (n + m + m1)
    dephase = np.where(
        j <= 0,
        r.dephasing * n / 4,
        r.dephasing / 2 * (n / 2 - m * m1 * (n / 2 + 1) / _safe(j * (j + 1))),
    )
    collective_dephase = r.collective_dephasing / 2 * (m - m1) ** 2
    pump = r.pumping / 2 * (n - m - m1)
    collective_pump = r.collective_pumping / 2 * (2 * j * (j + 1) - m * (m + 1) - m1 * (m1 + 1))
    return -(spontaneous + losses + dephase + collective_dephase + pump + collective_pump)


def _gamma2(n, r, j, m, m1):
    root = _sqrt((j + m) * (j - m + 1) * (j + m1) * (j - m1 + 1))
    local = np.where(j > 0, r.emission / 2 * root * (n / 2 + 1) / _safe(j * (j + 1)), 0.0)
    return r.collective_emission * root + local


def _gamma3(n, r, j, m, m1):
    root = _sqrt((j + m) * (j + m - 1) * (j + m1) * (j + m1 - 1))
    return np.where(j > 0, r.emission / 2 * root * (n / 2 + j + 1) / _safe(j * (2 * j + 1)), 0.0)


def _gamma4(n, r, j, m, m1):
    root = _sqrt((j - m + 1) * (j - m + 2) * (j - m1 + 1) * (j - m1 + 2))
    return r.emission / 2 * root * (n / 2 - j) / ((j + 1) * (2 * j + 1))


def _gamma5(n, r, j, m, m1):
    root = _sqrt((j**2 - m**2) * (j**2 - m1**2))
    return np.where(j > 0, r.dephasing / 2 * root * (n / 2 + j + 1) / _safe(j * (2 * j + 1)), 0.0)


def _gamma6(n, r, j, m, m1):
    root = _sqrt(((j + 1) ** 2 - m**2) * ((j + 1) ** 2 - m1**2))
    return r.dephasing / 2 * root * (n / 2 - j) / ((j + 1) * (2 * j + 1))


def _gamma7(n, r, j, m, m1):
    root = _sqrt((j - m - 1) * (j - m) * (j - m1 - 1) * (j - m1))
    return np.where(j > 0, r.pumping / 2 * root * (n / 2 + j + 1) / _safe(j * (2 * j + 1)), 0.0)


def _gamma8(n, r, j, m, m1):
    root = _sqrt((j + m + 1) * (j - m) * (j + m1 + 1) * (j - m1))
    local = np.where(j > 0, r.pumping / 2 * root * (n / 2 + 1) / _safe(j * (j + 1)), 0.0)
    return r.collective_pumping * root + local


def _gamma9(n, r, j, m, m1):
    root = _sqrt((j + m + 1) * (j + m + 2) * (j + m1 + 1) * (j + m1 + 2))
    return r.pumping / 2 * root * (n / 2 - j) / ((j + 1) * (2 * j + 1))


# (dj, dm) of the source element feeding a target (j, m, m1), and its coefficient
# (piqs: row (j, m, m1) collects gamma_k evaluated at the source). Emission
# feeds from m + 1, pumping (gamma7..9) from m - 1.
_SOURCES = (
    (0, 0, _gamma1),
    (0, 1, _gamma2),
    (1, 1, _gamma3),
    (-1, 1, _gamma4),
    (1, 0, _gamma5),
    (-1, 0, _gamma6),
    (1, -1, _gamma7),
    (0, -1, _gamma8),
    (-1, -1, _gamma9),
)


def dissipator_matrix(basis: DickeBasis, rates: DickeRates) -> sp.csr_matrix:
    """Real sparse dissipator on the stored elements (block diagonal in ``q``).

    It acts on ``w = d_j rho_j``, the numbers ``qutip.piqs`` stores (its
    ``dicke_function_trace`` divides each block by ``d_j``; its Lindbladian
    conserves the plain sum of the diagonal).
    """
    n = basis.n_cells
    rows, cols, vals = [], [], []
    target = np.arange(basis.size)
    for dj, dm, gamma in _SOURCES:
        src_j = basis.j + dj
        src = basis.index(src_j, basis.k + dm, basis.k1 + dm)
        ok = src >= 0
        if not ok.any():
            continue
        s = src[ok]
        value = gamma(n, rates, basis.j[s], basis.m[s], basis.m1[s])
        keep = value != 0
        rows.append(target[ok][keep])
        cols.append(s[keep])
        vals.append(value[keep])
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(basis.size, basis.size),
    )
    matrix.sum_duplicates()
    matrix.sort_indices()
    return matrix


def split_levels(
    basis: DickeBasis, matrix: sp.csr_matrix
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """``(D0, Dlow, Draise)``: the entries of ``matrix`` that keep ``m``, lower it
    (emission, fed from ``m + 1``) and raise it (pumping, fed from ``m - 1``)."""
    coo = matrix.tocoo()
    change = basis.m[coo.row] - basis.m[coo.col]
    parts = []
    for keep in (change == 0, change < 0, change > 0):
        parts.append(
            sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)
        )
    return parts[0], parts[1], parts[2]


def hamiltonian_phase(basis: DickeBasis, J: float, omega0: float = 0.0) -> np.ndarray:
    """``phi`` with ``-i[H, rho]_{m m1} = i phi rho_{m m1}`` (H = H_int + omega0 H0).

    ``E(j, m) = J (j (j+1) - m^2 - N/2) + omega0 (m + N/2)``, so
    ``phi = -(E_m - E_m1) = J (m^2 - m1^2) - omega0 (m - m1)``.
    """
    return J * (basis.m**2 - basis.m1**2) - omega0 * (basis.m - basis.m1)


# --------------------------------------------------------------------------
# Initial states


def accepts_state(label: str) -> bool:
    """Whether this backend can start from ``label``: the permutation-symmetric states."""
    return parse_state(label).permutation_symmetric


def initial_state(label: str, basis: DickeBasis) -> np.ndarray:
    """``w`` of the initial state ``label`` (its declaration in ``states.STATES``).

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
    if not state.permutation_symmetric:
        raise ValueError(
            f"initial state {label!r} is not invariant under permutations of the cells: the "
            f"permutation-invariant solver (method 'piqs') takes products of one single-cell "
            f"state (full, classical, quantum, equal_ergotropy:<c>), ghz and dicke. Use method "
            f"'sector' (or 'auto' below {FULL_SPACE_MAX_CELLS + 1} cells) for {label!r}"
        )
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
# exp(L t) v by truncated Taylor series in the interaction picture


def _series_length(x: float) -> int:
    """Number of terms ``l >= 1`` of ``sum_l x^l / l!`` above 1e-18."""
    count, term = 0, 1.0
    while x > 0 and count < 64:
        term *= x / (count + 1)
        if term < 1e-18:
            break
        count += 1
    return count


def _max_abs(x: np.ndarray) -> float:
    """Largest |component| (for complex: of the real and imaginary parts; within sqrt 2)."""
    if x.size == 0:
        return 0.0
    flat = x.view(np.float64) if np.iscomplexobj(x) else x
    return float(max(flat.max(), -flat.min()))


def _real_matvec(matrix: sp.csr_matrix, x: np.ndarray) -> np.ndarray:
    """``matrix @ x`` for a real sparse matrix and a real or complex dense block."""
    if np.iscomplexobj(x):
        flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)
        return (matrix @ flat.view(np.float64)).view(np.complex128).reshape(x.shape)
    return matrix @ x


class TaylorExp:
    """Action of ``exp(t L)``, ``L = D0 + Dlow + Draise + i diag(phase)``, on blocks of vectors.

    ``D0`` (real sparse) keeps the Dicke level ``m``; ``Dlow`` (real sparse)
    lowers ``m`` and ``m1`` by one, ``Draise`` (real sparse, pumping; optional)
    raises them; ``phase`` is the Hamiltonian part, which changes by
    ``-omega`` (per row: ``omega = 2 J q``) along every lowering and by
    ``+omega`` along every raising.

    Two equivalent frames, the cheaper taken per step length (``parameters``):

    ``lab``
        Truncated Taylor series of ``exp(tau (L - mu))`` with a complex shift
        ``mu``: Al-Mohy & Higham (2011), degree and substeps from
        ``||L - mu||_1`` and the backward-error bounds ``theta_m`` at double
        precision, with their early termination. The phases (up to
        ``J N^2 / 4``) enter the norm.
    ``interaction``
        ``x(s) = exp(i phase s) y(s)``: the generator of ``y`` is
        ``G(s) = D0 + exp(i omega s) Dlow + exp(-i omega s) Draise``, free of
        the large phases; only the frequency ``omega <= 2 J N`` remains. ``y``
        follows its Taylor series in ``s``, ``(n+1) a_{n+1} = (D0 - mu) a_n +
        Dlow sum_l (i omega)^l / l! a_{n-l} + Draise sum_l (-i omega)^l / l!
        a_{n-l}`` (exact recurrence, real shift ``mu``), with substeps keeping
        ``omega tau <= 1`` and the same ``theta_m`` rule applied to
        ``|| |D0 - mu| + |Dlow| + |Draise| ||_1 + (e^(omega tau) - 1)
        ||Dlow + Draise||_1 + omega``. Each order costs the phase series' terms.
    """

    # Cost of one Taylor order in units of an elementwise pass over the vector.
    _MATVEC_COST = 3.0

    def __init__(
        self,
        d0: sp.csr_matrix,
        dlow: sp.csr_matrix,
        phase: np.ndarray | None = None,
        omega: np.ndarray | None = None,
        draise: sp.csr_matrix | None = None,
    ):
        self.d0 = d0.tocsr()
        self.dlow = dlow.tocsr()
        self.draise = None if draise is None or draise.nnz == 0 else draise.tocsr()
        self.phase = None if phase is None or not np.any(phase) else np.asarray(phase, float)
        self.omega = None if omega is None or not np.any(omega) else np.asarray(omega, float)
        n = self.d0.shape[0]
        diag = self.d0.diagonal()
        col_d0 = np.asarray(abs(self.d0).sum(axis=0)).ravel() - np.abs(diag)
        col_low = np.asarray(abs(self.dlow).sum(axis=0)).ravel()
        if self.draise is not None:  # |Dlow| + |Draise| bounds both level changes
            col_low = col_low + np.asarray(abs(self.draise).sum(axis=0)).ravel()
        off = col_d0 + col_low
        dmin = float(diag.min(initial=0.0))
        real_shifts = {0.0, float(diag.mean()) if n else 0.0, dmin, 0.5 * dmin}
        # interaction frame: real shift of D0
        best = min((float(np.max(off + np.abs(diag - mu), initial=0.0)), mu) for mu in real_shifts)
        self.mu = best[1]
        self.norm_combined = best[0]
        self.norm_lower = float(np.max(col_low, initial=0.0))
        self.omega_max = 0.0 if self.omega is None else float(np.abs(self.omega).max())
        self._d0_shifted = (self.d0 - self.mu * sp.identity(n, format="csr")).tocsr()
        # lab frame: complex shift of the whole diagonal
        if self.phase is not None:
            centre = 0.5 * (self.phase.min() + self.phase.max())
            full_diag = diag + 1j * self.phase
            lab = min(
                (float(np.max(off + np.abs(full_diag - complex(mu, centre)), initial=0.0)), mu)
                for mu in real_shifts
            )
            self.mu_lab = complex(lab[1], centre)
            self.norm_lab = lab[0]
            self._lab_diag = 1j * self.phase - 1j * centre  # added after the real shift
        else:
            self.mu_lab, self.norm_lab, self._lab_diag = complex(self.mu), best[0], None
        full = self.d0 + self.dlow if self.draise is None else self.d0 + self.dlow + self.draise
        self._full_shifted = (full - self.mu_lab.real * sp.identity(n)).tocsr()
        self.norm = min(self.norm_lab, self.norm_combined + self.omega_max)
        self.matvecs = 0

    def _lab_parameters(self, t: float) -> tuple[float, tuple[int, int]]:
        a = t * self.norm_lab
        best = None
        for m, theta in _THETA.items():
            s = max(1, math.ceil(a / theta))
            if best is None or m * s < best[0] * best[1]:
                best = (m, s)
        per_order = self._MATVEC_COST + (4.0 if self._lab_diag is not None else 2.0)
        return best[0] * best[1] * per_order, best

    def _interaction_parameters(self, t: float) -> tuple[float, tuple[int, int]]:
        s_min = max(1, math.ceil(self.omega_max * t))
        best, best_cost = None, math.inf
        for s in range(s_min, 4 * s_min + 64):
            tau = t / s
            a = tau * (
                self.norm_combined
                + math.expm1(self.omega_max * tau) * self.norm_lower
                + self.omega_max
            )
            per_order = self._MATVEC_COST + 3.0 + 2.0 * _series_length(self.omega_max * tau)
            for m, theta in _THETA.items():
                if a <= theta:
                    if m * s * per_order < best_cost:
                        best, best_cost = (m, s), m * s * per_order
                    break
        return best_cost, best

    def parameters(self, t: float) -> tuple[int, int, str]:
        """Taylor degree ``m``, number of substeps ``s`` and frame for a step ``t``."""
        t = abs(t)
        if t * self.norm == 0:
            return 0, 1, "lab"
        lab_cost, lab = self._lab_parameters(t)
        if self.omega is None and self.phase is None:
            return lab[0], lab[1], "lab"
        inter_cost, inter = self._interaction_parameters(t)
        if inter is not None and inter_cost < lab_cost:
            return inter[0], inter[1], "interaction"
        return lab[0], lab[1], "lab"

    def __call__(self, x: np.ndarray, t: float, params: tuple[int, int, str] | None = None):
        """``exp(t L) x`` for ``x`` of shape (n,) or (n, c)."""
        if t == 0 or x.size == 0:
            return x.copy()
        m_star, s, frame = params if params is not None else self.parameters(t)
        complex_ = self.phase is not None or self.omega is not None or np.iscomplexobj(x)
        f = np.ascontiguousarray(x, dtype=complex if complex_ else float)
        if frame == "lab":
            return self._lab(f, t, m_star, s)
        return self._interaction(f, t, m_star, s)

    def _lab(self, f, t, m_star, s):
        tau = t / s
        tol = 2.0**-53
        eta = (
            np.exp(self.mu_lab * tau)
            if self._lab_diag is not None
            else math.exp(self.mu_lab.real * tau)
        )
        diag = (
            None if self._lab_diag is None else self._lab_diag.reshape((-1,) + (1,) * (f.ndim - 1))
        )
        for _ in range(s):
            b = f
            total = f.copy()
            c1 = total_norm = _max_abs(f)
            for n in range(m_star):
                new = _real_matvec(self._full_shifted, b)
                if diag is not None:
                    new += diag * b
                new *= tau / (n + 1)
                self.matvecs += 1
                total += new
                c2 = _max_abs(new)
                if c1 + c2 <= 4 * tol * total_norm:
                    total_norm = _max_abs(total)
                    if c1 + c2 <= tol * total_norm:
                        break
                c1 = c2
                b = new
            f = eta * total
        return f

    def _interaction(self, f, t, m_star, s):
        tau = t / s
        tol = 2.0**-53
        eta = math.exp(self.mu * tau)
        shape = (-1,) + (1,) * (f.ndim - 1)
        # Taylor coefficients of exp(i omega u), u in [0, tau], kept while they matter.
        coeffs = [np.ones(1)]
        if self.omega is not None:
            w_tau = self.omega * tau
            term = np.ones_like(w_tau, dtype=complex)
            for order in range(1, 64):
                term = term * (1j * w_tau) / order
                if np.abs(term).max() < 1e-18:
                    break
                coeffs.append(term.reshape(shape))
        for step in range(s):
            start_phase = (
                1.0
                if self.omega is None
                else np.exp(1j * self.omega * (step * tau)).reshape(shape)
            )
            history = [f]
            total = f.copy()
            c1 = total_norm = _max_abs(f)
            for n in range(m_star):
                current = history[-1]
                if len(coeffs) == 1:
                    fed = current
                    fed_up = current
                else:
                    fed = current.copy()
                    fed_up = current.copy() if self.draise is not None else None
                    for order in range(1, min(len(coeffs), len(history))):
                        fed += coeffs[order] * history[-1 - order]
                        if fed_up is not None:  # exp(-i omega u): conjugate series
                            fed_up += np.conj(coeffs[order]) * history[-1 - order]
                    fed *= start_phase
                    if fed_up is not None:
                        fed_up *= np.conj(start_phase)
                new = _real_matvec(self._d0_shifted, current)
                new += _real_matvec(self.dlow, fed)
                if self.draise is not None:
                    new += _real_matvec(self.draise, fed_up)
                new *= tau / (n + 1)
                self.matvecs += 1
                total += new
                history.append(new)
                if len(history) > len(coeffs):
                    history.pop(0)
                c2 = _max_abs(new)
                # ||total|| only matters once the last two terms are small against it
                if c1 + c2 <= 4 * tol * total_norm:
                    total_norm = _max_abs(total)
                    if c1 + c2 <= tol * total_norm:
                        break
                c1 = c2
            f = eta * total
        if self.phase is not None:
            f = np.exp(1j * self.phase * t).reshape(shape) * f
        return f


# --------------------------------------------------------------------------
# Observables


def _single_blas_thread():
    """``observables.blas_threads.limit(1)`` where available (else no-op)."""
    try:
        from .observables import blas_threads
    except ImportError:  # pragma: no cover - older observables module
        return contextlib.nullcontext()
    return blas_threads.limit(1)


class DickeObserver:
    """Every stored observable of chunks of states in the Dicke representation.

    The measures are those of ``measures`` (the same formulas as the other
    backends) from the Dicke blocks with their multiplicities: the spectrum
    of rho is that of each ``rho_j`` repeated ``d_j`` times, the dephased
    state Delta(rho) is the ``q = 0`` part (H0 is diagonal in the Dicke basis),
    every cell has the same reduced state (``p = U / N``,
    ``rho_n[e, g] = <J-> / N``) and every pair the same two-cell state.

    Parameters
    ----------
    basis
        The Dicke basis.
    n_links
        Number of links of the geometry (all pairs are equivalent).
    """

    def __init__(self, basis: DickeBasis, n_links: int):
        self.basis = basis
        self.n_links = n_links
        n = basis.n_cells
        b = basis
        zero = slice(0, b.n0)
        self.excitations = b.k[zero].astype(float)
        # H0 levels k with multiplicity C(N, k): boundaries B_k = sum_{k'<k} C(N, k'), k = 1..N.
        counts = [math.comb(n, k) for k in range(n + 1)]
        self.level_edges = np.array([float(sum(counts[:k])) for k in range(1, n + 1)])
        # 2^N - B_k, summed exactly: 2^N - B_k in floats loses the few largest eigenvalues
        self.level_tails = np.array([float(sum(counts[k:])) for k in range(1, n + 1)])
        self.degeneracy = np.exp(b.log_d_values)  # d_j (float; exact for moderate N)
        # Concurrence moments.
        jz = b.j[zero]
        mz = b.m[zero]
        self.c_jpjm = (jz + mz) * (jz - mz + 1)
        self.q1 = slice(b.q_offsets[1], b.q_offsets[2]) if n >= 1 else slice(0, 0)
        self.q2 = slice(b.q_offsets[2], b.q_offsets[3]) if n >= 2 else slice(0, 0)
        j1, m1_ = b.j[self.q1], b.m[self.q1]
        self.a1 = np.sqrt((j1 + m1_) * (j1 - m1_ + 1))  # <m-1|J-|m>
        self.n_after = m1_ - 1 + n / 2  # Nop after lowering
        j2, m2 = b.j[self.q2], b.m[self.q2]
        self.a2 = np.sqrt((j2 + m2) * (j2 - m2 + 1) * (j2 + m2 - 1) * (j2 - m2 + 2))
        # Gather indices of each rho_j (upper triangle: row m >= col m1).
        self._blocks = []
        for ji, jv in enumerate(b.j_values):
            size = int(round(2 * jv + 1))
            r = np.arange(size)
            row, col = np.meshgrid(r, r, indexing="ij")
            upper = np.maximum(row, col), np.minimum(row, col)
            # row index r <-> m = j - r; element with m >= m1 has r <= c.
            lo, hi = upper[1], upper[0]
            k = np.rint(n / 2 + jv - lo).astype(np.int64)
            k1 = np.rint(n / 2 + jv - hi).astype(np.int64)
            idx = b.index(np.full(k.shape, jv), k, k1)
            self._blocks.append((ji, size, idx))
        self._coherence0 = None
        self._coherence_all = None

    # ----- spectra
    def _spectra(self, w: np.ndarray, compact: bool) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalue weights ``lambda(W_j)`` (B, n_eig) and their multiplicities d_j."""
        b = self.basis
        if compact:
            weights = w  # diagonal: eigenvalues of W_j are its diagonal
            mult = np.exp(b.log_d[: b.n0])
            return weights, mult
        parts, mults = [], []
        with _single_blas_thread():  # small eigenproblems: threads only cost here
            for ji, size, idx in self._blocks:
                block = w[:, idx]
                parts.append(np.linalg.eigvalsh(block, UPLO="U"))
                mults.append(np.full(size, self.degeneracy[ji]))
        return np.concatenate(parts, axis=1), np.concatenate(mults)

    def _passive(
        self, weights: np.ndarray, mult: np.ndarray, trace: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``sum_k r_k eps_k`` with eps ascending and r descending (passive energy) and
        r ascending (largest energy), via cumulative weights.

        With ``F(x)`` the weight of the ``x`` largest eigenvalues: the passive
        energy is ``sum_{k=1}^{N} (tr rho - F(B_k))`` and the largest
        ``sum_{k=1}^{N} F(2^N - B_k)``. Both read ``F`` where the rounding of the
        cumulative multiplicities (relative 1e-16 of up to 2^N) meets the
        smallest eigenvalues only.
        """
        per_copy = weights / mult
        order = np.argsort(-per_copy, axis=1, kind="stable")
        passive = np.empty(len(weights))
        maximal = np.empty(len(weights))
        for row in range(len(weights)):
            o = order[row]
            pos = np.concatenate(([0.0], np.cumsum(mult[o])))
            mass = np.concatenate(([0.0], np.cumsum(weights[row, o])))
            passive[row] = np.sum(trace[row] - np.interp(self.level_edges, pos, mass))
            maximal[row] = np.sum(np.interp(self.level_tails, pos, mass))
        return passive, maximal

    def lowering_mean(self, w: np.ndarray, compact: bool) -> np.ndarray:
        """``<J-> = sum_n rho_n[e, g]`` of each state of the chunk (B,)."""
        if compact or self.basis.n_cells < 1:
            return np.zeros(len(w), dtype=complex)
        return w[:, self.q1] @ self.a1

    # ----- two-cell state
    def two_cell_state(self, w: np.ndarray, compact: bool) -> np.ndarray:
        """The reduced state of any pair, (B, 4, 4) in the basis gg, ge, eg, ee."""
        n = self.basis.n_cells
        w0 = w[:, : self.basis.n0].real
        tau = w0.sum(axis=1)
        nop = w0 @ self.excitations
        nop2 = w0 @ self.excitations**2
        jpjm = w0 @ self.c_jpjm
        bsz = len(w)
        if compact or n < 2:
            jm = nop_jm = jm2 = np.zeros(bsz, dtype=complex)
        else:
            w1 = w[:, self.q1]
            jm = self.lowering_mean(w, compact)
            nop_jm = w1 @ (self.a1 * self.n_after)  # <Nop J->
            jm2 = w[:, self.q2] @ self.a2  # <J-^2>
        d = n * (n - 1)
        rho = np.zeros((bsz, 4, 4), dtype=complex)
        rho[:, 3, 3] = (nop2 - nop) / d
        rho[:, 1, 1] = rho[:, 2, 2] = (n * nop - nop2) / d
        rho[:, 0, 0] = (n * n * tau - 2 * n * nop + nop2 - n * tau + nop) / d
        rho[:, 1, 2] = rho[:, 2, 1] = (jpjm - nop) / d
        rho[:, 3, 1] = rho[:, 3, 2] = nop_jm / d
        rho[:, 1, 0] = rho[:, 2, 0] = (n * jm - (nop_jm + jm)) / d
        rho[:, 3, 0] = jm2 / d
        for r, c in ((3, 1), (3, 2), (1, 0), (2, 0), (3, 0)):
            rho[:, c, r] = np.conj(rho[:, r, c])
        return rho

    # ----- coherence
    def coherence(self, w: np.ndarray, compact: bool) -> np.ndarray:
        """Normalised l1 coherence in the computational basis (exact)."""
        n = self.basis.n_cells
        if n == 0:
            return np.zeros(len(w))
        if compact:
            if self._coherence0 is None:
                self._coherence0 = orbit_transform(self.basis, max_q=0)
            transform = self._coherence0
        else:
            if self._coherence_all is None:
                self._coherence_all = orbit_transform(self.basis)
            transform = self._coherence_all
        return transform.l1(w) / (1.0 - 2.0**-n)

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        w = np.asarray(w)
        if w.ndim == 1:
            w = w[None]
        b = self.basis
        compact = is_compact(w, b)
        n = b.n_cells
        w0 = w[:, : b.n0].real
        trace = w0.sum(axis=1)
        energy = w0 @ self.excitations
        weights, mult = self._spectra(w if not compact else w0, compact)
        passive, maximal = self._passive(weights, mult, trace)
        if compact:
            dephased_passive = passive
        else:  # Delta(rho): the q = 0 weights, each its own eigenvalue
            dephased_passive, _ = self._passive(*self._spectra(w0, True), trace)
        per_copy_min = (weights / mult).min(axis=1)
        if self.n_links and n >= 2:
            pair = concurrence(self.two_cell_state(w, compact))
            per_link = np.broadcast_to(pair[:, None], (len(w), self.n_links))
        else:
            per_link = np.zeros((len(w), self.n_links))
        hermiticity = np.zeros(len(w))
        if not compact:
            hermiticity = 2 * np.abs(w[:, : b.n0].imag / np.exp(b.log_d[: b.n0])).max(axis=1)
        cell = np.abs(self.lowering_mean(w, compact)) / n
        return {
            "energy": energy,
            **spectral_measures(energy, passive, maximal, dephased_passive),
            "ergotropy_local": n * qubit_ergotropy(energy / n, cell),
            "coherence": self.coherence(w0 if compact else w, compact),
            "population": np.repeat((energy / n)[:, None], n, axis=1),
            "concurrence": per_link,
            "concurrence_mean": per_link.mean(axis=1) if self.n_links else np.zeros(len(w)),
            "trace_error": np.abs(trace - 1.0),
            "min_eigenvalue": per_copy_min,
            "hermiticity_error": hermiticity,
        }


def _orthonormalise(v: np.ndarray) -> np.ndarray:
    """QR of the columns (ordered by descending j), signs kept (positive R diagonal)."""
    if v.shape[1] == 0:
        return v
    q, r = np.linalg.qr(v)
    sign = np.sign(np.diag(r))
    sign[sign == 0] = 1.0
    return q * sign


def orbit_vectors(n_cells: int, max_q: int | None = None):
    """Yield ``(k, k1, a_lo, js, V)`` for every sector pair with ``0 <= k - k1 <= max_q``.

    ``V[a - a_lo, c]`` is the component of the unit-Frobenius operator
    ``|j m><j m1| (x) 1_{d_j} / sqrt(d_j)`` (``j = js[c]``, descending) along the
    unit orbit operator ``M_a / sqrt(mult_a)``, ``M_a`` the sum of ``|x><y|``
    over bit strings with ``|x| = k``, ``|y| = k1``, ``|x & y| = a``.
    """
    n = n_cells
    max_q = n if max_q is None else max_q

    def a_range(k, k1):
        return max(0, k + k1 - n), min(k, k1)

    def lower_left(v, k, k1):  # J- . : (k, k1) -> (k-1, k1)
        lo, hi = a_range(k, k1)
        lo2, hi2 = a_range(k - 1, k1)
        out = np.zeros((hi2 - lo2 + 1, v.shape[1]))
        for a in range(lo, hi + 1):
            row = v[a - lo]
            if a - 1 >= lo2 and a - 1 <= hi2:  # alpha_a = sqrt(a (k1 - a + 1))
                out[a - 1 - lo2] += math.sqrt(a * (k1 - a + 1)) * row
            if lo2 <= a <= hi2:  # beta_a = sqrt((k - a)(N - k - k1 + a + 1))
                out[a - lo2] += math.sqrt((k - a) * (n - k - k1 + a + 1)) * row
        return out

    def lower_right(v, k, k1):  # . J+ : (k, k1) -> (k, k1-1)
        lo, hi = a_range(k, k1)
        lo2, hi2 = a_range(k, k1 - 1)
        out = np.zeros((hi2 - lo2 + 1, v.shape[1]))
        for a in range(lo, hi + 1):
            row = v[a - lo]
            if a - 1 >= lo2 and a - 1 <= hi2:
                out[a - 1 - lo2] += math.sqrt(a * (k - a + 1)) * row
            if lo2 <= a <= hi2:
                out[a - lo2] += math.sqrt((k1 - a) * (n - k - k1 + a + 1)) * row
        return out

    def a_minus(j, m):
        return np.sqrt((j + m) * (j - m + 1))

    top_j = n / 2
    below = None  # (k+1, k) vectors and js, from the previous row
    for k in range(n, -1, -1):
        m = k - n / 2
        js = np.arange(top_j, abs(m) - 1e-9, -1.0)  # descending
        lo, hi = a_range(k, k)
        if k == n:
            v = np.ones((1, 1))
        else:
            prev_js, prev_v = below
            keep = prev_js >= abs(m) - 1e-9
            v = lower_left(prev_v[:, keep], k + 1, k) / a_minus(prev_js[keep], m + 1)
            if len(js) > v.shape[1]:  # the new top j = m: identity of the sector, orthogonalised
                e = np.zeros((hi - lo + 1, 1))
                e[k - lo, 0] = 1.0
                v = np.concatenate([v, e], axis=1)
        v = _orthonormalise(v)
        yield k, k, lo, js, v
        below = None
        cur_js, cur_v = js, v
        for k1 in range(k - 1, -1, -1):
            if k - k1 > max_q and k1 != k - 1:
                break
            m1 = k1 - n / 2
            keep = cur_js >= abs(m1) - 1e-9
            new_v = lower_right(cur_v[:, keep], k, k1 + 1) / a_minus(cur_js[keep], m1 + 1)
            cur_js, cur_v = cur_js[keep], _orthonormalise(new_v)
            if k1 == k - 1:
                below = (cur_js, cur_v)
            if k - k1 <= max_q:
                lo1, _ = a_range(k, k1)
                yield k, k1, lo1, cur_js, cur_v


@dataclass
class OrbitTransform:
    """Maps stored elements ``w`` to the off-diagonal computational-basis orbits.

    ``matrix @ w`` holds, per orbit row, ``mult^(1/2) u_orbit / 2^N`` (doubled
    for ``q > 0``), so ``sum_rows |matrix @ w|`` is ``sum_{x != y} |rho_xy| / 2^N``.
    The entries of the orthonormal change of basis carry absolute rounding
    errors of a few ulps, so a row whose value is below ``tolerance`` times
    ``row_scale * sum_pair col_scale |w|`` (the size of its terms) cannot be
    told from zero: it counts as zero (a state diagonal in the computational
    basis then has exactly zero coherence, as in the full-space solver).
    """

    matrix: sp.csr_matrix
    row_scale: np.ndarray  # (rows,)
    row_pair: np.ndarray  # (rows,) pair of each row
    pair_sum: sp.csr_matrix  # (pairs, elements): col_scale of each element of the pair
    tolerance: float

    def l1(self, w: np.ndarray) -> np.ndarray:
        """``sum_{x != y} |rho_xy| / 2^N`` for states ``w`` (B, n)."""
        wt = np.ascontiguousarray(w.T)
        values = np.abs(self.matrix @ wt)
        scale = (self.pair_sum @ np.abs(wt))[self.row_pair] * self.row_scale[:, None]
        values[values <= self.tolerance * scale] = 0.0
        return values.sum(axis=0)


def orbit_transform(basis: DickeBasis, max_q: int | None = None) -> OrbitTransform:
    """The coherence map of ``basis`` (all ``q >= 0``, or only ``q = 0`` if ``max_q = 0``).

    Columns: stored elements; rows: off-diagonal orbits ``(k, k1, a)``. Each
    entry is ``V[a, j] sqrt(mult_a) / (2^N sqrt(d_j))`` (``w / sqrt(d_j)`` is
    the coordinate of the unit operator ``|j m><j m1| (x) 1 / sqrt(d_j)``),
    doubled for ``q > 0`` (the mirror pairs ``q < 0`` hold the conjugates).
    """
    n = basis.n_cells
    rows, cols, vals = [], [], []
    scales, pairs = [], []
    p_rows, p_cols, p_vals = [], [], []
    n_rows = 0
    log2n = n * math.log(2.0)
    for pair, (k, k1, lo, js, v) in enumerate(orbit_vectors(n, max_q)):
        size = v.shape[0]
        a = lo + np.arange(size)
        log_mult = (
            gammaln(n + 1)
            - gammaln(a + 1)
            - gammaln(k - a + 1)
            - gammaln(k1 - a + 1)
            - gammaln(n - k - k1 + a + 1)
        )
        row_scale = np.exp(0.5 * log_mult - log2n)
        if k == k1:
            row_scale[a == k] = 0.0  # the diagonal x = y
        if k != k1:
            row_scale = 2.0 * row_scale
        idx = basis.index(js, np.full(len(js), k), np.full(len(js), k1))
        col_scale = np.exp(-0.5 * basis.log_d[idx])
        block = v * row_scale[:, None] * col_scale[None, :]
        r, c = np.nonzero(block)
        rows.append(n_rows + r)
        cols.append(idx[c])
        vals.append(block[r, c])
        scales.append(row_scale)
        pairs.append(np.full(size, pair))
        p_rows.append(np.full(len(idx), pair))
        p_cols.append(idx)
        p_vals.append(col_scale)
        n_rows += size
    ncols = basis.n0 if max_q == 0 else basis.size
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, ncols),
    )
    pair_sum = sp.csr_matrix(
        (np.concatenate(p_vals), (np.concatenate(p_rows), np.concatenate(p_cols))),
        shape=(len(scales), ncols),
    )
    return OrbitTransform(
        matrix,
        np.concatenate(scales),
        np.concatenate(pairs),
        pair_sum,
        tolerance=_COHERENCE_FLOOR * (n + 1) * np.finfo(float).eps,
    )


# --------------------------------------------------------------------------
# The solver backend


def memory_estimate(n_cells: int, n_states: int = 3, coherent: bool = True) -> int:
    """Peak memory (bytes) of the permutation-invariant path for one point.

    The sparse generator (at most 6 nonzeros per stored element, built in
    COO and CSR), the Taylor work vectors, one chunk of states, the
    coherence transform (one dense square block per pair of excitation
    numbers, only when a state has Dicke-basis coherences) and the
    per-link concurrence series of the dataset.
    """
    basis_size = (math.comb(n_cells + 3, 3) + (n_cells // 2 + 1) ** 2) // 2 + 1
    generator = 6 * basis_size * 40
    work = 8 * basis_size * 16 * max(1, n_states)
    chunk = CHUNK_BYTES * 2
    transform = 0
    if coherent:
        pairs = sum(
            (min(k1, n_cells - k) + 1) ** 2 for k in range(n_cells + 1) for k1 in range(k + 1)
        )
        transform = 3 * pairs * 12
    n_links = n_cells * (n_cells - 1) // 2
    series = 4 * n_states * n_links * 1001 * 8
    return int(generator + work + chunk + transform + series + 300e6)


class PermutationalSolver:
    """Solver backend for permutation-invariant points (``method = "piqs"``).

    Same interface as ``solvers.FullSpaceSolver``: ``run`` yields chunks of
    states (here Dicke-basis vectors ``w``, shape (B, n0) real for states
    diagonal in the Dicke basis, (B, n) complex otherwise), ``observe`` turns
    a chunk into the stored observables, ``evolve`` propagates one state.

    Parameters
    ----------
    point
        A permutation-invariant point (complete graph, or uncoupled cells).
    method
        Must be ``"piqs"`` or ``"auto"``.
    rtol, atol
        Accepted for interface compatibility; the propagation is exact to
        double precision and uses neither.
    omega0
        Cell frequency (0: rotating frame).
    """

    def __init__(
        self,
        point: Point,
        method: str = "piqs",
        rtol: float = 1e-8,
        atol: float = 1e-10,
        omega0: float = 0.0,
    ):
        if method not in ("piqs", "auto"):
            raise ValueError(f"PermutationalSolver runs method 'piqs', got {method!r}")
        check_permutation_invariant(point)
        if point.n_cells > MAX_CELLS:
            raise ValueError(
                f"n_cells={point.n_cells}: the permutation-invariant solver holds the spin "
                f"multiplicities d_j ~ 2^N/N as floats and supports n_cells <= {MAX_CELLS}"
            )
        start = _time.perf_counter()
        self.point = point
        self.n_cells = point.n_cells
        self.method = "piqs"
        self.rtol, self.atol = rtol, atol
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

    def _block_norm(self, lo, hi) -> float:
        """``||D_q||_1 + 2 |J| q`` of one q block (what sets its Taylor cost)."""
        d = self.generator[lo:hi, lo:hi]
        col = np.asarray(abs(d).sum(axis=0)).ravel()
        return float(col.max(initial=0.0)) + float(np.abs(self.omega[lo:hi]).max()) + 1e-300

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
        n_chunk = int(max(1, min(256, CHUNK_BYTES // per_point)))
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


# --------------------------------------------------------------------------
# Small-N bridge to the full space (tests, checks)


def to_full_space(w: np.ndarray, basis: DickeBasis) -> np.ndarray:
    """The 2^N x 2^N density matrix of a Dicke-basis state (small N only).

    Builds ``|j m><j m1| (x) 1_{d_j} = c J-^(j-m) P_j J+^(j-m1) c'`` with ``P_j``
    the projector on total spin j and ``Jz = j`` (cell 0 most significant,
    bit 1 excited, as in ``operators``).
    """
    from .operators import SM, local

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
