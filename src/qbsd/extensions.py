"""The labels behind the figures that go beyond the paper (config key ``extension_figures``).

Each set is a handful of labels at the paper's couplings (J = 2, Gamma_12 =
Gamma/2 unless stated) with the initial states its figure compares; they
join the study's own labels, so a point asked for by both is simulated once
with the union of their states. docs/model.md describes the physics of each.

- ``thermal``: the bath occupation n_th against the ergotropy half-life,
  N = 5, the four geometries, classical against quantum.
- ``depolarizing``: the depolarizing counterpart of the paper's Fig. 4b.
- ``equal_ergotropy``: the classical-to-quantum family at N = 5 (with the
  paper's two states, whose ergotropy split is drawn too).
- ``entangled``: product against entangled and dark states at N = 4 in every
  channel, and the collectively dark singlet pairs (all-to-all coupling at
  Gamma_12 = Gamma, amplitude damping) at N = 2 and 4.
- ``disorder``: local-field disorder W at N = 5, realisations seeded per point.
"""

from __future__ import annotations

from dataclasses import dataclass

from .points import PAPER_GAMMA12, PAPER_J, Label

#: The paper's five-cell geometries (its Figs. 4 and 5).
GEOMETRIES = ("central", "linear", "circular", "symmetric")
N_TH_VALUES = (0.0, 0.1, 0.25, 0.5, 1.0)
COHERENCE_VALUES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
ENTANGLED_STATES = ("classical", "quantum", "ghz", "dicke", "singlet_pairs")
ENTANGLED_CHANNELS = ("relaxation", "amplitude_damping", "phase_damping", "depolarizing")
W_VALUES = (0.0, 0.5, 1.0, 2.0, 4.0)
#: Realisations of a disordered point when the config has no ``disorder`` section.
REALISATIONS = 20
PRODUCT_STATES = ("classical", "quantum")


@dataclass(frozen=True)
class LabelSet:
    """Labels one figure needs, and the initial states it compares."""

    name: str
    labels: tuple[Label, ...]
    states: tuple[str, ...]


def _five(channel: str, **extra) -> list[Label]:
    return [Label(channel, 5, g, PAPER_J, PAPER_GAMMA12, **extra) for g in GEOMETRIES]


def label_sets() -> list[LabelSet]:
    """Every set, in a fixed order."""
    thermal = [lab for n_th in N_TH_VALUES for lab in _five("thermal", n_th=n_th)]
    family = tuple(f"equal_ergotropy:{c:g}" for c in COHERENCE_VALUES)
    entangled = [
        Label(channel, 4, g, PAPER_J, PAPER_GAMMA12)
        for channel in ENTANGLED_CHANNELS
        for g in GEOMETRIES
    ]
    dark = [Label("amplitude_damping", n, "symmetric", PAPER_J, 1.0) for n in (2, 4)]
    disorder = [lab for w in W_VALUES for lab in _five("relaxation", W=w)]
    return [
        LabelSet("thermal", tuple(thermal), PRODUCT_STATES),
        LabelSet("depolarizing", tuple(_five("depolarizing")), PRODUCT_STATES),
        LabelSet("equal_ergotropy", tuple(_five("relaxation")), PRODUCT_STATES + family),
        LabelSet("entangled", tuple(entangled + dark), ENTANGLED_STATES),
        LabelSet("disorder", tuple(disorder), PRODUCT_STATES),
    ]
