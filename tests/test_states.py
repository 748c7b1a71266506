"""Initial states: the declarations, their values at t = 0 on every backend, the
equal-ergotropy family's end points, the dark singlet pair, and how the sector
and Dicke backends take states that are not permutation symmetric.
"""

import math

import numpy as np
import pytest

import qbsd
from qbsd.dynamics import FullSpaceSolver, SectorSolver
from qbsd.dynamics.dicke import (
    DickeBasis,
    DickeObserver,
    PermutationalSolver,
    accepts_state,
    initial_state,
    to_full_space,
)
from qbsd.model import Point
from qbsd.model.geometry import Geometry
from qbsd.model.states import (
    STATES,
    check_state,
    check_states,
    density_matrix,
    equal_ergotropy_cell,
    parse_state,
)
from qbsd.model.symmetry import group_elements, stabilizer_generators, state_permutation
from qbsd.observables import Observer
from qbsd.summaries import summarize, table

NEW_STATES = ("equal_ergotropy:0.3", "equal_ergotropy:0.8", "ghz", "dicke", "singlet_pairs")
MEASURES = (
    "energy",
    "ergotropy",
    "ergotropy_incoherent",
    "ergotropy_coherent",
    "capacity",
    "ergotropy_local",
    "coherence",
    "population",
    "concurrence",
)


def defined(label, n):
    return not (parse_state(label).declaration.even_cells and n % 2)


def initial_measures(label, n, backend):
    """The measures at t = 0 of ``label`` on N cells of the complete graph, per backend."""
    point = Point(Geometry.make("symmetric", n), 2.0, 0.5, "relaxation")
    if backend == "full":
        values = Observer(point.geometry)(density_matrix(label, n)[None])
    elif backend == "sector":
        solver = SectorSolver(point)
        solver.fit_group([label])
        values = solver.observe(solver.initial(label)[None])
    else:
        basis = DickeBasis(n)
        values = DickeObserver(basis, len(point.geometry.edges))(initial_state(label, basis)[None])
    return {key: np.asarray(values[key])[0] for key in MEASURES}


BACKENDS = ("full", "sector", "dicke")


# ---------------------------------------------------------------------------
# Reference values at t = 0 (docs/model.md, "Observables")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("c", [0.0, 0.3, 1.0])
def test_one_cell_equal_ergotropy_split(c, backend):
    got = initial_measures(f"equal_ergotropy:{c}", 1, backend)
    assert got["ergotropy"] == pytest.approx(0.5, abs=1e-14)
    assert got["ergotropy_incoherent"] == pytest.approx((1 - c * c) / 2, abs=1e-14)
    assert got["ergotropy_coherent"] == pytest.approx(c * c / 2, abs=1e-14)
    assert got["capacity"] == pytest.approx((1 + c * c) / 2, abs=1e-14)
    assert got["ergotropy_local"] == pytest.approx(0.5, abs=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_ghz_split(n, backend):
    got = initial_measures("ghz", n, backend)
    assert got["ergotropy"] == pytest.approx(n / 2, abs=1e-13)
    assert got["ergotropy_incoherent"] == pytest.approx((n - 1) / 2, abs=1e-13)
    assert got["ergotropy_coherent"] == pytest.approx(0.5, abs=1e-13)
    assert got["capacity"] == pytest.approx(n, abs=1e-13)  # pure: from 0 to N
    assert got["ergotropy_local"] == pytest.approx(0.0, abs=1e-14)  # every cell is I/2


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("label", ["dicke", "singlet_pairs"])
def test_states_in_one_energy_eigenspace_have_no_coherent_ergotropy(label, n, backend):
    if backend == "dicke" and label == "singlet_pairs":
        pytest.skip("the Dicke backend refuses singlet_pairs (tested below)")
    got = initial_measures(label, n, backend)
    assert got["ergotropy"] == pytest.approx(n / 2, abs=1e-13)
    assert got["ergotropy_incoherent"] == pytest.approx(n / 2, abs=1e-13)
    assert abs(got["ergotropy_coherent"]) <= 1e-13
    assert got["capacity"] == pytest.approx(n, abs=1e-13)
    assert got["ergotropy_local"] == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("label", NEW_STATES)
def test_initial_ergotropy_energy_and_efficiency_table(label, n):
    if not defined(label, n):
        pytest.skip("undefined at odd N")
    state = parse_state(label)
    c = state.value
    u0 = n * (3 - c * c) / 4 if c is not None else n / 2
    rho = density_matrix(label, n)
    assert np.trace(rho).real == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(rho, rho.conj().T, atol=0)
    assert np.linalg.eigvalsh(rho).min() >= -1e-15
    for backend in BACKENDS if accepts_state(label) else BACKENDS[:2]:
        got = initial_measures(label, n, backend)
        assert got["ergotropy"] == pytest.approx(n / 2, abs=1e-13), backend
        assert got["energy"] == pytest.approx(u0, abs=1e-13), backend
        xi0 = 2 / (3 - c * c) if c is not None else 1.0
        assert got["ergotropy"] / got["energy"] == pytest.approx(xi0, abs=1e-13)


def test_equal_ergotropy_cell_end_points_are_the_paper_states_entry_by_entry():
    np.testing.assert_array_equal(equal_ergotropy_cell(0.0), STATES["classical"].single_cell(None))
    np.testing.assert_array_equal(equal_ergotropy_cell(1.0), STATES["quantum"].single_cell(None))
    for c in np.linspace(0, 1, 7):  # Bloch vector (c, 0, (1 - c^2)/2), length (1 + c^2)/2
        one = equal_ergotropy_cell(c)
        lam = np.linalg.eigvalsh(one)
        assert lam[1] - lam[0] == pytest.approx((1 + c * c) / 2, abs=1e-15)
        assert one[1, 1].real - lam[0] == pytest.approx(0.5, abs=1e-15)


def test_state_vectors_follow_the_basis_convention():
    # cell 0 is the most significant bit, bit 1 excited
    singlet = parse_state("singlet_pairs").state_vector(2)
    np.testing.assert_allclose(singlet, np.array([0, -1, 1, 0]) / math.sqrt(2), atol=1e-16)
    ghz = parse_state("ghz").state_vector(3)
    assert ghz[0] == ghz[7] == pytest.approx(1 / math.sqrt(2))
    dicke = parse_state("dicke").state_vector(4)
    assert np.count_nonzero(dicke) == 6
    np.testing.assert_allclose(dicke[[3, 5, 6, 9, 10, 12]], 1 / math.sqrt(6))


# ---------------------------------------------------------------------------
# Labels and N: errors at config time


@pytest.mark.parametrize("label", ["dicke", "singlet_pairs"])
@pytest.mark.parametrize("n", [1, 3, 5])
def test_odd_n_names_state_and_n(label, n):
    with pytest.raises(ValueError, match=rf"{label}.*n_cells={n}"):
        check_state(label, n)
    with pytest.raises(ValueError, match=rf"{label}.*n_cells={n}"):
        qbsd.simulate(n, "linear", states=["quantum", label], n_points=3, t_max=0.1)


@pytest.mark.parametrize(
    "label, match",
    [
        ("bell", "unknown initial state 'bell'.*equal_ergotropy:<c>"),
        ("equal_ergotropy", "equal_ergotropy:<c> with c a number in \\[0, 1\\]"),
        ("equal_ergotropy:1.5", "equal_ergotropy:<c> with c a number"),
        ("equal_ergotropy:-0.1", "equal_ergotropy:<c> with c a number"),
        ("equal_ergotropy:nan", "equal_ergotropy:<c> with c a number"),
        ("equal_ergotropy:half", "equal_ergotropy:<c> with c a number"),
        ("ghz:2", "'ghz' takes no parameter"),
    ],
)
def test_bad_labels(label, match):
    with pytest.raises(ValueError, match=match):
        check_states([label])


def test_repeated_states_are_refused_also_when_written_differently():
    with pytest.raises(ValueError, match="must not repeat"):
        check_states(["ghz", "ghz"])
    with pytest.raises(ValueError, match="'equal_ergotropy:0.5' and 'equal_ergotropy:0.50'"):
        check_states(["equal_ergotropy:0.5", "equal_ergotropy:0.50"])
    # the end points are other labels of the same physics: allowed side by side
    assert check_states(["classical", "equal_ergotropy:0"]) == ["classical", "equal_ergotropy:0"]
    assert check_states("ghz", 4) == ["ghz"]


# ---------------------------------------------------------------------------
# Trajectories


@pytest.mark.parametrize(
    "n, geometry, channel, method",
    [
        (3, "circular", "relaxation", "auto"),
        (4, "linear", "amplitude_damping", "auto"),
        (3, "symmetric", "phase_damping", "piqs"),
        (2, "linear", "relaxation", "expm"),
    ],
)
def test_equal_ergotropy_end_points_equal_classical_and_quantum(n, geometry, channel, method):
    states = ["classical", "equal_ergotropy:0", "quantum", "equal_ergotropy:1.0"]
    ds = qbsd.simulate(
        n, geometry, 2.0, 0.5, channel, states, t_max=3.0, n_points=61, method=method
    )
    for a, b in (("classical", "equal_ergotropy:0"), ("quantum", "equal_ergotropy:1.0")):
        for name in [*MEASURES, "efficiency", "ergotropy_half_life", "energy_half_life"]:
            np.testing.assert_allclose(
                ds[name].sel(state=b), ds[name].sel(state=a), atol=1e-14, rtol=0, err_msg=name
            )


@pytest.mark.parametrize("method", ["auto", "expm"])
def test_dark_singlet_pair_keeps_its_ergotropy(method):
    # N = 2, amplitude damping at gamma12 = Gamma (the CP bound): the singlet is dark
    ds = qbsd.simulate(
        2,
        "linear",
        2.0,
        1.0,
        "amplitude_damping",
        ["quantum", "singlet_pairs"],
        t_max=10.0,
        n_points=101,
        method=method,
    )
    dark = ds.sel(state="singlet_pairs")
    np.testing.assert_allclose(dark.ergotropy, 1.0, atol=1e-12, rtol=0)
    np.testing.assert_allclose(dark.energy, 1.0, atol=1e-12, rtol=0)
    assert np.isnan(float(dark.ergotropy_half_life))
    row = table(summarize(ds), "half_lives").set_index("state").loc["singlet_pairs"]
    assert row["ergotropy_half_life_censored"] and np.isnan(row["ergotropy_half_life"])
    split = table(summarize(ds), "ergotropy_split").set_index("state")
    assert split.loc["singlet_pairs", "ergotropy_half_life_censored"]
    assert not split.loc["quantum", "ergotropy_half_life_censored"]


# ---------------------------------------------------------------------------
# States that are not permutation symmetric


@pytest.mark.parametrize(
    "geometry, n, order",
    [
        ("circular", 4, 4),
        ("symmetric", 4, 8),
        ("central", 4, 2),
        ("linear", 4, 2),
        ("circular", 6, 6),
    ],
)
def test_sector_basis_keeps_the_stabilizer_of_singlet_pairs(geometry, n, order):
    point = Point(Geometry.make(geometry, n), 2.0, 0.5, "relaxation")
    solver = SectorSolver(point)
    full_group = len(group_elements(solver.basis.generators, n, np.random.default_rng(0)))
    solver.fit_group(["quantum", "singlet_pairs"])
    kept = group_elements(solver.basis.generators, n, np.random.default_rng(0))
    assert len(kept) == order <= full_group
    rho = density_matrix("singlet_pairs", n)
    for g in kept:  # every kept permutation leaves the state invariant
        p = state_permutation(g, n)
        np.testing.assert_allclose(rho[np.ix_(p, p)], rho, atol=1e-15)
    assert solver.basis.is_invariant(rho)
    # symmetric states keep the whole group
    solver.fit_group(["quantum", "ghz"] + (["dicke"] if n % 2 == 0 else []))
    assert len(group_elements(solver.basis.generators, n, np.random.default_rng(0))) == full_group


def test_stabilizer_of_a_trivial_condition_is_trivial_and_of_a_true_one_everything():
    generators = [(1, 2, 3, 0), (3, 2, 1, 0)]
    assert stabilizer_generators(generators, 4, lambda g: True) == generators
    assert stabilizer_generators(generators, 4, lambda g: g == (0, 1, 2, 3)) == []


@pytest.mark.parametrize("geometry", ["circular", "symmetric", "central"])
def test_sector_backend_with_singlet_pairs_equals_the_full_space(geometry):
    point = Point(Geometry.make(geometry, 4), 2.0, 0.5, "relaxation")
    states = ["quantum", "singlet_pairs", "ghz"]
    times = np.linspace(0.0, 2.0, 21)
    sector = SectorSolver(point)
    full = FullSpaceSolver(point, method="expm")
    observer = Observer(point.geometry)
    got = {s: (sl, chunk) for s, sl, chunk in sector.run(states, times)}
    for s, sl, rho in full.run(states, times):
        want = observer(rho)
        reduced_sl, chunk = got[s]
        assert reduced_sl == sl
        np.testing.assert_allclose(sector.expand(chunk), rho, atol=1e-13)
        values = sector.observe(chunk)
        for name in MEASURES:
            np.testing.assert_allclose(values[name], want[name], atol=1e-12, err_msg=name)


def test_sector_initial_refuses_a_state_its_group_does_not_keep():
    solver = SectorSolver(Point(Geometry.make("circular", 4), 2.0, 0.5, "relaxation"))
    with pytest.raises(ValueError, match="'singlet_pairs' is not invariant"):
        solver.initial("singlet_pairs")


def test_dicke_backend_refuses_states_that_are_not_permutation_symmetric():
    assert not accepts_state("singlet_pairs")
    assert all(accepts_state(s) for s in ("full", "equal_ergotropy:0.4", "ghz", "dicke"))
    point = Point(Geometry.make("symmetric", 4), 2.0, 0.5, "relaxation")
    solver = PermutationalSolver(point)
    with pytest.raises(ValueError, match="'singlet_pairs' is not invariant under permutations"):
        list(solver.run(["quantum", "singlet_pairs"], np.linspace(0, 1, 3)))
    with pytest.raises(ValueError, match="'singlet_pairs' is not invariant under permutations"):
        qbsd.simulate(4, "symmetric", states=["singlet_pairs"], method="piqs", n_points=3)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("label", ["equal_ergotropy:0.3", "equal_ergotropy:0.9", "ghz", "dicke"])
def test_dicke_initial_states_are_the_declared_states(label, n):
    if not defined(label, n):
        pytest.skip("undefined at odd N")
    basis = DickeBasis(n)
    w = initial_state(label, basis)
    assert (len(w) == basis.n0) == (label == "dicke")  # only dicke is real and q = 0
    np.testing.assert_allclose(to_full_space(w, basis), density_matrix(label, n), atol=1e-14)


@pytest.mark.parametrize("c", [0.25, 0.7])
def test_dicke_rotated_product_at_forty_cells(c):
    # products of identical cells: passive state = product of passive cells, so
    # E(0) = N/2, capacity = N |r| = N (1 + c^2)/2, E_loc = E
    n = 40
    basis = DickeBasis(n)
    w = initial_state(f"equal_ergotropy:{c}", basis)
    got = DickeObserver(basis, n * (n - 1) // 2)(w[None])
    assert got["trace_error"][0] <= 1e-13
    assert got["min_eigenvalue"][0] >= -1e-15
    assert got["energy"][0] == pytest.approx(n * (3 - c * c) / 4, abs=1e-11)
    assert got["ergotropy"][0] == pytest.approx(n / 2, abs=1e-11)
    assert got["capacity"][0] == pytest.approx(n * (1 + c * c) / 2, abs=1e-11)
    assert got["ergotropy_local"][0] == pytest.approx(n / 2, abs=1e-11)
    assert got["concurrence"][0, 0] <= 1e-14


@pytest.mark.parametrize(
    "n, channel, method",
    [
        (2, "relaxation", "expm"),
        (3, "amplitude_damping", "expm"),
        (4, "phase_damping", "expm"),
        (5, "relaxation", "expm"),
        (6, "amplitude_damping", "adams"),
    ],
)
def test_dicke_backend_against_the_full_space(n, channel, method):
    states = ["equal_ergotropy:0.6", "ghz"] + (["dicke"] if n % 2 == 0 else [])
    kwargs = dict(
        n_cells=n, geometry="symmetric", J=2.0, gamma12=0.5, channel=channel, states=states
    )
    kwargs.update(t_max=2.0, n_points=41, rtol=1e-10, atol=1e-12)
    piqs = qbsd.simulate(**kwargs, method="piqs")
    full = qbsd.simulate(**kwargs, method=method)
    for name in [*MEASURES, "efficiency"]:
        np.testing.assert_allclose(piqs[name], full[name], atol=1e-7, rtol=0, err_msg=name)
    for name in ("ergotropy_half_life", "ergotropy_coherent_half_life", "capacity_half_life"):
        np.testing.assert_allclose(piqs[name], full[name], atol=1e-6, rtol=0, err_msg=name)
