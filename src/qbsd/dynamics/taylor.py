"""The one truncated-Taylor exponential: ``exp(t A) v`` to double precision.

Al-Mohy and Higham (SIAM J. Sci. Comput. 33, 488 (2011)): with ``a`` a bound
on ``||t A||_1``, the action is ``[eta T_m(tau A)]^s v`` with ``tau = t / s``,
``T_m`` the Taylor polynomial of degree ``m`` and ``eta`` the exponential of a
shift taken out of ``A`` beforehand (1 without one). Degree and substeps come
from the backward-error bounds ``theta_m`` (``THETA``: the largest
``||tau A||_1`` that degree ``m`` handles at unit round-off ``2^-53``), the
cheapest ``m s`` with ``a / s <= theta_m`` (``degree_and_substeps``); each
substep stops early once two successive terms are below round-off of the sum
(``taylor_series``).

Every backend that steps exactly uses it: the sector backend (its exact steps
and its dense ``exp(L dt)`` per small q-block, with substeps capped at
``||tau L||_1 <= 1`` because its generator is not shifted, and the full
degree: see ``dynamics.sector.EARLY_STOP``), the Dicke backend
(``dicke.propagator``, whose shifted lab and interaction frames pick their
own frame by cost from the same bounds) and the full-space ``evolve``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

#: Unit round-off the series are truncated at.
TOLERANCE = 2.0**-53

#: Taylor degree m -> largest ||tau A||_1 it handles at double precision
#: (Al-Mohy & Higham 2011, Table 3.1; the values scipy.sparse.linalg uses).
THETA = {
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


def degree_for(a: float) -> int | None:
    """The smallest degree whose ``theta_m`` covers ``||tau A||_1 = a`` (None: none does)."""
    for m, theta in THETA.items():
        if a <= theta:
            return m
    return None


def degree_and_substeps(a: float, max_theta: float = math.inf) -> tuple[int, int]:
    """Degree ``m`` and substeps ``s`` for ``||t A||_1 <= a``: the cheapest ``m s``.

    ``s = ceil(a / theta_m)``, and at least ``ceil(a / max_theta)``: an
    unshifted generator keeps each substep's norm below ``max_theta`` so that
    the terms of one substep never grow far above its result.
    """
    a = abs(a)
    if a == 0.0:
        return 0, 1
    floor = max(1, math.ceil(a / max_theta)) if math.isfinite(max_theta) else 1
    best: tuple[int, int] | None = None
    for m, theta in THETA.items():
        s = max(floor, math.ceil(a / theta))
        if best is None or m * s < best[0] * best[1]:
            best = (m, s)
    return best


def series_length(x: float) -> int:
    """Number of terms ``l >= 1`` of ``sum_l x^l / l!`` above 1e-18."""
    count, term = 0, 1.0
    while x > 0 and count < 64:
        term *= x / (count + 1)
        if term < 1e-18:
            break
        count += 1
    return count


def max_abs(x: np.ndarray) -> float:
    """Largest |component| (for complex: of the real and imaginary parts; within sqrt 2)."""
    if x.size == 0:
        return 0.0
    flat = x.view(np.float64) if np.iscomplexobj(x) else x
    return float(max(flat.max(), -flat.min()))


class Termination:
    """The early stop of one substep: two successive terms below round-off of the sum.

    ``||sum||`` is only recomputed once the last two terms are small against
    its previous value, so most orders cost no extra pass over the vector.
    """

    def __init__(self, first: np.ndarray, tol: float = TOLERANCE):
        self.tol = tol
        self.previous = self.total_norm = max_abs(first)

    def done(self, term: np.ndarray, total: np.ndarray) -> bool:
        """Whether the series may stop after adding ``term`` to ``total``."""
        current = max_abs(term)
        tail = self.previous + current
        if tail <= 4 * self.tol * self.total_norm:
            self.total_norm = max_abs(total)
            if tail <= self.tol * self.total_norm:
                return True
        self.previous = current
        return False


def taylor_series(
    apply: Callable[[np.ndarray], np.ndarray],
    f: np.ndarray,
    tau: float,
    degree: int,
    substeps: int,
    eta: complex | float = 1.0,
    tol: float = TOLERANCE,
    early_stop: bool = True,
) -> tuple[np.ndarray, int]:
    """``[eta T_m(tau A)]^s f`` with ``apply(b) = A b``, and the number of products.

    ``f`` is a vector or a block of column vectors; ``apply`` returns a new
    array. Each substep sums at most ``degree`` terms (``degree_and_substeps``)
    and, with ``early_stop``, stops once they no longer change the sum
    (``Termination``); without it every substep sums all ``degree`` terms.
    """
    products = 0
    for _ in range(substeps):
        b = f
        total = f.copy()
        stop = Termination(f, tol) if early_stop else None
        for n in range(degree):
            new = apply(b)
            new *= tau / (n + 1)
            products += 1
            total += new
            if stop is not None and stop.done(new, total):
                break
            b = new
        f = eta * total if eta != 1.0 else total
    return f, products


def expm_multiply(
    generator,
    f: np.ndarray,
    t: float,
    norm: float | None = None,
    max_theta: float = 1.0,
    early_stop: bool = True,
) -> np.ndarray:
    """``exp(t generator) f`` for a sparse or dense matrix ``generator`` (unshifted).

    ``norm`` is ``||generator||_1`` (computed when not given); substeps keep
    ``||tau generator||_1 <= max_theta``; ``early_stop`` as in ``taylor_series``.
    """
    if t == 0 or f.size == 0:
        return f.copy()
    if norm is None:
        norm = one_norm(generator)
    degree, substeps = degree_and_substeps(norm * t, max_theta)
    out, _ = taylor_series(
        lambda b: generator @ b,
        f,
        t / max(substeps, 1),
        degree,
        substeps,
        early_stop=early_stop,
    )
    return out


def one_norm(matrix) -> float:
    """``||matrix||_1``, the largest column sum of moduli (sparse or dense)."""
    if getattr(matrix, "nnz", None) == 0:
        return 0.0
    return float(np.asarray(abs(matrix).sum(axis=0)).max(initial=0.0))
