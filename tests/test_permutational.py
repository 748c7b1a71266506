"""The permutation-invariant (Dicke-basis) backend against the full density matrix.

What it proves: for N = 2..6, every channel, state, J in {0, 2} and
gamma12 in {0, 0.5}, every stored observable (and every event time) of
``method="piqs"`` equals the full solver to 1e-7; closed forms for uncoupled
cells at N = 10, 20; xi(0) for N up to 100; the piqs coefficient formulas
against ``qutip.piqs`` itself; the two-cell state, coherence and ergotropy
formulas against brute force on random permutation-invariant states.
"""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from helpers import assert_dicke_generator_is_piqs

import qbsd
from qbsd.dynamics import FullSpaceSolver, SectorSolver, make_solver, select_backend
from qbsd.dynamics.dicke import (
    FULL_SPACE_MAX_CELLS,
    DickeBasis,
    DickeObserver,
    DickeRates,
    PermutationalSolver,
    initial_state,
    orbit_vectors,
    to_full_space,
)
from qbsd.model import Point
from qbsd.model.channels import PAPER_CHANNELS
from qbsd.model.geometry import Geometry
from qbsd.model.operators import excitations
from qbsd.model.states import product_state
from qbsd.observables import l1_coherence, spectrum, two_cell_states
from qbsd.observables.measures import concurrence
from qbsd.reference import XI0, single_cell
from qbsd.resources import dicke_memory, memory_estimate

STATES = ("full", "classical", "quantum")
SERIES = (
    "energy",
    "ergotropy",
    "efficiency",
    "coherence",
    "population",
    "concurrence",
    "concurrence_mean",
)
EVENTS = (
    "ergotropy_half_life",
    "energy_half_life",
    "coherence_half_life",
    "sudden_death_time",
    "revival_time",
    "entanglement_birth_time",
    "entanglement_death_time",
    "concurrence_mean_peak",
    "concurrence_mean_peak_time",
    "max_trace_error",
)
TOL = 1e-7


def random_dicke_state(basis: DickeBasis, rng, coherent: bool = True) -> np.ndarray:
    """A random permutation-invariant density matrix, as stored numbers w."""
    w = np.zeros(basis.size, dtype=complex)
    total = 0.0
    for jv in basis.j_values:
        size = int(round(2 * jv + 1))
        a = rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))
        block = a @ a.conj().T if coherent else np.diag(rng.random(size))
        d = math.exp(basis.log_d_values[int(round(jv - basis.j_values[0]))])
        total += d * np.trace(block).real
        for r in range(size):
            for c in range(r, size):
                k, k1 = (
                    int(round(basis.n_cells / 2 + jv - r)),
                    int(round(basis.n_cells / 2 + jv - c)),
                )
                w[basis.index(jv, k, k1)] = d * block[r, c]
    return w / total


# ---------------------------------------------------------------------------
# The generator against qutip.piqs


@pytest.mark.parametrize("n_cells", [1, 2, 3, 4, 5, 6])
def test_generator_is_the_piqs_lindbladian(n_cells):
    rates = DickeRates(
        emission=0.37, dephasing=0.55, collective_emission=0.21, collective_dephasing=0.13
    )
    assert_dicke_generator_is_piqs(n_cells, rates)


def test_rates_split_complete_graph_kossakowski():
    point = Point(Geometry.make("symmetric", 5), 2.0, 0.5, "relaxation")
    assert DickeRates.of(point) == DickeRates(
        emission=0.25, dephasing=0.5, collective_emission=0.25
    )
    point = Point(Geometry.make("symmetric", 5), 2.0, 0.5, "phase_damping")
    assert DickeRates.of(point) == DickeRates(dephasing=1.0, collective_dephasing=1.0)
    point = Point(Geometry.make("symmetric", 5), 0.0, 1.0, "amplitude_damping")
    assert DickeRates.of(point) == DickeRates(collective_emission=1.0)


# ---------------------------------------------------------------------------
# States and observables against brute force


@pytest.mark.parametrize("n_cells", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("label", STATES)
def test_initial_states_are_the_product_states(n_cells, label):
    basis = DickeBasis(n_cells)
    w = initial_state(label, basis)
    assert (len(w) == basis.n0) == (label != "quantum")  # diagonal states are compact
    np.testing.assert_allclose(to_full_space(w, basis), product_state(label, n_cells), atol=1e-14)


@pytest.mark.parametrize("n_cells", [2, 3, 4, 5, 6])
def test_observables_of_random_invariant_states(n_cells):
    rng = np.random.default_rng(n_cells)
    basis = DickeBasis(n_cells)
    n_links = n_cells * (n_cells - 1) // 2
    observer = DickeObserver(basis, n_links)
    edges = Geometry.make("symmetric", n_cells).edges
    levels = np.sort(excitations(n_cells))
    for coherent in (True, False):
        w = random_dicke_state(basis, rng, coherent)
        if not coherent:
            w = w[: basis.n0].real
        rho = to_full_space(w, basis)[None]
        got = observer(w[None])
        energy = np.real(np.trace(rho[0] @ np.diag(excitations(n_cells))))
        ergotropy = energy - spectrum(rho)[0][::-1] @ levels
        np.testing.assert_allclose(got["energy"], energy, atol=1e-12)
        np.testing.assert_allclose(got["ergotropy"], ergotropy, atol=1e-12)
        np.testing.assert_allclose(got["coherence"], l1_coherence(rho), atol=1e-12)
        np.testing.assert_allclose(got["min_eigenvalue"], spectrum(rho)[0][0], atol=1e-12)
        pairs = two_cell_states(rho, n_cells, edges)
        np.testing.assert_allclose(
            observer.two_cell_state(w[None], not coherent)[0], pairs[0, 0], atol=1e-12
        )
        np.testing.assert_allclose(pairs[0], pairs[0, :1].repeat(n_links, 0), atol=1e-12)
        np.testing.assert_allclose(got["concurrence"][0], concurrence(pairs[0]), atol=1e-10)


def test_concurrence_matches_wootters_and_is_stable_near_product_states():
    from qbsd.observables import concurrence as reference

    rng = np.random.default_rng(7)
    for _ in range(20):
        a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
        rho = a @ a.conj().T
        rho /= np.trace(rho)
        np.testing.assert_allclose(concurrence(rho), reference(rho[None])[0], atol=1e-12)
    bell = np.zeros((4, 4))
    bell[np.ix_([1, 2], [1, 2])] = 0.5
    assert concurrence(bell) == pytest.approx(1.0, abs=1e-14)
    plus = np.full((4, 4), 0.25) + 1e-17 * rng.normal(size=(4, 4))
    assert concurrence((plus + plus.T) / 2) < 1e-14


@pytest.mark.parametrize("n_cells", [4, 9, 16])
def test_orbit_transform_is_orthogonal(n_cells):
    for _, _, _, js, v in orbit_vectors(n_cells):
        assert v.shape == (len(js), len(js))
        np.testing.assert_allclose(v.T @ v, np.eye(len(js)), atol=1e-13)


# ---------------------------------------------------------------------------
# Propagation


@pytest.mark.parametrize(
    "n_cells, J, gamma12, channel",
    [
        (4, 2.0, 0.5, "relaxation"),
        (9, 2.0, 0.5, "relaxation"),
        (9, 0.0, 0.0, "amplitude_damping"),
        (12, 2.0, 1.0, "amplitude_damping"),
        (12, 1.0, 0.3, "phase_damping"),
    ],
)
def test_evolve_is_exp_of_the_generator(n_cells, J, gamma12, channel):
    solver = PermutationalSolver(
        Point(Geometry.make("symmetric", n_cells), J, gamma12, channel), omega0=0.7
    )
    basis = solver.basis
    generator = (solver.generator + sp.diags(1j * solver.phase)).toarray()
    rng = np.random.default_rng(3)
    x = rng.normal(size=basis.size) + 1j * rng.normal(size=basis.size)
    x[: basis.n0] = x[: basis.n0].real
    for t in (0.01, 0.37, 2.0):
        exact = scipy.linalg.expm(generator * t) @ x
        np.testing.assert_allclose(solver.evolve(x, t), exact, rtol=0, atol=1e-11)
        compact = x[: basis.n0].real
        np.testing.assert_allclose(
            solver.evolve(compact, t), exact[: basis.n0].real, rtol=0, atol=1e-11
        )


@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
def test_states_equal_the_full_density_matrix_with_omega0(channel):
    point = Point(Geometry.make("symmetric", 3), 2.0, 0.5, channel)
    times = np.linspace(0, 3, 31)
    piqs = PermutationalSolver(point, omega0=0.7)
    full = FullSpaceSolver(point, method="expm", omega0=0.7)
    ours = {s: w for s, _, w in piqs.run(STATES, times)}
    for s, _, rho in full.run(STATES, times):
        mapped = np.array([to_full_space(w, piqs.basis) for w in ours[s]])
        np.testing.assert_allclose(mapped, rho, atol=1e-10)


def compare_with_full_solver(n_cells, channel, J, gamma12, method, **options):
    kwargs = dict(
        n_cells=n_cells,
        geometry="symmetric",
        J=J,
        gamma12=gamma12,
        channel=channel,
        states=STATES,
        t_max=3.0,
        n_points=61,
    )
    full = qbsd.simulate(method=method, **kwargs, **options)
    piqs = qbsd.simulate(method="piqs", **kwargs)
    assert piqs.attrs["solver_method"] == "piqs"
    for name in SERIES + EVENTS:
        a, b = full[name].values, piqs[name].values
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(b, a, rtol=0, atol=TOL, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("n_cells", [2, 3, 4])
@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
@pytest.mark.parametrize("J, gamma12", [(0.0, 0.0), (0.0, 0.5), (2.0, 0.0), (2.0, 0.5)])
def test_matches_full_solver(n_cells, channel, J, gamma12):
    compare_with_full_solver(n_cells, channel, J, gamma12, "expm")


@pytest.mark.parametrize("n_cells", [5, pytest.param(6, marks=pytest.mark.slow)])
@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
@pytest.mark.parametrize("J, gamma12", [(0.0, 0.0), (0.0, 0.5), (2.0, 0.0), (2.0, 0.5)])
def test_matches_full_solver_five_six_cells(n_cells, channel, J, gamma12):
    # the full solver's integrator at tight tolerances (the exact propagator is 4^N square)
    compare_with_full_solver(n_cells, channel, J, gamma12, "bdf", rtol=1e-11, atol=1e-13)


# ---------------------------------------------------------------------------
# Closed forms at large N


@pytest.mark.parametrize("n_cells", [10, 20])
@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
def test_uncoupled_cells_are_n_single_cells(n_cells, channel):
    ds = qbsd.simulate(n_cells, "symmetric", 0.0, 0.0, channel, t_max=4.0, n_points=41)
    assert ds.attrs["solver_method"] == "piqs"  # auto, N > FULL_SPACE_MAX_CELLS
    for state in STATES:
        u, e, c = single_cell(channel, state, ds.time.values)
        one = ds.sel(state=state)
        np.testing.assert_allclose(one.energy, n_cells * u, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(one.ergotropy, n_cells * e, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(one.population, u[None].repeat(n_cells, 0), atol=1e-10)
        coherence = ((1 + c) ** n_cells - 1) / (2**n_cells - 1)
        np.testing.assert_allclose(one.coherence, coherence, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(one.concurrence, 0.0, atol=1e-10)


@pytest.mark.parametrize("n_cells", [2, 7, 10, 33, 60, pytest.param(100, marks=pytest.mark.slow)])
def test_initial_efficiency_and_coherence_for_many_cells(n_cells):
    point = Point(Geometry.make("symmetric", n_cells), 2.0, 0.5, "relaxation")
    solver = PermutationalSolver(point)
    for label in STATES:
        values = solver.observe(solver.initial(label)[None])
        p = 0.75 if label == "classical" else (1.0 if label == "full" else 0.5)
        assert values["energy"][0] == pytest.approx(n_cells * p, rel=1e-12)
        assert values["ergotropy"][0] / values["energy"][0] == pytest.approx(XI0[label], rel=1e-10)
        assert values["coherence"][0] == pytest.approx(float(label == "quantum"), abs=1e-12)
        assert values["concurrence"].max() < 1e-12
        assert values["trace_error"][0] < 1e-12


def test_superradiant_cascade_of_the_full_state():
    # Collective emission only (amplitude damping, gamma12 = 1): |N/2, N/2> cascades down
    # the j = N/2 ladder, m -> m - 1 at the rate (N/2 + m)(N/2 - m + 1) of D[J-] (the
    # superradiant burst, rates up to ~N^2/4): a birth-death chain solved exactly here.
    n = 40
    ds = qbsd.simulate(
        n, "symmetric", 1.0, 1.0, "amplitude_damping", states=["full"], t_max=2.0, n_points=201
    )
    m = np.arange(n / 2, -n / 2 - 1, -1)  # N/2 .. -N/2
    rates = (n / 2 + m) * (n / 2 - m + 1)
    chain = np.diag(-rates) + np.diag(rates[:-1], -1)
    p0 = np.zeros(n + 1)
    p0[0] = 1.0
    populations = np.array([scipy.linalg.expm(chain * t) @ p0 for t in ds.time.values])
    np.testing.assert_allclose(ds.energy.sel(state="full"), populations @ (m + n / 2), atol=1e-9)
    # a mixture of symmetric Dicke states: no coherence between excitation numbers, but
    # computational-basis coherence inside each |N/2, m> (C(N, k) equal amplitudes)
    assert ds.coherence.sel(state="full").max() > 0.01


@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
def test_single_cell(channel):
    kwargs = dict(n_cells=1, geometry="symmetric", channel=channel, t_max=3.0, n_points=31)
    piqs = qbsd.simulate(method="piqs", **kwargs)
    full = qbsd.simulate(method="expm", **kwargs)
    for name in ("energy", "ergotropy", "efficiency", "coherence", "population"):
        np.testing.assert_allclose(piqs[name], full[name], atol=1e-12)


# ---------------------------------------------------------------------------
# Dispatch, refusal, memory


def test_auto_asks_the_backends_what_they_support():
    def backend(n, geometry, J=2.0, gamma12=0.5, states=()):
        point = Point(Geometry.make(geometry, n), J, gamma12, "relaxation")
        return select_backend(point, states)[0]

    big = FULL_SPACE_MAX_CELLS + 1
    assert backend(big, "symmetric") is PermutationalSolver
    assert backend(FULL_SPACE_MAX_CELLS, "symmetric") is SectorSolver  # small: sector
    assert backend(20, "linear") is SectorSolver  # not permutation invariant
    assert backend(big, "linear", 0.0, 0.0) is PermutationalSolver  # uncoupled cells
    # a state the Dicke basis cannot hold passes the point on, with the reason
    point = Point(Geometry.make("symmetric", 10), 2.0, 0.5, "relaxation")
    chosen, method, passed_over = select_backend(point, ["classical", "singlet_pairs"])
    assert chosen is SectorSolver and method == "sector"
    assert "dicke: initial state 'singlet_pairs' is not invariant" in passed_over[0]
    chain = Point(Geometry.make("linear", 4), 2.0, 0.5, "relaxation")
    assert "all-to-all" in PermutationalSolver.supports(chain)
    assert SectorSolver.supports(chain) is None and FullSpaceSolver.supports(chain) is None
    point = Point(Geometry.make("symmetric", big), 2.0, 0.5, "relaxation")
    assert isinstance(make_solver(point), PermutationalSolver)
    small = Point(Geometry.make("symmetric", 3), 2.0, 0.5, "relaxation")
    assert not isinstance(make_solver(small), PermutationalSolver)
    assert isinstance(make_solver(small, "piqs"), PermutationalSolver)


def test_dicke_backend_takes_no_tolerances():
    """The Dicke propagation is exact: make_solver passes it no rtol or atol."""
    point = Point(Geometry.make("symmetric", 3), 2.0, 0.5, "relaxation")
    solver = make_solver(point, "piqs", rtol=1e-3, atol=1e-3, omega0=0.0)
    assert isinstance(solver, PermutationalSolver) and not hasattr(solver, "rtol")
    with pytest.raises(TypeError):
        PermutationalSolver(point, rtol=1e-3)


@pytest.mark.parametrize("geometry", ["linear", "central", "circular", [(0, 1), (2, 3)]])
def test_refuses_geometries_that_are_not_permutation_invariant(geometry):
    with pytest.raises(ValueError, match="permutation-invariant solver.*all-to-all"):
        qbsd.simulate(4, geometry, 2.0, 0.5, method="piqs", n_points=3)
    # uncoupled cells are permutation invariant whatever the graph
    ds = qbsd.simulate(4, geometry, 0.0, 0.0, method="piqs", n_points=11, t_max=1.0)
    ref = qbsd.simulate(4, geometry, 0.0, 0.0, method="expm", n_points=11, t_max=1.0)
    for name in SERIES:
        np.testing.assert_allclose(ds[name], ref[name], atol=TOL)


def test_memory_estimate_dispatch():
    small = dicke_memory(100, 3)
    assert 0.3e9 < small < 4e9
    symmetric = Point(Geometry.make("symmetric", 100), 2.0, 0.5, "relaxation")
    assert memory_estimate(symmetric) == small
    twelve = Point(Geometry.make("symmetric", 12), 2.0, 0.5, "relaxation")
    assert memory_estimate(twelve, method="piqs") == dicke_memory(12, 3)
    chain = Point(Geometry.make("linear", 12), 2.0, 0.5, "relaxation")
    assert memory_estimate(chain) > 10 * dicke_memory(12, 3)
    # the stored series follow the time grid (no fixed number of time points)
    assert (
        memory_estimate(symmetric, n_points=101)
        < small
        < memory_estimate(symmetric, n_points=10001)
    )


def test_dataset_contract_for_many_cells():
    n = 12
    ds = qbsd.simulate(n, "symmetric", 2.0, 0.5, t_max=1.0, n_points=21)
    assert ds.attrs["solver_method"] == "piqs"
    assert ds.concurrence.shape == (3, n * (n - 1) // 2, 21)
    assert ds.population.shape == (3, n, 21)
    assert int(ds.attrs["health_ok"]) == 1
    for name in SERIES:
        assert np.isfinite(ds[name].values).all(), name
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"]
    # every pair is equivalent, every cell too
    np.testing.assert_array_equal(
        ds.concurrence.values, ds.concurrence.values[:, :1].repeat(66, 1)
    )
    np.testing.assert_allclose((ds.population - ds.energy / n).values, 0.0, atol=1e-14)
