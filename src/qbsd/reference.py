"""Exact single-cell results of docs/model.md ("Reference values"), for tests and figures.

Times in 1/Gamma, energies in hbar*omega0; ``t`` may be an array.
"""

from __future__ import annotations

import numpy as np

# Single-cell excited population p(0) and coherence |rho_eg(0)| of each state.
_P0 = {"full": 1.0, "classical": 0.75, "quantum": 0.5}
_C0 = {"full": 0.0, "classical": 0.0, "quantum": 0.5}

# (population decay rate, coherence decay rate) of each channel, units of Gamma.
_RATES = {"relaxation": (0.5, 0.5), "amplitude_damping": (1.0, 0.5), "phase_damping": (0.0, 1.0)}


def single_cell(channel: str, state: str, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ``(U, E, coherence)`` of one cell at times ``t``.

    The cell's Bloch vector has z = 2p - 1 and transverse length 2|rho_eg|;
    its ergotropy is (z + r)/2 with r the Bloch length (eigenvalues
    (1 +- r)/2 against levels 0, 1).
    """
    t = np.asarray(t, float)
    decay, dephase = _RATES[channel]
    p = _P0[state] * np.exp(-decay * t)
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
}

SUDDEN_DEATH = {
    ("relaxation", "full"): 2 * np.log(2),
    ("relaxation", "classical"): 2 * np.log(3 / 2),
    ("amplitude_damping", "full"): np.log(2),
    ("amplitude_damping", "classical"): np.log(3 / 2),
}

XI0 = {"full": 1.0, "classical": 2 / 3, "quantum": 1.0}
