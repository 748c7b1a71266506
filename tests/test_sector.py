"""The symmetry-reduced default backend (``sector``) against the full-space routes."""

import threading

import numpy as np
import pytest

import qbsd
from qbsd.dynamics import SectorSolver, make_solver
from qbsd.dynamics import sector as sector_backend
from qbsd.model import Point
from qbsd.model.channels import PAPER_CHANNELS
from qbsd.model.geometry import NAMED_GEOMETRIES, Geometry
from qbsd.model.spectral_blocks import SpectralBlocks
from qbsd.model.symmetry import (
    SectorBasis,
    automorphism_generators,
    group_elements,
    state_permutation,
)
from qbsd.observables import Observer, SectorObserver
from qbsd.resources import memory_estimate

STATES = ("full", "classical", "quantum")


def _numeric(ds):
    """Every data variable (series, event times, peaks, health) as float arrays."""
    return {name: np.asarray(var.values, dtype=float) for name, var in ds.data_vars.items()}


def _assert_same(a, b, atol, skip=()):
    va, vb = _numeric(a), _numeric(b)
    assert va.keys() == vb.keys()
    for name in va:
        if name in skip:
            continue
        # a birth at a tangent zero of the concurrence (C ~ t^2 from a product
        # state) is located to sqrt(eps) by construction: 2.6e-9 seen
        tol = max(atol, 1e-8) if name == "entanglement_birth_time" else atol
        np.testing.assert_allclose(va[name], vb[name], atol=tol, rtol=0, err_msg=name)


# health diagnostics are round-off sized on both routes, not equal to each other
HEALTH = ("max_trace_error", "min_eigenvalue", "max_hermiticity_error")


# (a) sector == expm: every named geometry and channel, N = 2..5
SMALL = [
    (n, geometry, channel, J, g)
    for n in (2, 3, 4)
    for geometry in NAMED_GEOMETRIES
    for channel in PAPER_CHANNELS
    for J, g in ((2.0, 0.5), (0.0, 0.0))
] + [
    (3, geometry, channel, 1.0, 0.0) for geometry in NAMED_GEOMETRIES for channel in PAPER_CHANNELS
]
# N = 5 (expm costs ~0.8 s): one point per geometry, channels rotated, plus the
# CP bound of the central geometry (gamma12 = 1/|lambda_min| = 0.5, K singular)
FIVE = [
    (5, geometry, channel, 2.0, 0.25)
    for geometry, channel in zip(NAMED_GEOMETRIES, list(PAPER_CHANNELS) * 2, strict=False)
] + [(5, "central", "relaxation", 2.0, 0.5), (5, "linear", "phase_damping", 0.0, 0.0)]


@pytest.mark.parametrize(("n", "geometry", "channel", "J", "g"), SMALL + FIVE)
def test_sector_equals_expm(n, geometry, channel, J, g):
    kwargs = dict(n_cells=n, geometry=geometry, J=J, gamma12=g, channel=channel)
    kwargs.update(t_max=6.0, n_points=41)
    sector = qbsd.simulate(**kwargs, method="sector")
    exact = qbsd.simulate(**kwargs, method="expm")
    assert sector.attrs["solver_method"] == "sector"
    _assert_same(sector, exact, atol=1e-12, skip=HEALTH)
    for name in HEALTH:
        np.testing.assert_allclose(sector[name], exact[name], atol=1e-11, rtol=0, err_msg=name)


def test_central_cp_bound_is_reached():
    """The CP-bound point above really sits on the bound (it is not silently moved)."""
    assert Geometry.make("central", 5).gamma12_bound() == pytest.approx(0.5, abs=1e-12)


# (b) N = 6: exact Taylor steps against BDF at tight tolerance
def test_sector_six_cells_against_bdf():
    kwargs = dict(
        n_cells=6, geometry="circular", J=2.0, gamma12=0.5, channel="relaxation", t_max=3.0
    )
    kwargs.update(n_points=31, states=("full", "quantum"), rtol=1e-11, atol=1e-13)
    sector = qbsd.simulate(**kwargs)
    bdf = qbsd.simulate(**kwargs, method="bdf")
    assert "exact" in sector.attrs["solver_stats"]
    _assert_same(sector, bdf, atol=1e-8, skip=HEALTH)


# (c) N = 7: the Adams path against exact Taylor stepping of the same reduced generator
def _observed(solver, states, times):
    out = {}
    for s, _, chunk in solver.run(states, times):
        for key, value in solver.observe(chunk).items():
            out.setdefault((s, key), []).append(np.asarray(value))
    return {k: np.concatenate(v) for k, v in out.items()}


def test_adams_matches_exact_stepping_seven_cells():
    point = Point(Geometry.make("linear", 7), 2.0, 0.5, "relaxation")
    times = np.linspace(0.0, 2.0, 21)
    adams = make_solver(point, method="sector", integrator="adams")
    exact = make_solver(point, method="sector", integrator="exact")
    assert adams.integrator == "adams" and exact.integrator == "exact"
    a = _observed(adams, ["quantum"], times)
    b = _observed(exact, ["quantum"], times)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-7, rtol=0, err_msg=str(key))
    # and the exact short propagator continues the exact trajectory
    x0 = exact.initial("quantum")
    np.testing.assert_allclose(exact.evolve(x0, 2.0), exact.evolve(exact.evolve(x0, 1.2), 0.8))


# (d) reduced coordinates and block spectra
@pytest.mark.parametrize("geometry", NAMED_GEOMETRIES)
@pytest.mark.parametrize("n", [3, 4, 5])
def test_expand_reduce_and_block_spectra(geometry, n):
    geo = Geometry.make(geometry, n)
    basis = SectorBasis(n, automorphism_generators(geo))
    blocks = SpectralBlocks(basis)
    assert blocks.checked
    observer = SectorObserver(geo, basis, blocks)
    rng = np.random.default_rng(n)
    perms = [state_permutation(g, n) for g in group_elements(basis.generators, n, rng)]
    for q0_only in (False, True):
        c = np.stack([basis.random_hermitian(rng, q0_only=q0_only) for _ in range(3)])
        rho = basis.expand(c)
        np.testing.assert_array_equal(basis.reduce(rho), c)  # round trip
        np.testing.assert_allclose(rho, np.conj(np.swapaxes(rho, 1, 2)), atol=0)
        for p in perms:  # invariant: rho[g i, g j] = rho[i, j]
            np.testing.assert_array_equal(rho[:, p][:, :, p], rho)
        assert all(basis.is_invariant(r) for r in rho)
        np.testing.assert_allclose(observer.spectrum(c), np.linalg.eigvalsh(rho), atol=1e-12)
    # a non-invariant matrix is detected as such (the check can fail)
    bad = basis.expand(basis.random_hermitian(rng))
    bad[1, 0] += 1.0  # one pair of a nontrivial orbit: cell 0 excited vs none
    bad[0, 1] += 1.0
    assert len(perms) > 1 and not basis.is_invariant(bad)
    sizes = blocks.block_sizes("general")
    assert sum(m * k for m, k in sizes) == 2**n


def test_solver_states_expand_to_full_space_observables():
    point = Point(Geometry.make("central", 4), 2.0, 0.25, "amplitude_damping")
    solver = make_solver(point, method="sector")
    full = Observer(point.geometry)
    times = np.linspace(0, 4, 17)
    for _, _, chunk in solver.run(list(STATES), times):
        rho = solver.expand(chunk)
        assert all(solver.basis.is_invariant(r, atol=1e-14) for r in rho)
        np.testing.assert_allclose(solver.basis.reduce(rho), chunk, atol=0)
        reduced, dense = solver.observe(chunk), full(rho)
        for key in ("energy", "ergotropy", "coherence", "population", "concurrence"):
            np.testing.assert_allclose(reduced[key], dense[key], atol=1e-12, err_msg=key)


# (e) sector against the permutation-invariant Dicke-basis solver
def test_sector_against_piqs_symmetric():
    kwargs = dict(n_cells=5, geometry="symmetric", J=2.0, gamma12=0.5, channel="relaxation")
    kwargs.update(t_max=4.0, n_points=41)
    sector = qbsd.simulate(**kwargs)
    piqs = qbsd.simulate(**kwargs, method="piqs")
    assert isinstance(
        make_solver(Point(Geometry.make("symmetric", 5), 2.0, 0.5, "relaxation")), SectorSolver
    )
    _assert_same(sector, piqs, atol=1e-7, skip=HEALTH)


# (f) concurrent zvode integrations: the second one falls back to exact stepping
def test_concurrent_simulations_equal_sequential():
    kwargs = [
        dict(n_cells=7, geometry="linear", J=2.0, gamma12=0.5, states=("quantum",)),
        dict(n_cells=7, geometry="circular", J=1.0, gamma12=0.25, states=("full",)),
    ]
    for k in kwargs:
        k.update(t_max=2.0, n_points=21)
    sequential = [qbsd.simulate(**k) for k in kwargs]
    results, errors = [None, None], []
    barrier = threading.Barrier(2)

    def work(i):
        try:
            barrier.wait()
            results[i] = qbsd.simulate(**kwargs[i])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(results, sequential, strict=True):
        _assert_same(got, want, atol=1e-7, skip=HEALTH)
    assert all("zvode" in ds.attrs["solver_stats"] for ds in sequential)


def test_held_zvode_falls_back_to_exact_stepping():
    """Deterministic half of the above: while another integration holds zvode."""
    kwargs = dict(n_cells=7, geometry="linear", J=2.0, gamma12=0.5, states=("quantum",))
    kwargs.update(t_max=2.0, n_points=21)
    alone = qbsd.simulate(**kwargs)
    with sector_backend._ZVODE_LOCK:
        blocked = qbsd.simulate(**kwargs)
    assert "zvode" in alone.attrs["solver_stats"]
    assert "zvode" not in blocked.attrs["solver_stats"]
    assert "exact" in blocked.attrs["solver_stats"]
    _assert_same(blocked, alone, atol=1e-7, skip=HEALTH)


# memory estimate of the sector backend: measured peaks (RSS of `simulate` with
# n_points 1001, three states unless stated, on this 2-core machine):
#   N = 8 linear, one state: 288 MB;  N = 10 linear, three states: 1.27 GB.
MEASURED_PEAKS = [(8, 1, 288e6), (10, 3, 1.27e9)]


@pytest.mark.parametrize(("n", "n_states", "peak"), MEASURED_PEAKS)
def test_sector_memory_estimate_is_conservative_not_wild(n, n_states, peak):
    point = Point(Geometry.make("linear", n), 2.0, 0.5, "relaxation")
    states = ["full", "classical", "quantum"][:n_states]
    for method in ("auto", "sector"):
        estimate = memory_estimate(point, states, method)
        assert peak <= estimate <= 3 * peak, (method, estimate / 1e6)
    # the full-space backends still need the full-space estimate
    assert memory_estimate(point, states, "bdf") > memory_estimate(point, states, "sector")
