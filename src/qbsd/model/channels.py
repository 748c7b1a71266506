"""The dissipative channels: one declaration each, read by every backend.

A channel is a list of Kossakowski terms (``docs/model.md``, "Dissipation").
The term ``Term(jump, rate, collective, per_parameter)`` stands for

    sum_{n,m} c M_nm D[X_n, X_m] rho,   D[X, Y] rho = X rho Y^dag - 1/2 {Y^dag X, rho},

with ``X`` the single-cell operator ``jump`` (``sm``, ``sp``, ``sz``, ``sx``
or ``sy``) acting on cell n, the prefactor ``c = rate + sum_p k_p * value_p``
(``per_parameter`` holds the pairs ``(p, k_p)`` over the channel's declared
parameters, in units of Gamma) and ``M = I + (gamma12/Gamma) A`` for a
collective term, ``M = I`` for a local one. Every ``M`` is positive
semidefinite exactly when ``1 + (gamma12/Gamma) lambda_min(A) >= 0``, the one
complete-positivity bound of every channel (``Point.check_complete_positivity``).

The channels of the study:

``relaxation``
    ``(Gamma/2) M D[sm_n, sm_m]`` plus the local ``(Gamma/8) D[sz_n]``
    (one cell: T1 = T2 = 2/Gamma; the paper's convention).
``amplitude_damping``
    ``Gamma M D[sm_n, sm_m]`` (spontaneous emission, T2 = 2 T1 = 2/Gamma).
``phase_damping``
    ``(Gamma/2) M D[sz_n, sz_m]`` (pure, possibly correlated, dephasing).
``thermal``
    ``Gamma M [(n_th + 1) D[sm_n, sm_m] + n_th D[sp_n, sp_m]]``: a bath with
    mean occupation ``n_th >= 0`` (generalised amplitude damping; ``n_th = 0``
    is ``amplitude_damping``). One cell relaxes to the Gibbs population
    ``n_th / (2 n_th + 1)`` at the rate ``(2 n_th + 1) Gamma``.
``depolarizing``
    ``(Gamma/4) sum_{a=x,y,z} M D[s^a_n, s^a_m]``: isotropic noise; one cell's
    Bloch vector shrinks as ``e^{-Gamma t}``.

Ladder form. Every jump is a combination of the ladder operators ``sm``,
``sp`` and ``sz`` (``sx = sm + sp``, ``sy = i sm - i sp``; ``JUMPS``), and
``D[X_n, X_m]`` is linear in ``X_n`` and antilinear in ``X_m``, so a channel
is also ``sum_{a,b} M^{ab}_nm D[E^a_n, E^b_m]`` with ``E`` in ``sm, sp, sz``
(``ladder_form``). ``E^a`` changes the number of excitations by its charge
(``CHARGE``: -1, +1, 0), and the term ``(a, b)`` changes the excitation
difference ``q = n(ket) - n(bra)`` by ``charge(a) - charge(b)`` (both its
jump part ``E^a rho E^b^dag`` and its anticommutator). A channel conserves q,
the symmetry the sector backend needs, exactly when every term with
``a != b`` cancels; for ``depolarizing`` the cross terms of ``D[sx_n, sx_m]``
and ``D[sy_n, sy_m]`` cancel (their sum is ``2 (D[sm_n, sm_m] + D[sp_n, sp_m])``),
leaving ``(Gamma/2) M (D[sm_n, sm_m] + D[sp_n, sp_m]) + (Gamma/4) M D[sz_n, sz_m]``.
This is checked at every point from the declaration, not assumed
(``excitation_difference_violation``).

A new channel is one ``Channel`` (with its ``Term`` list and ``Parameter``
list) passed to ``register_channel``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .point import Point

#: Each jump as a combination of the ladder operators: ``X = sum_a x_a E^a``.
JUMPS: dict[str, tuple[tuple[str, complex], ...]] = {
    "sm": (("sm", 1.0),),
    "sp": (("sp", 1.0),),
    "sz": (("sz", 1.0),),
    "sx": (("sm", 1.0), ("sp", 1.0)),
    "sy": (("sm", 1j), ("sp", -1j)),
}

#: Change of the number of excitations caused by each ladder operator.
CHARGE = {"sm": -1, "sp": 1, "sz": 0}

# Cross terms of the ladder form below this fraction of the largest entry are
# round-off of an exact cancellation.
_CANCELLATION = 1e-14


@dataclass(frozen=True)
class Parameter:
    """A channel parameter: a finite real number ``>= minimum``."""

    name: str
    long_name: str
    units: str = "1"
    minimum: float = 0.0


@dataclass(frozen=True)
class Term:
    """One Kossakowski term ``sum_nm c M_nm D[X_n, X_m]`` of a channel.

    Parameters
    ----------
    jump
        The single-cell operator X: one of ``JUMPS``.
    rate
        Prefactor c at zero parameters, in units of Gamma.
    collective
        True: ``M = I + (gamma12/Gamma) A``; False: ``M = I`` (local only).
    per_parameter
        ``(name, k)`` pairs: c grows by ``k * value`` of the channel parameter
        ``name``.
    """

    jump: str
    rate: float
    collective: bool = True
    per_parameter: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Channel:
    """A dissipative channel: its Kossakowski terms and declared parameters."""

    name: str
    terms: tuple[Term, ...]
    description: str
    parameters: tuple[Parameter, ...] = ()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def prefactor(self, term: Term, values: Mapping[str, float]) -> float:
        """The prefactor c of ``term`` at the parameter ``values`` (units of Gamma)."""
        c = term.rate
        for name, k in term.per_parameter:
            c = c + k * values[name]
        return c

    def check_parameters(self, values: Mapping[str, object]) -> tuple[tuple[str, float], ...]:
        """Validated ``(name, value)`` pairs in declaration order.

        Raises ``ValueError`` naming the parameter and the channel for a
        parameter the channel does not declare, a missing one, or a value
        that is not a finite real number ``>= minimum``.
        """
        for name in values:
            if name not in self.parameter_names:
                owners = [c.name for c in CHANNELS.values() if name in c.parameter_names]
                takes = ", ".join(self.parameter_names) or "none"
                where = f" ({name} belongs to: {', '.join(owners)})" if owners else ""
                raise ValueError(
                    f"{name} is not a parameter of channel {self.name!r} "
                    f"(its parameters: {takes}){where}"
                )
        out = []
        for p in self.parameters:
            if p.name not in values or values[p.name] is None:
                raise ValueError(
                    f"channel {self.name!r} needs {p.name} ({p.long_name}, a finite number "
                    f">= {p.minimum:g})"
                )
            value = values[p.name]
            if isinstance(value, bool) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise ValueError(
                    f"{p.name} of channel {self.name!r} must be a real number >= "
                    f"{p.minimum:g}, got {value!r}"
                )
            value = float(value)
            if not math.isfinite(value) or value < p.minimum:
                raise ValueError(
                    f"{p.name} of channel {self.name!r} must be a finite number >= "
                    f"{p.minimum:g}, got {value!r}"
                )
            out.append((p.name, value))
        return tuple(out)


N_TH = Parameter("n_th", "mean thermal occupation of the bath", "1", 0.0)

#: The channels of the paper; ``thermal`` and ``depolarizing`` extend it.
PAPER_CHANNELS = ("relaxation", "amplitude_damping", "phase_damping")

CHANNELS: dict[str, Channel] = {}


def check_declaration(channel: Channel) -> None:
    """Raise ``ValueError`` if ``channel`` is not a well-formed declaration."""
    if not channel.name or not isinstance(channel.name, str):
        raise ValueError(f"a channel needs a name, got {channel.name!r}")
    if not channel.terms:
        raise ValueError(f"channel {channel.name!r} declares no term")
    names = channel.parameter_names
    if len(set(names)) != len(names):
        raise ValueError(f"channel {channel.name!r} declares a parameter twice: {names}")
    for term in channel.terms:
        if term.jump not in JUMPS:
            raise ValueError(
                f"channel {channel.name!r}: jump must be one of {', '.join(JUMPS)}, "
                f"got {term.jump!r}"
            )
        if not math.isfinite(term.rate) or term.rate < 0:
            raise ValueError(f"channel {channel.name!r}: a rate must be >= 0, got {term.rate!r}")
        for name, k in term.per_parameter:
            if name not in names:
                raise ValueError(
                    f"channel {channel.name!r}: term on {term.jump} depends on {name}, "
                    f"which the channel does not declare"
                )
            if not math.isfinite(k) or k < 0:
                # with values >= minimum >= 0 the prefactor then stays >= 0
                raise ValueError(f"channel {channel.name!r}: a coefficient must be >= 0, got {k}")
    for p in channel.parameters:
        if not math.isfinite(p.minimum) or p.minimum < 0:
            raise ValueError(f"channel {channel.name!r}: {p.name} needs a minimum >= 0")


def register_channel(channel: Channel, *, replace: bool = False) -> Channel:
    """Check ``channel`` and add it to ``CHANNELS`` (every backend reads it from there)."""
    check_declaration(channel)
    if channel.name in CHANNELS and not replace:
        raise ValueError(f"channel {channel.name!r} is already declared")
    CHANNELS[channel.name] = channel
    return channel


def channel_parameters(name: str) -> tuple[str, ...]:
    """Names of the parameters channel ``name`` takes (``thermal``: ``("n_th",)``)."""
    if name not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}, got {name!r}")
    return CHANNELS[name].parameter_names


def declared_parameters() -> dict[str, Parameter]:
    """Every parameter of any declared channel, by name (first declaration wins)."""
    out: dict[str, Parameter] = {}
    for channel in CHANNELS.values():
        for p in channel.parameters:
            out.setdefault(p.name, p)
    return out


for _channel in (
    Channel(
        "relaxation",
        (Term("sm", 0.5), Term("sz", 0.125, collective=False)),
        "the paper's Eq. (5) with collective leakage: K=(Gamma/2)(I+g12 A) on sm, "
        "plus (Gamma/8) D[sz] per cell (T1 = T2 = 2/Gamma)",
    ),
    Channel(
        "amplitude_damping",
        (Term("sm", 1.0),),
        "spontaneous emission: K=Gamma(I+g12 A) on sm (T2 = 2 T1 = 2/Gamma)",
    ),
    Channel(
        "phase_damping",
        (Term("sz", 0.5),),
        "pure dephasing: K=(Gamma/2)(I+g12 A) on sz (coherence decays at Gamma)",
    ),
    Channel(
        "thermal",
        (
            Term("sm", 1.0, per_parameter=(("n_th", 1.0),)),
            Term("sp", 0.0, per_parameter=(("n_th", 1.0),)),
        ),
        "thermal bath (generalised amplitude damping): K=Gamma(I+g12 A) on "
        "(n_th+1) D[sm] + n_th D[sp]; one cell relaxes to p_e = n_th/(2 n_th+1) "
        "at (2 n_th+1) Gamma",
        (N_TH,),
    ),
    Channel(
        "depolarizing",
        (Term("sx", 0.25), Term("sy", 0.25), Term("sz", 0.25)),
        "isotropic noise: (Gamma/4)(I+g12 A) on D[sx] + D[sy] + D[sz]; one cell's "
        "Bloch vector shrinks as exp(-Gamma t)",
    ),
):
    register_channel(_channel)


# ---- point level ---------------------------------------------------------------------


def term_matrices(point: Point) -> list[tuple[Term, np.ndarray]]:
    """Each declared term of ``point``'s channel with its matrix ``c M`` (units of Gamma)."""
    return [(term, point.kossakowski(term)) for term in point.spec.terms]


def ladder_form(point: Point) -> list[tuple[str, str, np.ndarray]]:
    """``(a, b, M^ab)``: the channel as ``sum_ab sum_nm M^ab_nm D[E^a_n, E^b_m]``.

    Terms are summed per ladder pair in order of first appearance; pairs that
    cancel (to round-off of their size) are dropped. For channels declared in
    ladder operators only this is the declaration itself, term by term.
    """
    entries: dict[tuple[str, str], np.ndarray] = {}
    for term, matrix in term_matrices(point):
        for a, xa in JUMPS[term.jump]:
            for b, xb in JUMPS[term.jump]:
                coefficient = complex(xa) * complex(xb).conjugate()
                value = (
                    coefficient.real * matrix if coefficient.imag == 0 else coefficient * matrix
                )
                entries[(a, b)] = entries[(a, b)] + value if (a, b) in entries else value
    scale = max((float(np.abs(m).max()) for m in entries.values()), default=0.0)
    return [
        (a, b, m)
        for (a, b), m in entries.items()
        if float(np.abs(m).max()) > _CANCELLATION * scale
    ]


def excitation_difference_violation(point: Point) -> str | None:
    """Why ``point``'s channel changes ``q = n(ket) - n(bra)``, or None if it conserves q."""
    for a, b, _ in ladder_form(point):
        change = CHARGE[a] - CHARGE[b]
        if change:
            return (
                f"channel {point.channel!r} has a D[{a}_n, {b}_m] part that changes the "
                f"excitation difference q by {change:+d}"
            )
    return None
