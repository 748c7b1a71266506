"""Network geometries of the battery cells: edge sets, adjacency and isomorphism.

A geometry is an undirected simple graph on the cells ``0..N-1``. The named
geometries of the study are ``linear``, ``circular``, ``central`` (cell 0 is
the hub) and ``symmetric`` (all-to-all); any explicit edge list is a custom
geometry.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np

NAMED_GEOMETRIES = ("linear", "circular", "central", "symmetric")

Edge = tuple[int, int]


def named_edges(name: str, n_cells: int) -> tuple[Edge, ...]:
    """Edge set of a named geometry on ``n_cells`` cells (sorted pairs ``n < m``)."""
    if n_cells < 1:
        raise ValueError(f"n_cells must be an integer >= 1, got {n_cells!r}")
    if name == "linear":
        edges = [(n, n + 1) for n in range(n_cells - 1)]
    elif name == "circular":
        edges = [(n, n + 1) for n in range(n_cells - 1)]
        if n_cells >= 3:
            edges.append((0, n_cells - 1))
    elif name == "central":
        edges = [(0, n) for n in range(1, n_cells)]
    elif name == "symmetric":
        edges = [(n, m) for n in range(n_cells) for m in range(n + 1, n_cells)]
    else:
        raise ValueError(
            f"geometry must be one of {', '.join(NAMED_GEOMETRIES)} or an edge list, got {name!r}"
        )
    return tuple(sorted(edges))


def validate_edges(edges: Iterable[Sequence[int]], n_cells: int) -> tuple[Edge, ...]:
    """Check a custom edge list and return it as sorted ``(n, m)`` pairs with ``n < m``.

    Raises ``ValueError`` naming the offending edge for self-loops, cell indices
    outside ``0..n_cells-1``, malformed pairs and repeated edges.
    """
    seen: set[Edge] = set()
    for raw in edges:
        pair = tuple(raw)
        if len(pair) != 2 or not all(
            isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in pair
        ):
            raise ValueError(f"geometry edge {list(raw)!r} must be a pair of integer cell indices")
        n, m = int(pair[0]), int(pair[1])
        if n == m:
            raise ValueError(f"geometry edge {[n, m]} is a self-loop; links join distinct cells")
        for c in (n, m):
            if not 0 <= c < n_cells:
                raise ValueError(
                    f"geometry edge {[n, m]} names cell {c}, outside 0..{n_cells - 1} "
                    f"for n_cells={n_cells}"
                )
        key = (min(n, m), max(n, m))
        if key in seen:
            raise ValueError(f"geometry edge {[n, m]} is repeated")
        seen.add(key)
    return tuple(sorted(seen))


@dataclass(frozen=True)
class Geometry:
    """An undirected simple graph on ``n_cells`` cells.

    Parameters
    ----------
    n_cells
        Number of cells N.
    edges
        Sorted ``(n, m)`` pairs with ``n < m``: the links.
    name
        ``linear``, ``circular``, ``central``, ``symmetric`` or ``custom``.
    """

    n_cells: int
    edges: tuple[Edge, ...]
    name: str = "custom"

    @classmethod
    def make(cls, geometry: str | Iterable[Sequence[int]], n_cells: int) -> Geometry:
        """Build a named geometry (``"linear"`` ...) or a custom one from an edge list."""
        if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 1:
            raise ValueError(f"n_cells must be an integer >= 1, got {n_cells!r}")
        n_cells = int(n_cells)
        if isinstance(geometry, Geometry):
            if geometry.n_cells != n_cells:
                raise ValueError(
                    f"geometry has {geometry.n_cells} cells but n_cells={n_cells} was asked"
                )
            return geometry
        if isinstance(geometry, str):
            return cls(n_cells, named_edges(geometry, n_cells), geometry)
        return cls(n_cells, validate_edges(geometry, n_cells), "custom")

    @property
    def label(self) -> str:
        """Short readable label: the name, or the edge list for a custom geometry."""
        if self.name != "custom":
            return self.name
        return "custom:" + ",".join(f"{n}-{m}" for n, m in self.edges)

    @property
    def link_labels(self) -> list[str]:
        """Link coordinate values ``"n-m"`` in edge order."""
        return [f"{n}-{m}" for n, m in self.edges]

    @cached_property
    def adjacency(self) -> np.ndarray:
        """Symmetric 0/1 adjacency matrix A (float, N x N)."""
        a = np.zeros((self.n_cells, self.n_cells))
        for n, m in self.edges:
            a[n, m] = a[m, n] = 1.0
        return a

    @cached_property
    def lambda_min(self) -> float:
        """Smallest eigenvalue of the adjacency matrix (0 for a graph without links)."""
        if not self.edges:
            return 0.0
        return float(np.linalg.eigvalsh(self.adjacency)[0])

    def gamma12_bound(self) -> float:
        """Largest gamma12/Gamma keeping K = I + gamma12 A positive semidefinite (inf if none)."""
        lam = self.lambda_min
        return float("inf") if lam >= 0 else 1.0 / abs(lam)

    def graph(self) -> nx.Graph:
        g = nx.Graph()
        g.add_nodes_from(range(self.n_cells))
        g.add_edges_from(self.edges)
        return g

    def automorphism_count(self) -> int:
        """Number of graph automorphisms (symmetries the dynamics inherits)."""
        matcher = nx.algorithms.isomorphism.GraphMatcher(self.graph(), self.graph())
        return sum(1 for _ in matcher.isomorphisms_iter())

    def isomorphism_to(self, other: Geometry) -> dict[int, int] | None:
        """A cell map ``self -> other`` that carries edges onto edges, or None."""
        if self.n_cells != other.n_cells or len(self.edges) != len(other.edges):
            return None
        matcher = nx.algorithms.isomorphism.GraphMatcher(self.graph(), other.graph())
        if not matcher.is_isomorphic():
            return None
        return {int(k): int(v) for k, v in matcher.mapping.items()}


def canonical_geometry(geometry: Geometry) -> tuple[Geometry, dict[int, int]]:
    """The representative of the isomorphism class of ``geometry`` and the cell map to it.

    Named geometries are preferred as representatives, in the order
    ``linear, circular, central, symmetric`` (so for N = 3 ``central`` maps to
    ``linear`` and ``symmetric`` to ``circular``; for N = 2 everything is
    ``linear``). A custom graph isomorphic to none of them is represented by
    the lexicographically smallest relabelling among those ordering cells by
    refined degree colours (exact; equal keys always imply isomorphic graphs).

    Returns
    -------
    canonical, mapping
        ``mapping[c]`` is the canonical cell that cell ``c`` of ``geometry`` plays.
    """
    for name in NAMED_GEOMETRIES:
        candidate = Geometry.make(name, geometry.n_cells)
        mapping = geometry.isomorphism_to(candidate)
        if mapping is not None:
            return candidate, mapping
    return _canonical_custom(geometry)


def _canonical_custom(geometry: Geometry) -> tuple[Geometry, dict[int, int]]:
    # The canonical form is the smallest sorted edge list over all relabellings
    # that order cells by an isomorphism-invariant colour (colour refinement of
    # degrees). The set of such relabellings is invariant under isomorphism, so
    # the minimum is a true invariant, and it is an image of the graph, so equal
    # keys imply isomorphic graphs. Only permutations inside a colour class are
    # searched; for highly symmetric graphs whose classes are too large we keep
    # the graph as given (still correct, only not shared with its twins).
    g = geometry.graph()
    colour = _refined_colours(g)
    classes: dict[tuple, list[int]] = {}
    for v in sorted(g.nodes):
        classes.setdefault(colour[v], []).append(v)
    ordered = [classes[c] for c in sorted(classes)]
    n_orders = math.prod(math.factorial(len(c)) for c in ordered)
    if n_orders > _MAX_CANONICAL_ORDERS:
        return geometry, {c: c for c in range(geometry.n_cells)}
    best: tuple[Edge, ...] | None = None
    best_map: dict[int, int] = {}
    for perm_blocks in itertools.product(*(itertools.permutations(c) for c in ordered)):
        order = [v for block in perm_blocks for v in block]
        relabel = {old: new for new, old in enumerate(order)}
        edges = tuple(
            sorted((min(relabel[a], relabel[b]), max(relabel[a], relabel[b])) for a, b in g.edges)
        )
        if best is None or edges < best:
            best, best_map = edges, relabel
    assert best is not None
    return Geometry(geometry.n_cells, best, "custom"), best_map


_MAX_CANONICAL_ORDERS = 50_000


def _refined_colours(g: nx.Graph) -> dict[int, tuple]:
    """Colour refinement (1-WL) starting from degrees; colours are comparable tuples."""
    colour = {v: (g.degree[v],) for v in g.nodes}
    for _ in range(g.number_of_nodes()):
        signature = {v: (colour[v], tuple(sorted(colour[u] for u in g.neighbors(v)))) for v in g}
        palette = {sig: i for i, sig in enumerate(sorted(set(signature.values())))}
        new = {v: (palette[signature[v]],) for v in g}
        if len(set(new.values())) == len(set(colour.values())):
            break
        colour = new
    return colour
