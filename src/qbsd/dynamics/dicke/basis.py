"""The Dicke basis, a channel's rates in it, and the generator on it.

``DickeRates.of`` reads the channel declaration (``model.channels.ladder_form``)
and splits each term into local and collective rates; ``channel_refusal``
says why a channel has none. ``DickeBasis`` orders the stored numbers
``w_{j m m1}``; ``dissipator_matrix`` builds the generator from the
coefficient formulas of ``qutip.piqs`` in double precision, and
``hamiltonian_phase`` the diagonal Hamiltonian part (the package overview,
``dynamics.dicke``, has the physics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

from ...model.channels import excitation_difference_violation, ladder_form
from ...model.point import Point

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
