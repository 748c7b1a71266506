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

Spectra (ergotropy, the smallest eigenvalue) use the same group: rho commutes
with every permutation matrix P_g, hence with a generic Hermitian element Y of
the group algebra, and is block diagonal in Y's eigenspaces. Eigenspaces that
carry equivalent irreducible representations give blocks with identical
spectra, so only one of each class is diagonalised (``SpectralBlocks``).
States with only ``q = 0`` content are in addition block diagonal in the
excitation number. Every block structure is checked at construction against a
random element of the commutant; a failed check falls back to the plain
excitation-sector structure (correct for any state).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..linalg import blas_threads
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


@dataclass
class BlockGroup:
    """Blocks of one size m, diagonalised together.

    ``entry_map @ c`` gives, for each of ``count`` blocks, the lower triangle
    (``rows >= cols``) of the block matrix; block b's spectrum occurs
    ``multiplicity[b]`` times in the spectrum of rho.
    """

    size: int
    count: int
    multiplicity: np.ndarray
    entry_map: sp.csr_matrix
    rows: np.ndarray
    cols: np.ndarray


@dataclass
class _Vector:
    support: np.ndarray  # basis-state indices
    values: np.ndarray  # real coefficients
    excitations: int
    eigenvalue: float


class SpectralBlocks:
    """Block structure of invariant density matrices for their spectra.

    ``general``: any invariant Hermitian rho. ``diagonal``: those with only
    ``q = 0`` content (further split by excitation number). Each is a list of
    ``BlockGroup``; ``sum(size * multiplicity)`` over all blocks is 2^N.
    """

    def __init__(self, basis: SectorBasis, seed: int = 20240607):
        self.basis = basis
        self._rng = np.random.default_rng(seed)
        self.checked = True
        vectors = self._adapted_vectors()
        blocks = self._cluster(vectors)
        z = basis.expand(basis.random_hermitian(self._rng))
        projected = self._project(blocks, z)
        if not self._is_block_diagonal(blocks, z, projected):
            self.checked = False  # never seen; fall back to the excitation sectors alone
            blocks = [self._identity_vectors()]
            projected = self._project(blocks, z)
        self.general_blocks = self._deduplicate(blocks, projected)
        split = []
        for block in blocks:
            by_n: dict[int, list[_Vector]] = {}
            for v in block:
                by_n.setdefault(v.excitations, []).append(v)
            split.extend(by_n.values())
        z0 = basis.expand(basis.random_hermitian(self._rng, q0_only=True))
        self.diagonal_blocks = self._deduplicate(split, self._project(split, z0))
        self._groups: dict[str, list[BlockGroup]] = {}

    def groups(self, kind: str) -> list[BlockGroup]:
        """``BlockGroup`` list of the ``general`` or ``diagonal`` structure (built once)."""
        if kind not in self._groups:
            blocks = self.general_blocks if kind == "general" else self.diagonal_blocks
            self._groups[kind] = self._build_groups(blocks)
        return self._groups[kind]

    def block_sizes(self, kind: str) -> list[tuple[int, int]]:
        """``(size, multiplicity)`` of every kept block."""
        blocks = self.general_blocks if kind == "general" else self.diagonal_blocks
        return [(len(b), m) for b, m in blocks]

    # ---- construction --------------------------------------------------------
    def _identity_vectors(self) -> list[_Vector]:
        exc = self.basis.excitations
        return [
            _Vector(np.array([i]), np.ones(1), int(exc[i]), 0.0)
            for i in np.argsort(exc, kind="stable")
        ]

    def _adapted_vectors(self) -> list[_Vector]:
        """Eigenvectors of a random symmetric group-algebra element, orbit by orbit."""
        basis = self.basis
        n, d = basis.n_cells, basis.dim
        elements = group_elements(basis.generators, n, self._rng)
        if len(elements) == 1:
            return self._identity_vectors()
        weights = self._rng.uniform(1.0, 2.0, len(elements))
        index = np.arange(d)
        y = sp.csr_matrix((d, d))
        for w, g in zip(weights, elements, strict=True):
            p = sp.csr_matrix((np.ones(d), (state_permutation(g, n), index)), shape=(d, d))
            y = y + w * (p + p.T)
        perms = [state_permutation(g, n) for g in basis.generators]
        graph = sp.csr_matrix(
            (
                np.ones(d * len(perms)),
                (np.tile(index, len(perms)), np.concatenate(perms)),
            ),
            shape=(d, d),
        )
        n_orbits, label = connected_components(graph, directed=True, connection="weak")
        y = y.tocsr()
        vectors = []
        order = np.argsort(label, kind="stable")
        starts = np.searchsorted(label[order], np.arange(n_orbits + 1))
        for k in range(n_orbits):
            members = order[starts[k] : starts[k + 1]]
            block = y[members][:, members].toarray()
            mu, vec = np.linalg.eigh(block)
            exc = int(basis.excitations[members[0]])
            for col in range(len(members)):
                values = vec[:, col]
                keep = np.abs(values) > 1e-14
                vectors.append(_Vector(members[keep], values[keep], exc, float(mu[col])))
        return vectors

    @staticmethod
    def _cluster(vectors: list[_Vector]) -> list[list[_Vector]]:
        """Group vectors into eigenspaces of Y (a merge of close eigenvalues is harmless)."""
        mu = np.array([v.eigenvalue for v in vectors])
        order = np.argsort(mu, kind="stable")
        scale = max(1.0, float(np.abs(mu).max()))
        breaks = np.flatnonzero(np.diff(mu[order]) > 1e-8 * scale) + 1
        blocks = []
        for part in np.split(order, breaks):
            block = [vectors[i] for i in part]
            block.sort(key=lambda v: (v.excitations, int(v.support[0])))
            blocks.append(block)
        return blocks

    def _matrix(self, blocks) -> sp.csr_matrix:
        """Orthogonal basis matrix (d x sum m) with the blocks' vectors as columns."""
        vectors = [v for block in blocks for v in block]
        rows = np.concatenate([v.support for v in vectors])
        cols = np.concatenate([np.full(len(v.support), k) for k, v in enumerate(vectors)])
        vals = np.concatenate([v.values for v in vectors])
        return sp.csr_matrix((vals, (rows, cols)), shape=(self.basis.dim, len(vectors)))

    def _project(self, blocks, z: np.ndarray) -> np.ndarray:
        """``U^T z U`` in the blocks' basis."""
        u = self._matrix(blocks)
        ut = u.T.tocsr()
        left = ut @ z  # U^T z
        return (ut @ np.ascontiguousarray(left.T)).T  # (U^T z) U

    @staticmethod
    def _ranges(blocks):
        start = 0
        for block in blocks:
            yield slice(start, start + len(block))
            start += len(block)

    def _is_block_diagonal(self, blocks, z: np.ndarray, projected: np.ndarray) -> bool:
        """Check that the random commutant element z has no weight outside the blocks."""
        total = np.sum(np.abs(z) ** 2)
        inside = sum(np.sum(np.abs(projected[r, r]) ** 2) for r in self._ranges(blocks))
        return bool(abs(total - inside) <= 1e-20 + 1e-10 * total)

    def _deduplicate(self, blocks, projected: np.ndarray) -> list[tuple[list[_Vector], int]]:
        """Keep one block per class of equal spectra of the random element (with multiplicity)."""
        kept: list[list] = []  # [block, multiplicity, spectrum]
        for block, r in zip(blocks, self._ranges(blocks), strict=True):
            zb = projected[r, r]
            with blas_threads.limit(1):
                spectrum = np.linalg.eigvalsh(0.5 * (zb + np.conj(zb.T)))
            scale = 1e-9 * max(1.0, float(np.abs(spectrum).max()))
            for entry in kept:
                if len(entry[0]) == len(block) and np.abs(entry[2] - spectrum).max() <= scale:
                    entry[1] += 1
                    break
            else:
                kept.append([block, 1, spectrum])
        return [(block, mult) for block, mult, _ in kept]

    def _build_groups(self, blocks) -> list[BlockGroup]:
        by_size: dict[int, list] = {}
        for block, mult in blocks:
            by_size.setdefault(len(block), []).append((block, mult))
        groups = []
        for m, members in sorted(by_size.items()):
            rows, cols = np.tril_indices(m)
            maps = [self._entry_map(block, rows, cols) for block, _ in members]
            groups.append(
                BlockGroup(
                    size=m,
                    count=len(members),
                    multiplicity=np.array([mult for _, mult in members]),
                    entry_map=sp.vstack(maps, format="csr"),
                    rows=rows,
                    cols=cols,
                )
            )
        return groups

    def _entry_map(self, block: list[_Vector], rows, cols) -> sp.csr_matrix:
        """Sparse map: reduced coordinates -> lower-triangle entries of the block matrix.

        Entry (a, b), a >= b: ``sum_{i in a, k in b} u_a[i] u_b[k] rho[i, k]``; the
        vectors are sorted by excitation number, so ``q >= 0`` for every such pair.
        """
        basis = self.basis
        d = basis.dim
        support = np.concatenate([v.support for v in block])
        values = np.concatenate([v.values for v in block])
        owner = np.concatenate([np.full(len(v.support), k) for k, v in enumerate(block)])
        ends = np.cumsum([len(v.support) for v in block])
        # row of entry (a, b) in tril order is a * (a + 1) / 2 + b
        trip_rows, trip_cols, trip_vals = [], [], []
        for a, v in enumerate(block):
            k = support[: ends[a]]
            flat = (v.support[:, None] * d + k[None, :]).ravel()
            orbit = basis.orbit_of[flat]
            if orbit.size and orbit.min() < 0:
                raise AssertionError("block entry with q < 0: vectors not sorted by excitation")
            trip_cols.append(orbit)
            trip_vals.append((v.values[:, None] * values[None, : ends[a]]).ravel())
            row = a * (a + 1) // 2 + owner[: ends[a]]
            trip_rows.append(np.broadcast_to(row, (len(v.support), len(row))).ravel())
        n_entries = len(rows)
        m = sp.csr_matrix(
            (
                np.concatenate(trip_vals).astype(complex),
                (np.concatenate(trip_rows), np.concatenate(trip_cols)),
            ),
            shape=(n_entries, basis.n_orbits),
        )
        m.sum_duplicates()
        return m
