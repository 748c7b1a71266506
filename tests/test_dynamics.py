"""Many-cell dynamics: invariants, frame independence, limits and a second route."""

import numpy as np
import pytest
import qutip
import scipy.linalg
from helpers import assert_observables_match, qutip_model

import qbsd
from qbsd.dynamics import make_solver
from qbsd.model import Point
from qbsd.model.channels import PAPER_CHANNELS
from qbsd.model.geometry import Geometry
from qbsd.reference import single_cell

OBSERVABLES = ["energy", "ergotropy", "efficiency", "coherence", "population", "concurrence"]


@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
def test_trajectory_invariants_four_cell_ring(channel):
    point = Point(Geometry.make("circular", 4), 2.0, 0.5, channel)
    solver = make_solver(point, method="bdf")
    times = np.linspace(0, 5, 41)
    for _, _, rho in solver.run(["full", "classical", "quantum"], times):
        np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1.0, atol=1e-9)
        np.testing.assert_allclose(rho, np.conj(np.swapaxes(rho, 1, 2)), atol=1e-12)
        assert np.linalg.eigvalsh(rho).min() >= -1e-9


@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
def test_omega0_drops_out(channel):
    kwargs = dict(
        n_cells=3, geometry="linear", J=2.0, gamma12=0.5, channel=channel, n_points=41, t_max=4.0
    )
    rotating = qbsd.simulate(**kwargs)
    lab = qbsd.simulate(**kwargs, omega0=7.3)
    for name in OBSERVABLES:
        np.testing.assert_allclose(lab[name], rotating[name], atol=1e-9, rtol=0)


@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
def test_uncoupled_cells_are_n_single_cells(channel):
    n = 4
    ds = qbsd.simulate(n, "circular", 0.0, 0.0, channel, n_points=61, t_max=6.0)
    for state in ("full", "classical", "quantum"):
        u, e, c = single_cell(channel, state, ds.time.values)
        one = ds.sel(state=state)
        np.testing.assert_allclose(one.energy, n * u, atol=1e-10)
        np.testing.assert_allclose(one.ergotropy, n * e, atol=1e-10)
        np.testing.assert_allclose(one.coherence, ((1 + c) ** n - 1) / (2**n - 1), atol=1e-10)
        np.testing.assert_allclose(one.concurrence, 0.0, atol=1e-12)


def test_isomorphic_geometries_give_identical_global_observables():
    central = qbsd.simulate(3, "central", 2.0, 0.5, n_points=51, t_max=5.0)
    linear = qbsd.simulate(3, "linear", 2.0, 0.5, n_points=51, t_max=5.0)
    for name in ("energy", "ergotropy", "efficiency", "coherence", "concurrence_mean"):
        np.testing.assert_allclose(central[name], linear[name], atol=1e-12)
    # the hub (cell 0 of central) plays the middle cell (1) of the chain
    np.testing.assert_allclose(
        central.population.sel(cell=0), linear.population.sel(cell=1), atol=1e-12
    )


def test_ode_and_exact_propagator_agree():
    kwargs = dict(
        n_cells=3,
        geometry="symmetric",
        J=2.0,
        gamma12=0.5,
        channel="amplitude_damping",
        n_points=101,
        t_max=5.0,
    )
    exact = qbsd.simulate(**kwargs, method="expm")
    ode = qbsd.simulate(**kwargs, method="bdf")
    for name in OBSERVABLES:
        np.testing.assert_allclose(ode[name], exact[name], atol=1e-7)
    np.testing.assert_allclose(ode.ergotropy_half_life, exact.ergotropy_half_life, rtol=1e-6)


# --- a second, independent route: QuTiP's own operators and conventions -------


def _qutip_observables(rho, geometry, sm):
    n = geometry.n_cells
    number = sum(s.dag() * s for s in sm)
    u = qutip.expect(number, rho)
    r = np.sort(rho.eigenenergies())[::-1]
    passive = np.sum(r * np.sort(number.eigenenergies()))
    full = rho.full()
    coh = (np.abs(full).sum() - np.abs(np.diag(full)).sum()) / (2**n - 1)
    conc = [qutip.concurrence(rho.ptrace([a, b])) for a, b in geometry.edges]
    pops = [qutip.expect(s.dag() * s, rho) for s in sm]
    return u, u - passive, coh, conc, pops


@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
@pytest.mark.parametrize(("n", "geometry"), [(2, "linear"), (3, "linear"), (3, "symmetric")])
def test_second_route_matrix_exponential_of_qutips_liouvillian(channel, n, geometry):
    g = Geometry.make(geometry, n)
    h, c_ops, sm = qutip_model(g, 2.0, 0.5, channel)
    lv = qutip.liouvillian(h, c_ops).full()
    times = np.linspace(0, 3, 7)
    ds = qbsd.simulate(n, geometry, 2.0, 0.5, channel, t_max=3.0, n_points=7)
    plus = (qutip.basis(2, 0) + qutip.basis(2, 1)).unit()
    singles = {
        "full": qutip.ket2dm(qutip.basis(2, 0)),
        "classical": 0.75 * qutip.ket2dm(qutip.basis(2, 0))
        + 0.25 * qutip.ket2dm(qutip.basis(2, 1)),
        "quantum": qutip.ket2dm(plus),
    }
    for state, one in singles.items():
        rho0 = qutip.tensor([one] * n)
        vec0 = qutip.operator_to_vector(rho0).full().ravel()
        for k, t in enumerate(times):
            vec = scipy.linalg.expm(lv * t) @ vec0
            rho = qutip.vector_to_operator(qutip.Qobj(vec[:, None], dims=[rho0.dims, [1]]))
            ours = ds.sel(state=state).isel(time=k)
            assert_observables_match(ours, *_qutip_observables(rho, g, sm))


def test_papers_geometry_ranking_of_efficiency():
    """Fig. 4b: N=5, J=2, gamma12=0.5, quantum state: central > linear > circular > symmetric."""
    xi = {
        g: float(
            qbsd.simulate(
                5, g, 2.0, 0.5, states=["quantum"], t_max=1.0, n_points=11
            ).efficiency.sel(state="quantum", time=1.0)
        )
        for g in ("central", "linear", "circular", "symmetric")
    }
    assert xi["central"] > xi["linear"] > xi["circular"] > xi["symmetric"]


def test_collective_damping_can_revive_ergotropy():
    """Ergotropy dies and comes back under collective decay (N = 3, gamma12 = 1).

    At gamma12 = Gamma on the triangle the decay is purely collective: the
    subradiant (dark) part of the classical state keeps its excitation while
    the bright part decays, and the state becomes non-passive again.
    """
    point = (3, "symmetric", 0.0, 1.0, "amplitude_damping")
    ds = qbsd.simulate(*point, states=["classical"], t_max=6.0, n_points=301)
    death = float(ds.sudden_death_time[0])
    revival = float(ds.revival_time[0])
    assert 0 < death < revival < 6.0
    e = ds.ergotropy.isel(state=0)
    assert float(e.sel(time=slice(death + 0.05, revival - 0.05)).max()) < 1e-8
    assert float(e.sel(time=slice(revival + 0.5, None)).max()) > 1e-3
    # the grid does not matter: a finer run finds the same times
    fine = qbsd.simulate(*point, states=["classical"], t_max=6.0, n_points=1201)
    assert float(fine.revival_time[0]) == pytest.approx(revival, rel=1e-6)
    assert float(fine.sudden_death_time[0]) == pytest.approx(death, rel=1e-6)
