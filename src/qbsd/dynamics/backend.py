"""One solver interface, and the registry that picks a backend for a point.

A backend is a class with the interface of ``Backend``: it declares what it
can run (``supports``) and which ``method`` names it answers to, and its
instances propagate every requested initial state through one generator.
``method="auto"`` asks the registered backends in order of preference
(``BACKENDS``: the Dicke basis for large permutation-invariant points, the
symmetry-reduced sector backend, the full space) and takes the first that
supports the point and the states; a named method goes to its backend, which
refuses what it cannot run with a ``ValueError`` naming the alternatives.
The memory and run time of a backend are estimated in ``qbsd.resources``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar, Protocol

import numpy as np

from ..model.point import Point
from .dicke.solver import PermutationalSolver
from .full import FullSpaceSolver
from .sector import SectorSolver


class Backend(Protocol):
    """The interface every solver backend has.

    Class level: ``name`` (``dicke``, ``sector``, ``full``), the ``methods``
    it runs, ``auto_min_cells`` (``auto`` considers it from this many cells
    on), the keyword ``options`` its constructor takes besides ``point`` and
    ``method``, ``supports(point, states)`` (None when it can run them, else
    the reason) and ``auto_method(point)`` (its method under ``auto``).

    Instance level: ``run(states, times)`` yields ``(state_index, time_slice,
    chunk)`` with a chunk of B states in the backend's representation;
    ``observe(chunk)`` returns every stored observable (leading dim B);
    ``evolve(state, s)`` propagates one state of a chunk by ``s`` exactly
    (the event finder); ``method`` and ``stats`` describe the run.
    """

    name: ClassVar[str]
    methods: ClassVar[tuple[str, ...]]
    auto_min_cells: ClassVar[int]
    options: ClassVar[tuple[str, ...]]
    method: str
    stats: dict

    @classmethod
    def supports(cls, point: Point, states: Sequence[str] = ()) -> str | None: ...

    @classmethod
    def auto_method(cls, point: Point) -> str: ...

    def run(
        self, states: Sequence[str], times: np.ndarray
    ) -> Iterator[tuple[int, slice, np.ndarray]]: ...

    def observe(self, chunk: np.ndarray) -> Mapping[str, np.ndarray]: ...

    def evolve(self, state: np.ndarray, duration: float) -> np.ndarray: ...


#: The backends in ``auto``'s order of preference; the full space runs everything.
BACKENDS: list[type[Backend]] = [PermutationalSolver, SectorSolver, FullSpaceSolver]


def methods() -> tuple[str, ...]:
    """Every method name: ``auto`` and those of the registered backends."""
    return ("auto",) + tuple(m for backend in BACKENDS for m in backend.methods)


#: The method names of the built-in backends (``methods()`` also has those registered later).
METHODS = methods()


def register_backend(backend: type[Backend], before: type[Backend] | None = None) -> None:
    """Add ``backend`` to the registry, ahead of ``before`` in ``auto``'s order (else last)."""
    taken = {m for b in BACKENDS for m in b.methods}
    clash = sorted(taken & set(backend.methods))
    if clash or "auto" in backend.methods:
        raise ValueError(f"backend {backend.name!r}: method(s) {clash or ['auto']} already taken")
    position = BACKENDS.index(before) if before is not None else len(BACKENDS)
    BACKENDS.insert(position, backend)


def check_method(method: str) -> None:
    """Raise ``ValueError`` naming the allowed methods if ``method`` is none of them."""
    allowed = methods()
    if method not in allowed:
        raise ValueError(f"method must be one of {', '.join(allowed)}, got {method!r}")


def select_backend(
    point: Point, states: Sequence[str] = (), method: str = "auto"
) -> tuple[type[Backend], str, list[str]]:
    """The backend for ``point`` and ``states`` under ``method``, its method, and why not others.

    ``auto``: the first backend of ``BACKENDS`` that considers the point's
    size (``auto_min_cells``) and supports it; the reasons of those that
    refused come third. A named method: its backend, whatever it supports
    (the backend raises when it cannot run the point).
    """
    check_method(method)
    if method != "auto":
        (backend,) = [b for b in BACKENDS if method in b.methods]
        return backend, method, []
    passed_over = []
    for backend in BACKENDS:
        if point.n_cells < backend.auto_min_cells:
            continue
        refusal = backend.supports(point, states)
        if refusal is None:
            return backend, backend.auto_method(point), passed_over
        passed_over.append(f"{backend.name}: {refusal}")
    raise ValueError(  # pragma: no cover - the full space supports every point
        f"no backend supports this point: {'; '.join(passed_over)}"
    )


def make_solver(
    point: Point, method: str = "auto", *, states: Sequence[str] = (), **options
) -> Backend:
    """The solver for ``point`` and the initial ``states`` (``select_backend``).

    ``options`` are the constructors' keywords (``rtol``, ``atol``,
    ``omega0``, ``integrator``); each backend gets those it declares: the
    Dicke basis and ``expm`` propagate exactly and take no tolerances, only
    the sector backend has an ``integrator``. A named method that cannot run
    the point or one of the states raises ``ValueError`` with its reason.
    Under ``auto`` the solver's ``stats["fallback"]`` says why the preferred
    backends passed the point on.
    """
    backend, chosen, passed_over = select_backend(point, states, method)
    if method != "auto":
        refusal = backend.supports(point, states)
        if refusal:
            raise ValueError(refusal)
    kwargs = {key: value for key, value in options.items() if key in backend.options}
    solver = backend(point, method=chosen, **kwargs)
    if passed_over:
        solver.stats["fallback"] = "; ".join(passed_over)
    return solver
