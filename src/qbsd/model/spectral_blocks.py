"""Spectra of invariant density matrices, block by block.

Spectra (ergotropy, the smallest eigenvalue) use the group of
``symmetry`` (the graph automorphisms that leave the state invariant): rho commutes
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

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..linalg import blas_threads
from .symmetry import SectorBasis, group_elements, state_permutation


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
