"""``exp(t L) v`` on the Dicke basis, in the frame that costs fewer operations.

The truncated Taylor method of ``dynamics.taylor`` (one degree rule, one
series, one early stop) per group of ``q`` blocks, with its own shift, in the
lab frame or in the interaction picture of the diagonal Hamiltonian.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from ..taylor import Termination, degree_and_substeps, degree_for, series_length, taylor_series


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
        best = degree_and_substeps(t * self.norm_lab)
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
            per_order = self._MATVEC_COST + 3.0 + 2.0 * series_length(self.omega_max * tau)
            m = degree_for(a)
            if m is not None and m * s * per_order < best_cost:
                best, best_cost = (m, s), m * s * per_order
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
        if self._lab_diag is None:
            eta = math.exp(self.mu_lab.real * tau)

            def apply(b):
                return _real_matvec(self._full_shifted, b)

        else:
            eta = np.exp(self.mu_lab * tau)
            diag = self._lab_diag.reshape((-1,) + (1,) * (f.ndim - 1))

            def apply(b):
                new = _real_matvec(self._full_shifted, b)
                new += diag * b
                return new

        f, products = taylor_series(apply, f, tau, m_star, s, eta)
        self.matvecs += products
        return f

    def _interaction(self, f, t, m_star, s):
        tau = t / s
        eta = math.exp(self.mu * tau)
        shape = (-1,) + (1,) * (f.ndim - 1)
        coeffs = self._phase_series(tau, shape)
        for step in range(s):
            start_phase = (
                1.0
                if self.omega is None
                else np.exp(1j * self.omega * (step * tau)).reshape(shape)
            )
            f = eta * self._interaction_substep(f, tau, m_star, coeffs, start_phase)
        if self.phase is not None:
            f = np.exp(1j * self.phase * t).reshape(shape) * f
        return f

    def _phase_series(self, tau: float, shape: tuple[int, ...]) -> list[np.ndarray]:
        """Taylor coefficients of ``exp(i omega u)``, u in [0, tau], kept while they matter."""
        coeffs = [np.ones(1)]
        if self.omega is not None:
            w_tau = self.omega * tau
            term = np.ones_like(w_tau, dtype=complex)
            for order in range(1, 64):
                term = term * (1j * w_tau) / order
                if np.abs(term).max() < 1e-18:
                    break
                coeffs.append(term.reshape(shape))
        return coeffs

    def _interaction_substep(self, f, tau, m_star, coeffs, start_phase):
        """``exp(-mu tau)`` times ``y(tau)`` from ``y(0) = f`` by the exact recurrence."""
        history = [f]
        total = f.copy()
        stop = Termination(f)
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
            if stop.done(new, total):
                break
        return total
