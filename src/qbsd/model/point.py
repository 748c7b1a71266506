"""One parameter point of the study: geometry, coupling, dissipative channel.

All rates and couplings are in units of the single-cell decay rate Gamma
(Gamma = 1), time in 1/Gamma (docs/model.md, "Units and frame").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..disorder import check_values
from .channels import CHANNELS, Channel, Term
from .channels import channel_parameters as channel_parameters  # re-exported
from .geometry import Geometry


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
    parameters
        Keyword only. The channel's parameters, ``{name: value}`` (``thermal``:
        ``{"n_th": ...}``); stored as ``(name, value)`` pairs in declaration
        order. A channel without parameters takes none.
    detunings
        Keyword only. Static local fields delta_n/Gamma, one per cell: the
        Hamiltonian gains ``sum_n (delta_n / 2) sz_n`` (``docs/model.md``,
        "Disorder"). Empty (default): none.
    coupling_offsets
        Keyword only. Coupling offsets u_l/Gamma, one per link in the order of
        ``geometry.edges``: link l couples with ``J + u_l``. Empty (default):
        every link couples with J.
    """

    geometry: Geometry
    J: float
    gamma12: float
    channel: str
    detunings: tuple[float, ...] = field(default=(), kw_only=True)
    coupling_offsets: tuple[float, ...] = field(default=(), kw_only=True)
    parameters: tuple[tuple[str, float], ...] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, got {self.channel!r}")
        given = self.parameters
        given = dict(given.items() if hasattr(given, "items") else (given or ()))
        object.__setattr__(self, "parameters", self.spec.check_parameters(given))
        for key in ("J", "gamma12"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
                raise ValueError(f"{key} must be a real number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{key} must be finite, got {value!r}")
        if self.gamma12 < 0:
            raise ValueError(f"gamma12 must be >= 0 (a rate), got {self.gamma12!r}")
        for key, length, what in (
            ("detunings", self.n_cells, "cell"),
            ("coupling_offsets", len(self.geometry.edges), "link"),
        ):
            value = getattr(self, key)
            if value is None or (isinstance(value, tuple) and not value):
                values = ()  # clean
            else:
                values = check_values(value, length, key, what)
            object.__setattr__(self, key, values)
        self.check_complete_positivity()

    @property
    def n_cells(self) -> int:
        return self.geometry.n_cells

    @property
    def spec(self) -> Channel:
        return CHANNELS[self.channel]

    @property
    def disordered(self) -> bool:
        """Whether any detuning or coupling offset is nonzero."""
        return any(self.detunings) or any(self.coupling_offsets)

    def link_couplings(self) -> np.ndarray:
        """The coupling J + u_l of every link, in the order of ``geometry.edges``."""
        couplings = np.full(len(self.geometry.edges), float(self.J))
        if self.coupling_offsets:
            couplings += np.asarray(self.coupling_offsets)
        return couplings

    def preserves(self, perm: tuple[int, ...]) -> bool:
        """Whether the cell permutation ``perm`` (cell c -> ``perm[c]``) maps the
        detunings and coupling offsets of this point onto themselves.

        The graph automorphisms that do are exact symmetries of the disordered
        point; random disorder leaves none but the identity.
        """
        if self.detunings and any(
            self.detunings[perm[c]] != self.detunings[c] for c in range(self.n_cells)
        ):
            return False
        if self.coupling_offsets:
            offset = dict(zip(self.geometry.edges, self.coupling_offsets, strict=True))
            for (a, b), u in offset.items():
                image = (min(perm[a], perm[b]), max(perm[a], perm[b]))
                if offset.get(image) != u:
                    return False
        return True

    def parameter(self, name: str) -> float:
        """Value of the channel parameter ``name`` (NaN if the channel has none such)."""
        return dict(self.parameters).get(name, math.nan)

    def kossakowski(self, term: Term | None = None) -> np.ndarray:
        """Matrix ``c M`` of one of the channel's terms (default: the first), units of Gamma.

        ``M = I + gamma12 A`` for a collective term, ``I`` for a local one; ``c``
        is the term's prefactor at this point's parameters.
        """
        term = self.spec.terms[0] if term is None else term
        n = self.n_cells
        c = self.spec.prefactor(term, dict(self.parameters))
        if term.collective:
            return c * (np.eye(n) + self.gamma12 * self.geometry.adjacency)
        return c * np.eye(n)

    def check_complete_positivity(self) -> None:
        """Raise ``UnphysicalPointError`` if a Kossakowski matrix is not positive semidefinite.

        Every prefactor is >= 0 by declaration, so the collective matrix
        ``I + gamma12 A`` decides, for every channel alike.
        """
        if not any(term.collective for term in self.spec.terms):
            return
        if 1.0 + self.gamma12 * self.geometry.lambda_min < -_CP_TOLERANCE:
            bound = self.geometry.gamma12_bound()
            raise UnphysicalPointError(
                f"unphysical point: channel={self.channel}, geometry={self.geometry.label}, "
                f"n_cells={self.n_cells}, gamma12={self.gamma12:g} breaks complete positivity; "
                f"the Kossakowski matrix needs gamma12 <= Gamma/|lambda_min(A)| = {bound:.6g} "
                f"for this geometry (lambda_min(A) = {self.geometry.lambda_min:.6g})"
            )
