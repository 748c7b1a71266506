"""Initial states: products over cells of one single-cell state.

Definitions in docs/model.md, "Initial states".
"""

from __future__ import annotations

from functools import reduce

import numpy as np

# Single-cell density matrices in the basis (|g>, |e>).
SINGLE_CELL_STATES: dict[str, np.ndarray] = {
    "full": np.array([[0.0, 0.0], [0.0, 1.0]], dtype=complex),
    "classical": np.array([[0.25, 0.0], [0.0, 0.75]], dtype=complex),
    "quantum": 0.5 * np.ones((2, 2), dtype=complex),
}

STATE_DESCRIPTIONS = {
    "full": "|e>^N: every cell excited",
    "classical": "(3/4|e><e| + 1/4|g><g|)^N: incoherent, same ergotropy as quantum",
    "quantum": "|+>^N with |+> = (|e> + |g>)/sqrt(2): coherent, same ergotropy as classical",
}


def check_states(states) -> list[str]:
    """Validate a list of initial-state labels and return it as a list."""
    if isinstance(states, str):
        states = [states]
    states = list(states)
    if not states:
        raise ValueError(f"states must name at least one of {', '.join(SINGLE_CELL_STATES)}")
    for label in states:
        if label not in SINGLE_CELL_STATES:
            raise ValueError(
                f"states: unknown initial state {label!r}; "
                f"allowed: {', '.join(SINGLE_CELL_STATES)}"
            )
    if len(set(states)) != len(states):
        raise ValueError(f"states: labels must not repeat, got {states}")
    return states


def single_cell_state(label: str) -> np.ndarray:
    return SINGLE_CELL_STATES[check_states([label])[0]]


def product_state(label: str, n_cells: int) -> np.ndarray:
    """Dense density matrix (2^N x 2^N) of the product state ``label``^N."""
    one = single_cell_state(label)
    return reduce(np.kron, [one] * n_cells)
