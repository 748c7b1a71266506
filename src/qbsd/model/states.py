"""Initial states: one declaration per state, read by every backend.

``STATES`` holds one ``StateDeclaration`` per family of labels (``docs/model.md``,
"Initial states"). A declaration gives the state in one of three forms, and
each backend reads the form it can use:

``single_cell``
    a product of one single-cell density matrix (``full``, ``classical``,
    ``quantum``, ``equal_ergotropy:<c>``). The full-space and sector backends
    form its entries; the Dicke backend builds the product in its basis.
``amplitudes``
    a pure state of the symmetric subspace, given by its amplitude on each
    symmetric Dicke state ``|N/2, k - N/2>`` with k excitations (``ghz``,
    ``dicke``). Also read by the Dicke backend.
``vector``
    any other pure state, as a vector of the 2^N computational basis states
    (``singlet_pairs``). Not permutation symmetric: the Dicke backend refuses
    it and the sector backend keeps only the automorphisms that leave it
    invariant.

Basis convention of ``operators``: cell 0 is the most significant bit of a
basis index and a bit 1 means the cell is excited; a single-cell matrix is
written in the basis (|g>, |e>).

A label is the family name, or ``name:<value>`` for a family with a parameter
(``equal_ergotropy:0.5``); the label as written is the state's coordinate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import reduce

import numpy as np

from .operators import excitations

Matrix = np.ndarray


def equal_ergotropy_cell(c: float) -> Matrix:
    """Single-cell state ``[[p_g, c/2], [c/2, p_e]]`` with ``p_e = (3 - c^2)/4``.

    Its Bloch vector is ``(c, 0, (1 - c^2)/2)`` with length ``(1 + c^2)/2``, so
    its ergotropy is 1/2 for every ``0 <= c <= 1``; c = 0 is ``classical`` and
    c = 1 is ``quantum``, entry by entry.
    """
    p_e = (3.0 - c * c) / 4.0
    return np.array([[1.0 - p_e, c / 2.0], [c / 2.0, p_e]], dtype=complex)


def ghz_amplitudes(n_cells: int) -> np.ndarray:
    """``(|g...g> + |e...e>)/sqrt(2)``: amplitudes on k = 0 and k = N."""
    a = np.zeros(n_cells + 1, dtype=complex)
    a[0] += 1.0 / math.sqrt(2.0)
    a[n_cells] += 1.0 / math.sqrt(2.0)
    return a


def dicke_amplitudes(n_cells: int) -> np.ndarray:
    """The symmetric Dicke state with N/2 excitations (even N)."""
    a = np.zeros(n_cells + 1, dtype=complex)
    a[n_cells // 2] = 1.0
    return a


def singlet_pairs_vector(n_cells: int) -> np.ndarray:
    """``(|eg> - |ge>)/sqrt(2)`` on the cell pairs (0, 1), (2, 3), ... (even N)."""
    pair = np.zeros(4, dtype=complex)
    pair[0b10] = 1.0 / math.sqrt(2.0)  # |e g>: first cell of the pair excited
    pair[0b01] = -1.0 / math.sqrt(2.0)
    return reduce(np.kron, [pair] * (n_cells // 2))


@dataclass(frozen=True)
class StateDeclaration:
    """One family of initial states: the only place a state is defined.

    Exactly one of ``single_cell``, ``amplitudes``, ``vector`` is set; each is
    a function of the family's parameter (``single_cell``) or of N.

    Attributes
    ----------
    name
        The label, or the label's prefix for a family with a parameter.
    description
        One line for the documentation and error messages.
    single_cell
        Product states: the parameter (or None) -> 2x2 density matrix.
    amplitudes
        Symmetric pure states: N -> amplitude on each ``|N/2, k - N/2>``,
        k = 0..N.
    vector
        Other pure states: N -> state vector of length 2^N.
    parameter
        Name of the parameter written after the colon (None: no parameter).
    bounds
        Closed interval the parameter must lie in.
    even_cells
        Defined only for an even number of cells.
    """

    name: str
    description: str
    single_cell: Callable[[float | None], Matrix] | None = None
    amplitudes: Callable[[int], np.ndarray] | None = None
    vector: Callable[[int], np.ndarray] | None = None
    parameter: str | None = None
    bounds: tuple[float, float] = (0.0, 1.0)
    even_cells: bool = False

    @property
    def pattern(self) -> str:
        """How a label of this family is written (``equal_ergotropy:<c>``)."""
        return self.name if self.parameter is None else f"{self.name}:<{self.parameter}>"


def _constant(matrix: list[list[float]]) -> Callable[[float | None], Matrix]:
    frozen = np.array(matrix, dtype=complex)
    return lambda _: frozen.copy()


#: Every initial state, once. Labels: ``name`` or ``name:<value>``.
STATES: dict[str, StateDeclaration] = {
    d.name: d
    for d in (
        StateDeclaration(
            "full", "|e>^N: every cell excited", single_cell=_constant([[0.0, 0.0], [0.0, 1.0]])
        ),
        StateDeclaration(
            "classical",
            "(3/4|e><e| + 1/4|g><g|)^N: incoherent, same ergotropy as quantum",
            single_cell=_constant([[0.25, 0.0], [0.0, 0.75]]),
        ),
        StateDeclaration(
            "quantum",
            "|+>^N with |+> = (|e> + |g>)/sqrt(2): coherent, same ergotropy as classical",
            single_cell=_constant([[0.5, 0.5], [0.5, 0.5]]),
        ),
        StateDeclaration(
            "equal_ergotropy",
            "product of [[p_g, c/2], [c/2, p_e]], p_e = (3 - c^2)/4: ergotropy N/2 for "
            "every 0 <= c <= 1 (c = 0 is classical, c = 1 is quantum)",
            single_cell=equal_ergotropy_cell,
            parameter="c",
        ),
        StateDeclaration(
            "ghz", "(|g...g> + |e...e>)/sqrt(2): N-cell GHZ state", amplitudes=ghz_amplitudes
        ),
        StateDeclaration(
            "dicke",
            "symmetric Dicke state with N/2 excitations (even N)",
            amplitudes=dicke_amplitudes,
            even_cells=True,
        ),
        StateDeclaration(
            "singlet_pairs",
            "(|eg> - |ge>)/sqrt(2) on the cell pairs (0,1), (2,3), ... (even N)",
            vector=singlet_pairs_vector,
            even_cells=True,
        ),
    )
}

#: The paper's three product states, single-cell density matrices in (|g>, |e>).
SINGLE_CELL_STATES: dict[str, Matrix] = {
    name: STATES[name].single_cell(None) for name in ("full", "classical", "quantum")
}

STATE_DESCRIPTIONS = {d.pattern: d.description for d in STATES.values()}


def allowed_labels() -> str:
    """The label patterns, for error messages: ``full, ..., equal_ergotropy:<c>, ...``."""
    return ", ".join(d.pattern for d in STATES.values())


@dataclass(frozen=True)
class InitialState:
    """A parsed label: its declaration and parameter value."""

    label: str
    declaration: StateDeclaration
    value: float | None = None

    @property
    def single_cell(self) -> Matrix | None:
        """The single-cell density matrix of a product state (None otherwise)."""
        make = self.declaration.single_cell
        return None if make is None else make(self.value)

    @property
    def permutation_symmetric(self) -> bool:
        """Invariant under every permutation of the cells (products and symmetric pure states)."""
        return self.declaration.vector is None

    def amplitudes(self, n_cells: int) -> np.ndarray | None:
        """Amplitudes on ``|N/2, k - N/2>``, k = 0..N, of a symmetric pure state (else None)."""
        make = self.declaration.amplitudes
        return None if make is None else np.asarray(make(n_cells), dtype=complex)

    def state_vector(self, n_cells: int) -> np.ndarray | None:
        """The 2^N state vector of a pure state (None for a mixed one)."""
        check_state(self.label, n_cells)
        decl = self.declaration
        if decl.vector is not None:
            return np.asarray(decl.vector(n_cells), dtype=complex)
        if decl.amplitudes is not None:
            k = excitations(n_cells).astype(np.int64)
            norms = np.array([math.sqrt(math.comb(n_cells, j)) for j in range(n_cells + 1)])
            return (self.amplitudes(n_cells) / norms)[k]
        one = self.single_cell
        values, vectors = np.linalg.eigh(one)
        if not abs(values[0]) <= 1e-15:
            return None
        psi = vectors[:, 1] * np.exp(-1j * np.angle(vectors[np.argmax(np.abs(vectors[:, 1])), 1]))
        return reduce(np.kron, [psi] * n_cells)

    def density_matrix(self, n_cells: int) -> Matrix:
        """The dense 2^N x 2^N density matrix."""
        check_state(self.label, n_cells)
        one = self.single_cell
        if one is not None:
            return reduce(np.kron, [one] * n_cells)
        psi = self.state_vector(n_cells)
        return np.outer(psi, np.conj(psi))

    def entries(self, n_cells: int, ket: np.ndarray, bra: np.ndarray) -> np.ndarray:
        """``rho[ket, bra]`` for arrays of basis indices, without forming rho."""
        check_state(self.label, n_cells)
        ket, bra = np.asarray(ket, np.int64), np.asarray(bra, np.int64)
        one = self.single_cell
        if one is not None:
            out = np.ones(np.broadcast(ket, bra).shape, dtype=complex)
            for shift in range(n_cells):
                out *= one[(ket >> shift) & 1, (bra >> shift) & 1]
            return out
        psi = self.state_vector(n_cells)
        return psi[ket] * np.conj(psi[bra])

    def invariant_under(self, image: np.ndarray, n_cells: int, atol: float = 1e-13) -> bool:
        """Whether rho is invariant under the basis permutation ``image`` (i -> image[i]).

        Products and symmetric states are invariant under every cell
        permutation; a pure state is when ``|<psi| P psi>| = 1``.
        """
        if self.permutation_symmetric:
            return True
        psi = self.state_vector(n_cells)
        moved = np.empty_like(psi)
        moved[image] = psi
        return bool(abs(abs(np.vdot(psi, moved)) - 1.0) <= atol)


def parse_state(label: str) -> InitialState:
    """The ``InitialState`` of a label; ``ValueError`` naming the label if it is not one."""
    if not isinstance(label, str):
        raise ValueError(
            f"states: an initial state is a label (text), got {label!r}; "
            f"allowed: {allowed_labels()}"
        )
    name, colon, text = label.partition(":")
    decl = STATES.get(name)
    if decl is None:
        raise ValueError(f"states: unknown initial state {label!r}; allowed: {allowed_labels()}")
    if decl.parameter is None:
        if colon:
            raise ValueError(f"states: {label!r}: the state {name!r} takes no parameter")
        return InitialState(label, decl)
    lo, hi = decl.bounds
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not colon or not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(
            f"states: {label!r}: write {decl.pattern} with {decl.parameter} a number in "
            f"[{lo:g}, {hi:g}], e.g. {name}:0.5"
        )
    return InitialState(label, decl, value)


def check_states(states: str | Iterable[str], n_cells: int | None = None) -> list[str]:
    """Validate a list of initial-state labels and return it as a list.

    Raises ``ValueError`` for an unknown or malformed label, an empty list, or
    a repeated state (also the same parameter written twice, e.g.
    ``equal_ergotropy:0.5`` and ``equal_ergotropy:0.50``); with ``n_cells`` (a
    positive integer; anything else is left to the caller's own check) also
    for a state undefined at that N (``check_state``).
    """
    if isinstance(states, str):
        states = [states]
    states = list(states)
    if not states:
        raise ValueError(f"states must name at least one of {allowed_labels()}")
    seen: dict[tuple[str, float | None], str] = {}
    for label in states:
        state = parse_state(label)
        key = (state.declaration.name, state.value)
        if key in seen:
            raise ValueError(
                f"states: labels must not repeat a state, got {seen[key]!r} and {label!r} "
                f"in {states}"
            )
        seen[key] = label
    valid_n = isinstance(n_cells, (int, np.integer)) and not isinstance(n_cells, bool)
    if valid_n and n_cells >= 1:
        for label in states:
            check_state(label, int(n_cells))
    return states


def check_state(label: str, n_cells: int) -> InitialState:
    """Validate ``label`` at ``n_cells`` cells (no simulation) and return its ``InitialState``.

    Raises ``ValueError`` naming the state and N where the state is undefined
    (``dicke`` and ``singlet_pairs`` at odd N).
    """
    state = parse_state(label)
    if state.declaration.even_cells and n_cells % 2:
        raise ValueError(
            f"initial state {label!r} is defined for an even number of cells only, "
            f"got n_cells={n_cells}"
        )
    return state


def density_matrix(label: str, n_cells: int) -> Matrix:
    """Dense density matrix (2^N x 2^N) of the initial state ``label`` at N cells."""
    return check_state(label, n_cells).density_matrix(n_cells)


def product_state(label: str, n_cells: int) -> Matrix:
    """Dense density matrix of ``label`` at N cells (any state; kept under its old name)."""
    return density_matrix(label, n_cells)


def single_cell_state(label: str) -> Matrix:
    """Single-cell density matrix of a product-state label (``ValueError`` otherwise)."""
    one = parse_state(label).single_cell
    if one is None:
        raise ValueError(f"initial state {label!r} is not a product of single-cell states")
    return one
