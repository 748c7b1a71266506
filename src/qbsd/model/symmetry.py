"""Exact symmetry reduction of the N-cell density matrix.

Two symmetries of every channel of ``docs/model.md`` are used; neither
approximates anything.

U(1), the excitation-number difference
    H_int conserves the number of excitations. Written in ladder operators
    (``channels.ladder_form``), a channel is ``sum M^ab_nm D[E^a_n, E^b_m]``
    with ``E`` in ``sm, sp, sz``; the term ``(a, b)`` changes
    ``q = n(ket) - n(bra)`` by ``charge(a) - charge(b)``. Every channel of the
    study has only ``a = b`` terms once its declaration is expanded (for
    ``depolarizing`` the cross terms of ``D[sx]`` and ``D[sy]`` cancel:
    ``D[sx_n, sx_m] + D[sy_n, sy_m] = 2 (D[sm_n, sm_m] + D[sp_n, sp_m])``),
    so the generator conserves q: the q-blocks of rho evolve independently.
    This is checked at every point (``dynamics.sector.sector_refusal``); a channel
    that fails it runs on the full space. The ``q < 0`` blocks are the
    Hermitian conjugates of the ``q > 0`` ones, so only ``q >= 0`` is stored.

Graph automorphisms
    A permutation g of the cells that maps the edge set onto itself leaves
    H_int, every Kossakowski matrix (``I`` or ``I + gamma12 A``, whatever the
    channel) and the product initial states invariant,
    so ``rho(t)[g i, g j] = rho(t)[i, j]`` with ``g i`` the permuted basis
    state. One number per orbit of the group on the index pairs ``(i, j)``
    (with ``q >= 0``) determines rho: these are the *reduced coordinates*,
    ``c[orbit] = rho[representative pair]``, and the Liouvillian maps the
    invariant subspace to itself, so it acts on them directly
    (``SectorBasis.reduce_generator``). Static disorder (detunings, coupling
    offsets) conserves excitations, so U(1) stays; an automorphism is used
    only if it maps the disorder onto itself (``Point.preserves``).

The same group splits the spectra into blocks: ``spectral_blocks``.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .geometry import Geometry

# The whole group is enumerated up to this order; larger groups (the star's and
# the complete graph's symmetric groups) are sampled by random words instead.
_MAX_GROUP_ORDER = 2000
_RANDOM_WORDS = 24
# Custom geometries: automorphisms collected from networkx (a subgroup suffices).
_MAX_CUSTOM_AUTOMORPHISMS = 64


def popcounts(n_cells: int) -> np.ndarray:
    """Number of excited cells of each basis state, as integers."""
    index = np.arange(2**n_cells)
    counts = np.zeros(2**n_cells, dtype=np.int64)
    for c in range(n_cells):
        counts += (index >> c) & 1
    return counts


def automorphism_generators(geometry: Geometry) -> list[tuple[int, ...]]:
    """Generators of (a subgroup of) the automorphism group of ``geometry``.

    A permutation ``g`` maps cell ``c`` to ``g[c]``. Named geometries get their
    full groups in closed form (the chain's reflection, the ring's rotation and
    reflection, the star's leaf permutations, every permutation of the complete
    graph); a custom graph gets the automorphisms networkx finds (up to a cap:
    any subgroup is still an exact symmetry). Every generator is checked to
    carry the edge set onto itself.
    """
    n = geometry.n_cells
    if n < 2:
        return []
    reflection = tuple(n - 1 - c for c in range(n))
    cycle = tuple((c + 1) % n for c in range(n))
    candidates: list[tuple[int, ...]]
    if n == 2:
        candidates = [(1, 0)]
    elif geometry.name == "linear":
        candidates = [reflection]
    elif geometry.name == "circular":
        candidates = [cycle, tuple((-c) % n for c in range(n))]
    elif geometry.name == "central":
        swap = (0, 2, 1) + tuple(range(3, n))
        leaf_cycle = (0,) + tuple(range(2, n)) + (1,)
        candidates = [swap] + ([leaf_cycle] if n >= 4 else [])
    elif geometry.name == "symmetric":
        candidates = [(1, 0) + tuple(range(2, n)), cycle]
    else:
        import networkx as nx

        graph = geometry.graph()
        matcher = nx.algorithms.isomorphism.GraphMatcher(graph, graph)
        found = itertools.islice(matcher.isomorphisms_iter(), _MAX_CUSTOM_AUTOMORPHISMS + 1)
        candidates = [tuple(int(m[c]) for c in range(n)) for m in found]
    edges = set(geometry.edges)
    identity = tuple(range(n))
    generators = []
    for g in candidates:
        if g == identity or sorted(g) != list(range(n)):
            continue
        if {(min(g[a], g[b]), max(g[a], g[b])) for a, b in edges} == edges:
            generators.append(g)
    return generators


def state_permutation(perm: tuple[int, ...], n_cells: int) -> np.ndarray:
    """Basis-state image of the cell permutation ``perm`` (cell ``c`` -> ``perm[c]``).

    Cell ``c`` is bit ``N-1-c`` of the basis index (``operators`` convention).
    """
    index = np.arange(2**n_cells)
    image = np.zeros_like(index)
    for c in range(n_cells):
        image |= ((index >> (n_cells - 1 - c)) & 1) << (n_cells - 1 - perm[c])
    return image


def group_elements(generators, n_cells: int, rng: np.random.Generator) -> list[tuple[int, ...]]:
    """All elements of the generated group, or a random sample of words if it is large."""
    identity = tuple(range(n_cells))
    if not generators:
        return [identity]
    seen = {identity}
    frontier = [identity]
    while frontier and len(seen) <= _MAX_GROUP_ORDER:
        new = []
        for g in frontier:
            for h in generators:
                gh = tuple(h[g[c]] for c in range(n_cells))
                if gh not in seen:
                    seen.add(gh)
                    new.append(gh)
        frontier = new
    if len(seen) <= _MAX_GROUP_ORDER:
        return sorted(seen)
    words = [identity, *generators]
    for _ in range(_RANDOM_WORDS):
        g = identity
        for _ in range(3 * n_cells):
            h = generators[rng.integers(len(generators))]
            g = tuple(h[g[c]] for c in range(n_cells))
        words.append(g)
    return words


def stabilizer_generators(
    generators, n_cells: int, keep, seed: int = 20240607
) -> list[tuple[int, ...]]:
    """Generators of the elements g of the group of ``generators`` with ``keep(g)`` true.

    ``keep`` must pick a subgroup (e.g. the permutations that leave given
    states invariant). Returns ``generators`` itself when every one is kept.
    Up to ``_MAX_GROUP_ORDER`` elements the whole group is searched and the
    result generates the whole subgroup; a larger group is sampled
    (``group_elements``), and the kept samples generate a subgroup of it:
    still an exact symmetry, possibly a smaller one.
    """
    generators = [tuple(g) for g in generators]
    if all(keep(g) for g in generators):
        return generators
    rng = np.random.default_rng(seed)
    identity = tuple(range(n_cells))
    kept: list[tuple[int, ...]] = []
    reached = {identity}
    for g in group_elements(generators, n_cells, rng):
        if g in reached or not keep(g):
            continue
        kept.append(g)
        reached = set(group_elements(kept, n_cells, rng))
    return kept


class SectorBasis:
    """Reduced coordinates of density matrices invariant under a cell-permutation group.

    Attributes
    ----------
    n_orbits
        Number of reduced coordinates (orbits of index pairs with ``q >= 0``).
    orbit_of
        Orbit of each flat pair index ``i * d + j`` (-1 where ``q < 0``).
    reps
        Representative (smallest) flat pair index of each orbit.
    size, q, ket_excitations
        Pairs per orbit, its excitation difference and the ket's excitation number.
    q_slices
        ``{q: slice}``: orbits are ordered by q, so each q-block is contiguous.
    """

    def __init__(self, n_cells: int, generators=()):
        self.n_cells = n = n_cells
        self.dim = d = 2**n
        self.generators = [tuple(g) for g in generators]
        self.excitations = exc = popcounts(n)
        ket, bra = np.divmod(np.arange(d * d, dtype=np.int64), d)
        pairs = np.flatnonzero(exc[ket] >= exc[bra])
        perms = [state_permutation(g, n) for g in self.generators]
        if perms:
            position = np.full(d * d, -1, dtype=np.int64)
            position[pairs] = np.arange(len(pairs))
            images = [position[p[ket[pairs]] * d + p[bra[pairs]]] for p in perms]
            m = len(pairs)
            graph = sp.csr_matrix(
                (
                    np.ones(m * len(perms), dtype=np.int8),
                    (np.tile(np.arange(m), len(perms)), np.concatenate(images)),
                ),
                shape=(m, m),
            )
            _, label = connected_components(graph, directed=True, connection="weak")
        else:
            label = np.arange(len(pairs))
        order = np.lexsort((pairs, label))
        first = np.ones(len(pairs), dtype=bool)
        first[1:] = label[order][1:] != label[order][:-1]
        rep = pairs[order[first]]  # smallest pair of each label, in label order
        size = np.diff(np.append(np.flatnonzero(first), len(pairs)))
        q = exc[rep // d] - exc[rep % d]
        ket_exc = exc[rep // d]
        key = np.lexsort((rep, -ket_exc, q))  # q ascending, then ket excitation descending
        new_id = np.empty(len(key), dtype=np.int64)
        new_id[key] = np.arange(len(key))
        self.reps = rep[key]
        self.size = size[key]
        self.q = q[key]
        self.ket_excitations = ket_exc[key]
        self.n_orbits = len(self.reps)
        self.orbit_of = np.full(d * d, -1, dtype=np.int64)
        self.orbit_of[pairs] = new_id[label]
        # q < 0 pairs read the transposed pair's coordinate, conjugated
        neg = np.flatnonzero(self.orbit_of < 0)
        self._neg_pairs = neg
        self._neg_source = self.orbit_of[(neg % d) * d + neg // d]
        self._pos_pairs = pairs
        self._pos_source = self.orbit_of[pairs]
        bounds = np.searchsorted(self.q, np.arange(n + 2))
        self.q_slices = {
            k: slice(int(bounds[k]), int(bounds[k + 1]))
            for k in range(n + 1)
            if bounds[k + 1] > bounds[k]
        }

    # ---- conversions ---------------------------------------------------------
    def reduce(self, rho: np.ndarray) -> np.ndarray:
        """Reduced coordinates of invariant ``rho`` (..., d, d) -> (..., n_orbits)."""
        flat = np.asarray(rho).reshape(rho.shape[:-2] + (self.dim * self.dim,))
        return flat[..., self.reps]

    def expand(self, c: np.ndarray) -> np.ndarray:
        """Full density matrices (..., d, d) from reduced coordinates (..., n_orbits)."""
        c = np.asarray(c)
        flat = np.empty(c.shape[:-1] + (self.dim * self.dim,), dtype=complex)
        flat[..., self._pos_pairs] = c[..., self._pos_source]
        flat[..., self._neg_pairs] = np.conj(c[..., self._neg_source])
        return flat.reshape(c.shape[:-1] + (self.dim, self.dim))

    def is_invariant(self, rho: np.ndarray, atol: float = 1e-14) -> bool:
        """Whether ``rho`` is Hermitian and invariant, i.e. exactly described by its reduction."""
        return bool(np.abs(self.expand(self.reduce(rho)) - rho).max() <= atol)

    def reduce_generator(self, lv: sp.spmatrix) -> sp.csr_matrix:
        """The Liouvillian (row-major, d^2 x d^2) acting on reduced coordinates.

        ``L_red[o, o'] = sum over pairs p' in orbit o' of L[rep(o), p']``: exact
        because L maps invariant matrices to invariant matrices and preserves q.
        """
        rows = sp.csr_matrix(lv)[self.reps].tocoo()
        return self.reduce_rows(rows.row, rows.col, rows.data)

    def reduce_rows(self, row, col, value) -> sp.csr_matrix:
        """``reduce_generator`` from COO triplets of the representatives' rows of L.

        ``row`` indexes ``reps``; ``col`` is a flat pair index of the full space.
        """
        cols = self.orbit_of[col]
        if cols.size and cols.min() < 0:
            raise ValueError("the generator does not conserve the excitation difference q")
        reduced = sp.csr_matrix((value, (row, cols)), shape=(self.n_orbits, self.n_orbits))
        reduced.sum_duplicates()
        reduced.eliminate_zeros()
        return reduced

    def random_hermitian(self, rng: np.random.Generator, q0_only: bool = False) -> np.ndarray:
        """Reduced coordinates of a random invariant Hermitian matrix (generic commutant)."""
        c = rng.standard_normal(self.n_orbits) + 1j * rng.standard_normal(self.n_orbits)
        zero = self.q_slices[0]
        # q = 0: make the pair (i, j) and its transpose (j, i) complex conjugates
        d = self.dim
        rep = self.reps[zero]
        transposed = self.orbit_of[(rep % d) * d + rep // d]
        block = c[zero].copy()
        c[zero] = 0.5 * (block + np.conj(block[transposed - zero.start]))
        if q0_only:
            c[zero.stop :] = 0.0
        return c

    # ---- linear maps from reduced coordinates -------------------------------
    def diagonal_orbits(self) -> np.ndarray:
        """Orbit of each diagonal entry (i, i)."""
        index = np.arange(self.dim)
        return self.orbit_of[index * self.dim + index]

    def coherence_weights(self) -> np.ndarray:
        """``sum_{i != j} |rho_ij| = weights @ |c|`` (q > 0 pairs count twice)."""
        weights = self.size * np.where(self.q > 0, 2.0, 1.0)
        weights[np.unique(self.diagonal_orbits())] = 0.0
        return weights

    def transpose_partner(self) -> tuple[np.ndarray, np.ndarray]:
        """q = 0 orbits and the orbits of their transposed pairs (for the Hermiticity check)."""
        zero = self.q_slices[0]
        own = np.arange(zero.start, zero.stop)
        rep = self.reps[zero]
        d = self.dim
        return own, self.orbit_of[(rep % d) * d + rep // d]

    def two_cell_map(self, edges) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
        """Linear map from reduced coordinates to the two-cell reduced states of ``edges``.

        Returns ``(M, xs, ys)``: ``(M @ c)[k * len(xs) + e]`` is entry
        ``(xs[e], ys[e])`` of the 4x4 state of edge k, for the entries whose
        pair has ``q >= 0``; the others are their Hermitian conjugates.
        """
        n, d = self.n_cells, self.dim
        xs, ys = [], []
        for x in range(4):
            for y in range(4):
                if bin(x).count("1") >= bin(y).count("1"):
                    xs.append(x)
                    ys.append(y)
        rows, cols = [], []
        index = np.arange(d)
        for k, (p, r) in enumerate(edges):
            bp, br = n - 1 - p, n - 1 - r
            others = index[(((index >> bp) & 1) == 0) & (((index >> br) & 1) == 0)]
            for e, (x, y) in enumerate(zip(xs, ys, strict=True)):
                i = others | (((x >> 1) & 1) << bp) | ((x & 1) << br)
                j = others | (((y >> 1) & 1) << bp) | ((y & 1) << br)
                cols.append(self.orbit_of[i * d + j])
                rows.append(np.full(len(others), k * len(xs) + e))
        shape = (len(edges) * len(xs), self.n_orbits)
        if not rows:
            return sp.csr_matrix(shape, dtype=complex), np.array(xs), np.array(ys)
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        m = sp.csr_matrix((np.ones(len(rows), dtype=complex), (rows, cols)), shape=shape)
        m.sum_duplicates()
        return m, np.array(xs), np.array(ys)

    def population_map(self) -> sp.csr_matrix:
        """``population = Re(M @ c)``: excited population of each cell (N x n_orbits)."""
        n, d = self.n_cells, self.dim
        index = np.arange(d)
        diag = self.diagonal_orbits()
        rows, cols = [], []
        for c in range(n):
            on = index[((index >> (n - 1 - c)) & 1) == 1]
            rows.append(np.full(len(on), c))
            cols.append(diag[on])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        m = sp.csr_matrix(
            (np.ones(len(rows), dtype=complex), (rows, cols)), shape=(n, self.n_orbits)
        )
        m.sum_duplicates()
        return m
