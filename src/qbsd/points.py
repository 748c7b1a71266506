"""The sweep's labels and the physically distinct points that serve them.

A *label* is one requested combination of the grid axes (``LABEL_KEYS``:
channel, n_cells, geometry, J, gamma12, n_th, W, W_J), named as the user
named it; the config's optional
``large_n`` section adds labels of geometry ``symmetric`` (the all-to-all
battery at large N) the same way. A *distinct point* is one
simulation. Labels that are the same physics share one point (the README,
"Changing the study"):

- N = 1 ignores geometry, J and gamma12: one point per channel, stored under
  ``N1/single`` (simulated with no links, J = gamma12 = 0);
- uncoupled cells (J = 0 and gamma12 = 0, or a geometry without links) make
  every geometry of the same N one point, stored under ``N<n>/uncoupled``
  and simulated on the all-to-all graph with J = gamma12 = 0, so that every
  pair of cells, hence every link of any label, has its concurrence stored;
- isomorphic edge sets are one point, represented by
  :func:`qbsd.geometry.canonical_geometry` (named geometries first), unless a
  state of the study depends on how the cells are numbered (``singlet_pairs``);
- a channel without a bath occupation ignores ``n_th`` (one point for all its
  values); ``W = W_J = 0`` is the clean point, simulated once, without
  realisations.

Each label keeps the cell map and link map into its point, so per-cell and
per-link data are mapped back when labels are read (:meth:`Assignment.take`).

Trajectory paths are derived from the point only (never from which labels
asked for it), so they stay stable when the grid grows::

    results/trajectories/<channel>/N<n_cells>/<geometry>/J<J>_g<gamma12>[_nth<n_th>][_W<W>_WJ<W_J>].nc

(the bath occupation only for a channel that has one, the disorder only for a
disordered point) with numbers rounded to 10 significant digits and printed in ``%g`` style
(``J2_g0.5``, ``J0.3_g0.25``, never ``0.30000000000000004``).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from . import paths
from .model.channels import channel_parameters
from .model.geometry import NAMED_GEOMETRIES as NAMED
from .model.geometry import Edge, Geometry, canonical_geometry
from .model.states import check_state, parse_state

#: Significant digits kept from J and gamma12: values equal to this many
#: digits are one value (and one path).
SIGNIFICANT_DIGITS = 10


#: The axes of a label, in order: the columns of the manifest and the summary
#: tables, and the label dimensions of ``qbsd.open_results``.
LABEL_KEYS = ("channel", "n_cells", "geometry", "J", "gamma12", "n_th", "W", "W_J")

#: Directory names of the two collapsed point families.
SINGLE = "single"
UNCOUPLED = "uncoupled"

# The parameters of the paper's Figs. 2-5 (docs/model.md, "What the paper reports").
PAPER_J = 2.0
PAPER_GAMMA12 = 0.5
PAPER_STATES = ("classical", "quantum")

# The geometry of the config's ``large_n`` labels: the all-to-all battery,
# which the permutation-invariant solver simulates at large N.
LARGE_N_GEOMETRY = "symmetric"


def normalise(value: float) -> float:
    """``value`` rounded to ``SIGNIFICANT_DIGITS`` significant digits (and never -0.0)."""
    return _normalise(float(value))


@lru_cache(maxsize=65536)
def _normalise(value: float) -> float:
    # cached: a sweep repeats the same few values thousands of times
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}") + 0.0


@lru_cache(maxsize=65536)
def format_number(value: float) -> str:
    """Short, stable text of a grid value: ``2``, ``0.5``, ``0.3``, ``1e-07``."""
    return f"{normalise(value):.{SIGNIFICANT_DIGITS}g}"


@dataclass(frozen=True, order=True)
class Label:
    """One requested combination of the grid axes (``LABEL_KEYS``), as the user named it."""

    channel: str
    n_cells: int
    geometry: str
    J: float
    gamma12: float
    n_th: float = 0.0
    W: float = 0.0
    W_J: float = 0.0

    def as_dict(self) -> dict:
        return {key: getattr(self, key) for key in LABEL_KEYS}

    @property
    def disordered(self) -> bool:
        return self.W > 0 or self.W_J > 0

    def __str__(self) -> str:
        text = (
            f"channel={self.channel}, n_cells={self.n_cells}, geometry={self.geometry}, "
            f"J={format_number(self.J)}, gamma12={format_number(self.gamma12)}"
        )
        if channel_parameters(self.channel):
            text += f", n_th={format_number(self.n_th)}"
        if self.disordered:
            text += f", W={format_number(self.W)}, W_J={format_number(self.W_J)}"
        return text


@dataclass(frozen=True)
class DistinctPoint:
    """One simulation: a channel, a canonical geometry and the couplings."""

    channel: str
    geometry: Geometry
    J: float
    gamma12: float
    directory: str  # geometry part of the path: single, uncoupled, a name, custom-...
    n_th: float | None = None  # bath occupation, only for a channel that has one
    W: float = 0.0
    W_J: float = 0.0
    realisations: int = 0  # disorder realisations (0: the clean point)

    @property
    def n_cells(self) -> int:
        return self.geometry.n_cells

    @property
    def disordered(self) -> bool:
        return self.W > 0 or self.W_J > 0

    @cached_property
    def wildcards(self) -> dict[str, str]:
        """The parts of this point's path and identifier."""
        extra = "" if self.n_th is None else f"_nth{format_number(self.n_th)}"
        if self.disordered:
            extra += f"_W{format_number(self.W)}_WJ{format_number(self.W_J)}"
        return {
            "channel": self.channel,
            "n_cells": str(self.n_cells),
            "geometry": self.directory,
            "J": format_number(self.J),
            "gamma12": format_number(self.gamma12),
            "extra": extra,
        }

    @property
    def relpath(self) -> str:
        """Path of the trajectory file relative to the results directory."""
        return paths.TRAJECTORY_PATTERN.format(**self.wildcards)

    @property
    def path(self) -> str:
        """Path of the trajectory file relative to the workflow's working directory."""
        return paths.trajectory(**self.wildcards)

    @cached_property
    def id(self) -> str:
        """``<channel>/N<n>/<geometry>/J<J>_g<gamma12>``: the path without folder and suffix."""
        return point_id(**self.wildcards)

    def _extras(self) -> dict:
        """The parameters only some points have: a bath occupation, disorder."""
        extras = {} if self.n_th is None else {"n_th": self.n_th}
        if self.disordered:
            extras.update(W=self.W, W_J=self.W_J, realisations=self.realisations)
        return extras

    def simulate_kwargs(self) -> dict:
        """Keyword arguments of ``qbsd.simulate`` for this point (without states/time/solver)."""
        return {
            "n_cells": self.n_cells,
            "geometry": self.geometry,
            "J": self.J,
            "gamma12": self.gamma12,
            "channel": self.channel,
            **self._extras(),
        }

    def settings(self) -> dict:
        """The point's parameters as plain JSON-able data (new keys only where they apply)."""
        return {
            "channel": self.channel,
            "n_cells": self.n_cells,
            "geometry": self.geometry.label,
            "edges": [list(e) for e in self.geometry.edges],
            "J": self.J,
            "gamma12": self.gamma12,
            **self._extras(),
        }


def point_id(
    channel: str, n_cells: str | int, geometry: str, J: str, gamma12: str, extra: str = ""
) -> str:
    """The identifier of a point from the (string) parts of its path."""
    return f"{channel}/N{n_cells}/{geometry}/J{J}_g{gamma12}{extra}"


@dataclass(frozen=True)
class Assignment:
    """How one label is served: its point and the cell and link maps into it.

    ``cell_map[c]`` is the point's cell that plays the label's cell ``c``;
    ``link_map[j]`` is the index, in the point's links, of the label's link
    ``edges[j]`` (the label geometry's own edge order).
    """

    label: Label
    point: DistinctPoint
    edges: tuple[Edge, ...]
    cell_map: tuple[int, ...]
    link_map: tuple[int, ...]
    paper: bool = False
    large_n: bool = False  # requested by the config's large_n section
    states: tuple[str, ...] = ()  # the label's initial states (defined at its N)
    requested_states: tuple[str, ...] = ()  # as asked for (some may be undefined at N)

    @property
    def link_labels(self) -> list[str]:
        return [f"{n}-{m}" for n, m in self.edges]

    def take(self, values: np.ndarray, axis: str, position: int = -1) -> np.ndarray:
        """Map per-cell (``axis="cell"``) or per-link data of the point to the label.

        ``values`` has the point's cells or links along ``position``.
        """
        index = self.cell_map if axis == "cell" else self.link_map
        return np.take(np.asarray(values), list(index), axis=position)


def _point_fields(label: Label) -> dict:
    """The channel parameter of ``label``'s point: a bath occupation only where it applies."""
    return {"n_th": normalise(label.n_th) if channel_parameters(label.channel) else None}


def single_cell_point(channel: str, n_th: float | None = None) -> DistinctPoint:
    return DistinctPoint(channel, Geometry.make("linear", 1), 0.0, 0.0, SINGLE, n_th)


def uncoupled_point(channel: str, n_cells: int, n_th: float | None = None) -> DistinctPoint:
    return DistinctPoint(channel, Geometry.make("symmetric", n_cells), 0.0, 0.0, UNCOUPLED, n_th)


def custom_directory(geometry: Geometry) -> str:
    """Path part of a canonical custom graph: its edges, or a digest when long."""
    text = "_".join(f"{n}-{m}" for n, m in geometry.edges)
    if len(text) > 80:
        text = "h" + hashlib.sha1(text.encode()).hexdigest()[:12]
    return f"custom-{text}"


@lru_cache(maxsize=4096)
def _canonical(edges: tuple[Edge, ...], n_cells: int) -> tuple[Geometry, tuple[int, ...]]:
    canon, mapping = canonical_geometry(Geometry(n_cells, edges, "custom"))
    if canon.edges == edges:  # already canonical: keep the cells as they are
        return canon, tuple(range(n_cells))
    return canon, tuple(mapping[c] for c in range(n_cells))


def assign(
    label: Label,
    geometry: Geometry,
    paper: bool = False,
    large_n: bool = False,
    *,
    states: Sequence[str] = (),
    realisations: int = 0,
) -> Assignment:
    """The distinct point serving ``label`` (whose graph is ``geometry``) and the maps.

    ``paper`` and ``large_n`` record where the label was requested (the paper's
    figures, the config's ``large_n`` section); they do not change the point.
    ``states`` are the label's initial states: those defined at its N are
    simulated; a state that depends on how the cells are numbered
    (``singlet_pairs``) keeps the label off an isomorphic graph with its cells
    renumbered. ``realisations`` is the number of disorder realisations of a
    disordered point.

    Local fields drop out of one cell and of uncoupled cells (a product of
    local unitaries commuting with H0 and the dissipators), so those labels
    are served by the clean point; coupling disorder couples the cells of a
    graph with links even at J = 0.
    """
    n = geometry.n_cells
    if n != label.n_cells:
        raise ValueError(f"label {label} has {label.n_cells} cells, geometry has {n}")
    edges = geometry.edges
    identity = tuple(range(n))
    fields = _point_fields(label)
    states = tuple(states)
    extra = {
        "states": tuple(s for s in states if state_defined(s, n)),
        "requested_states": states,
    }
    relabel = all(parse_state(s).permutation_symmetric for s in states)
    if n == 1:
        point = single_cell_point(label.channel, **fields)
        return Assignment(label, point, edges, identity, (), paper, large_n, **extra)
    coupled_by_disorder = bool(edges) and label.W_J > 0
    if not edges or (label.J == 0 and label.gamma12 == 0 and not coupled_by_disorder):
        point = uncoupled_point(label.channel, n, **fields)
        position = {e: k for k, e in enumerate(point.geometry.edges)}
        links = tuple(position[e] for e in edges)
        return Assignment(label, point, edges, identity, links, paper, large_n, **extra)
    canon, cell_map = _canonical(edges, n)
    if not relabel and cell_map != identity:
        canon, cell_map = geometry, identity
    if canon.name in NAMED:
        directory = canon.name
    else:
        canon = Geometry(n, canon.edges, "custom")
        directory = custom_directory(canon)
    if label.disordered:
        fields.update(W=normalise(label.W), W_J=normalise(label.W_J), realisations=realisations)
    point = DistinctPoint(
        label.channel, canon, normalise(label.J), normalise(label.gamma12), directory, **fields
    )
    position = {e: k for k, e in enumerate(canon.edges)}
    links = tuple(
        position[(min(cell_map[a], cell_map[b]), max(cell_map[a], cell_map[b]))] for a, b in edges
    )
    return Assignment(label, point, edges, cell_map, links, paper, large_n, **extra)


def grid_labels(
    grid: Mapping[str, Sequence],
    geometry_cells: Mapping[str, int] | None = None,
    disorder: Mapping[str, Sequence] | None = None,
) -> list[Label]:
    """The product of the grid's axes as labels, in config order.

    ``geometry_cells`` gives the cell count of each custom geometry: a custom
    geometry has labels only at its own N. ``grid["n_th"]`` (default [0]) and
    the ``disorder`` section's ``W`` and ``W_J`` (default [0]) are axes too.
    """
    geometry_cells = geometry_cells or {}
    disorder = disorder or {}
    labels = []
    for channel, n, geometry, J, gamma12, n_th, W, W_J in itertools.product(
        grid["channel"],
        grid["n_cells"],
        grid["geometry"],
        grid["J"],
        grid["gamma12"],
        grid.get("n_th", [0.0]),
        disorder.get("W", [0.0]),
        disorder.get("W_J", [0.0]),
    ):
        if geometry in geometry_cells and geometry_cells[geometry] != n:
            continue
        values = (J, gamma12, n_th, W, W_J)
        labels.append(Label(channel, int(n), geometry, *map(normalise, values)))
    return labels


def paper_labels() -> list[Label]:
    """The points of the paper's Figs. 2-5 (docs/model.md), all at J = 2, gamma12 = 1/2.

    Fig. 2: one cell, relaxation and phase damping; Fig. 3: the linear chain,
    N = 1..5, relaxation; Figs. 4-5: N = 5, the four geometries, relaxation.
    """
    J, g = PAPER_J, PAPER_GAMMA12
    labels = [Label("relaxation", 1, "linear", J, g), Label("phase_damping", 1, "linear", J, g)]
    labels += [Label("relaxation", n, "linear", J, g) for n in range(2, 6)]
    labels += [Label("relaxation", 5, name, J, g) for name in ("central", "circular", "symmetric")]
    return labels


@dataclass
class Study:
    """Every requested label, the distinct points serving them and the skipped labels."""

    assignments: list[Assignment]
    skipped: list[tuple[Label, str]] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points: dict[str, DistinctPoint] = {}
        self.labels_of: dict[str, list[Assignment]] = {}
        order = dict.fromkeys(self.config.get("states", ()))
        for a in self.assignments:
            self.points.setdefault(a.point.id, a.point)
            self.labels_of.setdefault(a.point.id, []).append(a)
            order.update(dict.fromkeys(a.states))
        self._states = tuple(order)
        self._settings: dict[str, dict] = {}

    @property
    def labels(self) -> list[Label]:
        return [a.label for a in self.assignments]

    @property
    def states(self) -> list[str]:
        """Every state of the study: the config's, then those only extension labels ask for."""
        return list(self._states)

    def point_states(self, point: DistinctPoint) -> list[str]:
        """The states simulated at ``point``: every state a label it serves asks for."""
        wanted = {s for a in self.labels_of[point.id] for s in a.states}
        return [s for s in self._states if s in wanted]

    def large_n_channels(self) -> list[str]:
        """Channels with simulated ``large_n`` labels, in config order (one figure each)."""
        present = {a.label.channel for a in self.assignments if a.large_n}
        section = self.config.get("large_n")
        order = list(section["channel"]) if isinstance(section, dict) else []
        return [c for c in order if c in present]

    def trajectory_paths(self) -> list[str]:
        return [p.path for p in self.points.values()]

    def point_settings(self, point: DistinctPoint) -> dict:
        """Everything that determines the trajectory of ``point`` (JSON-able; a fresh copy)."""
        if point.id not in self._settings:
            self._settings[point.id] = self._point_settings(point)
        return dict(self._settings[point.id])

    def _point_settings(self, point: DistinctPoint) -> dict:
        cfg = self.config
        return {
            **point.settings(),
            "states": self.point_states(point),
            "t_max": float(cfg["time"]["t_max"]),
            "n_points": int(cfg["time"]["n_points"]),
            "rtol": float(cfg["solver"]["rtol"]),
            "atol": float(cfg["solver"]["atol"]),
            "method": cfg["solver"]["method"],
        }

    def manifest_rows(self) -> list[dict]:
        """One row per label for ``results/summary/labels.csv``."""
        rows = []
        for a in self.assignments:
            rows.append(
                {
                    **a.label.as_dict(),
                    "point": a.point.id,
                    "trajectory": a.point.relpath,
                    "links": " ".join(a.link_labels),
                    "cell_map": " ".join(map(str, a.cell_map)),
                    "link_map": " ".join(map(str, a.link_map)),
                    "paper": a.paper,
                    "states": " ".join(a.states),
                }
            )
        return rows

    def skipped_rows(self) -> list[dict]:
        """Labels left out (unphysical), and states undefined at a label's N (``state`` set)."""
        rows = [
            {**label.as_dict(), "state": "", "reason": reason} for label, reason in self.skipped
        ]
        for a in self.assignments:
            for state in a.requested_states:
                if not state_defined(state, a.label.n_cells):
                    reason = f"state {state} is undefined for n_cells={a.label.n_cells}"
                    rows.append({**a.label.as_dict(), "state": state, "reason": reason})
        return rows


def state_defined(label: str, n_cells: int) -> bool:
    """True if the initial state ``label`` exists for ``n_cells`` cells."""
    try:
        check_state(label, n_cells)
    except ValueError:
        return False
    return True


def unique_labels(labels: Iterable[Label]) -> list[Label]:
    """``labels`` without repeats, first occurrence kept."""
    seen: dict[Label, None] = {}
    for label in labels:
        seen.setdefault(label, None)
    return list(seen)
