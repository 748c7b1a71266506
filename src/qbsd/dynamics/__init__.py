"""The dynamics: solver backends behind one interface, and what they share.

- ``backend``: the interface (``Backend``), the registry (``BACKENDS``) and
  ``make_solver``; ``method="auto"`` asks the backends what they support.
- ``full``: the full space (``expm``, ``bdf``, ``adams``).
- ``sector``: the symmetry-reduced density matrix (``sector``).
- ``dicke``: the Dicke basis for permutation-invariant points (``piqs``).
- ``taylor``: the one truncated-Taylor exponential the exact steps use.
- ``chunks``: the one chunking policy, and the thread that propagates one
  chunk ahead of the observables.
"""

from .backend import (
    BACKENDS,
    METHODS,
    Backend,
    check_method,
    make_solver,
    methods,
    register_backend,
    select_backend,
)
from .dicke import PermutationalSolver
from .full import FullSpaceSolver
from .sector import SectorSolver

__all__ = [
    "BACKENDS",
    "METHODS",
    "Backend",
    "FullSpaceSolver",
    "PermutationalSolver",
    "SectorSolver",
    "check_method",
    "make_solver",
    "methods",
    "register_backend",
    "select_backend",
]
