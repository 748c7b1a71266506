"""Every stored observable of a state in the Dicke basis, exact for any N.

``DickeObserver`` turns chunks of Dicke-basis states into the measures of
``observables.measures`` (the formulas every backend shares); the l1
coherence in the computational basis comes from the orbit transform
(``orbit_transform``). The package overview (``dynamics.dicke``) derives
each quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import gammaln

from ...linalg import blas_threads
from ...observables.measures import concurrence, qubit_ergotropy, spectral_measures
from .basis import DickeBasis
from .states import is_compact

# Orbit values below this many (N + 1) ulps of their terms count as zero
# (see ``OrbitTransform``).
_COHERENCE_FLOOR = 32.0


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
        with blas_threads.limit(1):  # small eigenproblems: threads only cost here
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
