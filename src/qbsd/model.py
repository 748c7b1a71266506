"""One parameter point of the study: geometry, coupling, dissipative channel.

All rates and couplings are in units of the single-cell decay rate Gamma
(Gamma = 1), time in 1/Gamma (MODEL.md, "Units and frame").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .geometry import Geometry


@dataclass(frozen=True)
class Channel:
    """A dissipative channel: jump operator type and Kossakowski prefactor.

    The generator is ``sum_nm K_nm D[X_n, X_m] + local_dephasing * sum_n D[sz_n]``
    with ``K = rate * (I + gamma12 * A)`` and ``X = sm`` or ``sz``.
    """

    name: str
    jump: str  # "sm" (decay) or "sz" (dephasing)
    rate: float  # prefactor of K in units of Gamma
    local_dephasing: float  # rate of the extra local D[sz] term, units of Gamma
    description: str


CHANNELS: dict[str, Channel] = {
    "relaxation": Channel(
        "relaxation",
        "sm",
        0.5,
        0.125,
        "the paper's Eq. (5) with collective leakage: K=(Gamma/2)(I+g12 A) on sm, "
        "plus (Gamma/8) D[sz] per cell (T1 = T2 = 2/Gamma)",
    ),
    "amplitude_damping": Channel(
        "amplitude_damping",
        "sm",
        1.0,
        0.0,
        "spontaneous emission: K=Gamma(I+g12 A) on sm (T2 = 2 T1 = 2/Gamma)",
    ),
    "phase_damping": Channel(
        "phase_damping",
        "sz",
        0.5,
        0.0,
        "pure dephasing: K=(Gamma/2)(I+g12 A) on sz (coherence decays at Gamma)",
    ),
}


class UnphysicalPointError(ValueError):
    """A parameter point whose Kossakowski matrix is not positive semidefinite."""


# K's smallest eigenvalue may sit at exactly zero on the bound (central N=5 at
# gamma12 = 1/2); allow round-off there.
_CP_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Point:
    """A physical parameter point (one simulation).

    Parameters
    ----------
    geometry
        The cells and their links.
    J
        Exchange coupling J/Gamma on every link.
    gamma12
        Collective rate Gamma_12/Gamma on every link.
    channel
        Name of the dissipative channel (see ``CHANNELS``).
    """

    geometry: Geometry
    J: float
    gamma12: float
    channel: str

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, got {self.channel!r}")
        for key in ("J", "gamma12"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise ValueError(f"{key} must be a real number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{key} must be finite, got {value!r}")
        if self.gamma12 < 0:
            raise ValueError(f"gamma12 must be >= 0 (a rate), got {self.gamma12!r}")
        self.check_complete_positivity()

    @property
    def n_cells(self) -> int:
        return self.geometry.n_cells

    @property
    def spec(self) -> Channel:
        return CHANNELS[self.channel]

    def kossakowski(self) -> np.ndarray:
        """Kossakowski matrix K over the cells (units of Gamma)."""
        n = self.n_cells
        return self.spec.rate * (np.eye(n) + self.gamma12 * self.geometry.adjacency)

    def check_complete_positivity(self) -> None:
        """Raise ``UnphysicalPointError`` if K is not positive semidefinite."""
        if 1.0 + self.gamma12 * self.geometry.lambda_min < -_CP_TOLERANCE:
            bound = self.geometry.gamma12_bound()
            raise UnphysicalPointError(
                f"unphysical point: channel={self.channel}, geometry={self.geometry.label}, "
                f"n_cells={self.n_cells}, gamma12={self.gamma12:g} breaks complete positivity; "
                f"the Kossakowski matrix needs gamma12 <= Gamma/|lambda_min(A)| = {bound:.6g} "
                f"for this geometry (lambda_min(A) = {self.geometry.lambda_min:.6g})"
            )
