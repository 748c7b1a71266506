"""Exact single-cell results of docs/model.md ("Reference values"), for tests and figures.

Times in 1/Gamma, energies in hbar*omega0; ``t`` may be an array.
"""

from __future__ import annotations

import numpy as np

# Single-cell excited population p(0) and coherence |rho_eg(0)| of each state.
_P0 = {"full": 1.0, "classical": 0.75, "quantum": 0.5}
_C0 = {"full": 0.0, "classical": 0.0, "quantum": 0.5}


def relaxation_rates(channel: str, n_th: float | None = None) -> tuple[float, float, float]:
    """``(population rate, coherence rate, stationary population)`` of one cell.

    Units of Gamma. One cell under every channel obeys
    ``p(t) = p_inf + (p(0) - p_inf) e^{-g1 t}`` and ``|rho_eg(t)| = |rho_eg(0)| e^{-g2 t}``:
    ``thermal`` has ``g1 = (2 n_th + 1)``, ``g2 = g1 / 2``, ``p_inf = n_th / (2 n_th + 1)``
    (``n_th`` required); ``depolarizing`` shrinks the Bloch vector at 1 towards
    the centre, ``p_inf = 1/2``.
    """
    if channel == "thermal":
        if n_th is None:
            raise ValueError("the thermal channel needs n_th")
        g1 = 2 * n_th + 1
        return g1, g1 / 2, n_th / g1
    if n_th is not None:
        raise ValueError(f"n_th is not a parameter of channel {channel!r}")
    return {
        "relaxation": (0.5, 0.5, 0.0),
        "amplitude_damping": (1.0, 0.5, 0.0),
        "phase_damping": (0.0, 1.0, 0.0),
        "depolarizing": (1.0, 1.0, 0.5),
    }[channel]


def single_cell(
    channel: str, state: str, t, n_th: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ``(U, E, coherence)`` of one cell at times ``t``.

    The cell's Bloch vector has z = 2p - 1 and transverse length 2|rho_eg|;
    its ergotropy is (z + r)/2 with r the Bloch length (eigenvalues
    (1 +- r)/2 against levels 0, 1). ``n_th`` for ``thermal`` only.
    """
    t = np.asarray(t, float)
    decay, dephase, p_inf = relaxation_rates(channel, n_th)
    p = p_inf + (_P0[state] - p_inf) * np.exp(-decay * t)
    c = _C0[state] * np.exp(-dephase * t)
    z = 2 * p - 1
    r = np.sqrt(z**2 + 4 * c**2)
    return p, np.maximum(0.0, (z + r) / 2), 2 * c


# Closed-form half-lives and sudden-death times (NaN: never reached).
HALF_LIVES = {
    ("relaxation", "full"): 2 * np.log(4 / 3),
    ("relaxation", "classical"): 2 * np.log(6 / 5),
    ("relaxation", "quantum"): 2 * np.log(2 * (1 + np.sqrt(6)) / 5),
    ("amplitude_damping", "full"): np.log(4 / 3),
    ("amplitude_damping", "classical"): np.log(6 / 5),
    ("amplitude_damping", "quantum"): np.log(8 / 5),
    ("phase_damping", "full"): np.nan,
    ("phase_damping", "classical"): np.nan,
    ("phase_damping", "quantum"): np.log(2),
    # the Bloch vector shrinks as e^{-Gamma t}, and with it E: ln 2 for every state
    ("depolarizing", "full"): np.log(2),
    ("depolarizing", "classical"): np.log(2),
    ("depolarizing", "quantum"): np.log(2),
}

SUDDEN_DEATH = {
    ("relaxation", "full"): 2 * np.log(2),
    ("relaxation", "classical"): 2 * np.log(3 / 2),
    ("amplitude_damping", "full"): np.log(2),
    ("amplitude_damping", "classical"): np.log(3 / 2),
}

XI0 = {"full": 1.0, "classical": 2 / 3, "quantum": 1.0}
