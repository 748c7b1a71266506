"""The measures stored at every time point: declared once, defined once.

``MEASURES`` lists every time series the solvers' observers compute, with its
dimensions, units and long name; the trajectory dataset, ``simulate`` and the
tests read it from here. The formulas that turn a backend's primitives
(energy, spectra, reduced states) into the measures are the functions below,
shared by the full-space, sector and Dicke backends, which differ only in how
they obtain those primitives (``docs/model.md``, "Observables"):

- ergotropy ``E = U - sum_k r_k eps_k`` (r decreasing, eps the H0 levels
  increasing) and the capacity ``C = sum_k r_k (eps_{D+1-k} - eps_k)``, from the
  spectrum of rho (``spectral_measures``);
- incoherent ergotropy ``E_i = E(Delta(rho))``, the ergotropy of rho dephased in
  the H0 eigenbasis (coherence inside a degenerate eigenspace kept), from the
  spectra of the excitation-number blocks of rho; coherent ergotropy
  ``E_c = E - E_i``;
- local ergotropy ``E_loc = sum_n E(rho_n)`` from the single-cell reduced
  states (``local_ergotropy``);
- the concurrence of two-cell states (``concurrence``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Measure:
    """A time series of the trajectory dataset, dims ``(state, *per, time)``."""

    name: str
    per: tuple[str, ...]  # () or ("cell",) or ("link",)
    units: str
    long_name: str


#: Every series an observer computes (the dataset derives efficiency and the link mean).
MEASURES: tuple[Measure, ...] = (
    Measure("energy", (), "hbar*omega0", "internal energy U = tr(rho H0)"),
    Measure("ergotropy", (), "hbar*omega0", "ergotropy E (extractable work)"),
    Measure(
        "coherence",
        (),
        "1",
        "normalised l1 coherence in the energy basis, sum_{i!=j}|rho_ij|/(2^N-1)",
    ),
    Measure("concurrence", ("link",), "1", "Wootters concurrence of each linked pair"),
    Measure("population", ("cell",), "1", "excited population of each cell"),
    Measure(
        "ergotropy_incoherent",
        (),
        "hbar*omega0",
        "incoherent ergotropy E_i: ergotropy of rho dephased in the H0 eigenbasis",
    ),
    Measure(
        "ergotropy_coherent",
        (),
        "hbar*omega0",
        "coherent ergotropy E_c = E - E_i: the part held in coherence between energies",
    ),
    Measure(
        "capacity",
        (),
        "hbar*omega0",
        "battery capacity: largest minus smallest energy of the unitary orbit of rho",
    ),
    Measure(
        "ergotropy_local",
        (),
        "hbar*omega0",
        "local ergotropy sum_n E(rho_n): extractable by unitaries on single cells",
    ),
)

#: The measures of ``MEASURES`` by name.
MEASURE_BY_NAME = {m.name: m for m in MEASURES}

#: Names of the measures built from the spectra (``spectral_measures``).
SPECTRAL = ("ergotropy", "ergotropy_incoherent", "ergotropy_coherent", "capacity")


def passive_and_maximal(eigenvalues: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(sum_k r_k eps_k`` with r decreasing, the same with r increasing``)``.

    ``eigenvalues`` (B, d) ascending, ``levels`` (d,) ascending: the smallest and
    largest energy a unitary can give rho.
    """
    return eigenvalues[:, ::-1] @ levels, eigenvalues @ levels


def spectral_measures(
    energy: np.ndarray, passive: np.ndarray, maximal: np.ndarray, dephased_passive: np.ndarray
) -> dict[str, np.ndarray]:
    """The spectral measures from the energies of the passive states.

    Parameters
    ----------
    energy
        ``U = tr(rho H0)`` (the same for rho and its dephased state).
    passive, maximal
        Smallest and largest energy of the unitary orbit of rho.
    dephased_passive
        Smallest energy of the unitary orbit of the dephased state Delta(rho).
    """
    ergotropy = energy - passive
    incoherent = energy - dephased_passive
    return {
        "ergotropy": ergotropy,
        "ergotropy_incoherent": incoherent,
        "ergotropy_coherent": ergotropy - incoherent,
        "capacity": maximal - passive,
    }


def qubit_ergotropy(excited: np.ndarray, coherence: np.ndarray) -> np.ndarray:
    """Ergotropy of single-cell states with populations ``excited`` and ``|rho_eg|``.

    ``E = (z + r) / 2`` with ``z = 2 p_e - 1`` and ``r = sqrt(z^2 + 4 |rho_eg|^2)``
    the Bloch vector's length; written ``2 |rho_eg|^2 / (r - z)`` for ``z < 0``,
    where ``z + r`` cancels.
    """
    z = 2.0 * np.asarray(excited, float) - 1.0
    x2 = 4.0 * np.abs(coherence) ** 2
    r = np.sqrt(z * z + x2)
    with np.errstate(divide="ignore", invalid="ignore"):
        below = np.where(r - z > 0, x2 / (2.0 * (r - z)), 0.0)
    return np.where(z >= 0, 0.5 * (z + r), below)


def local_ergotropy(excited: np.ndarray, coherence: np.ndarray) -> np.ndarray:
    """``E_loc = sum_n E(rho_n)`` from per-cell populations and ``|rho_n[e, g]|`` (B, N)."""
    return qubit_ergotropy(excited, coherence).sum(axis=-1)


# sy x sy is real: sy = i A with the real A = [[0, -1], [1, 0]], so sy x sy = -A x A
_SY_SY = -np.kron([[0.0, -1.0], [1.0, 0.0]], [[0.0, -1.0], [1.0, 0.0]])


def concurrence(rho2: np.ndarray) -> np.ndarray:
    """Wootters concurrence of two-qubit states ``rho2`` (..., 4, 4): every backend's routine.

    ``C = max(0, l1 - l2 - l3 - l4)`` with ``l_i`` (decreasing) the square roots
    of the eigenvalues of ``rho (sy x sy) rho* (sy x sy)``. They are taken as the
    singular values of ``tau = X^T (sy x sy) X`` for ``rho = X X^dagger``,
    ``X = V sqrt(p)`` from ``eigh(rho)`` with negative rounding in ``p`` clipped:
    ``tau^dagger tau`` is similar to Wootters' matrix, so the singular values
    are the ``l_i`` themselves, with absolute errors of a few ulps. Square roots
    of eigenvalues (of that matrix or of ``sqrt(rho) rho~ sqrt(rho)``) lose half
    the digits where an ``l_i`` is near zero, as on every rank-deficient state:
    errors of 1e-8 there, the size of the event threshold; this route keeps
    them near 1e-15.
    """
    rho2 = np.asarray(rho2)
    p, v = np.linalg.eigh(rho2)
    x = v * np.sqrt(np.clip(p, 0.0, None))[..., None, :]
    tau = np.swapaxes(x, -1, -2) @ _SY_SY @ x
    s = np.linalg.svd(tau, compute_uv=False)
    return np.clip(s[..., 0] - s[..., 1:].sum(axis=-1), 0.0, None)
