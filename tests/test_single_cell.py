"""One cell against the closed forms of docs/model.md ("Reference values")."""

import numpy as np
import pytest

import qbsd
from qbsd.reference import HALF_LIVES, SUDDEN_DEATH, XI0, single_cell

CHANNELS = ["relaxation", "amplitude_damping", "phase_damping"]
STATES = ["full", "classical", "quantum"]


@pytest.fixture(scope="module", params=CHANNELS)
def single(request):
    # a coarse grid on purpose: event times must not depend on it
    return request.param, qbsd.simulate(1, channel=request.param, n_points=201, t_max=8.0)


def test_closed_forms_of_energy_ergotropy_coherence(single):
    channel, ds = single
    for state in STATES:
        u, e, c = single_cell(channel, state, ds.time.values)
        one = ds.sel(state=state)
        np.testing.assert_allclose(one.energy, u, atol=1e-8, rtol=0)
        np.testing.assert_allclose(one.ergotropy, e, atol=1e-8, rtol=0)
        np.testing.assert_allclose(one.coherence, c, atol=1e-8, rtol=0)
        np.testing.assert_allclose(one.population.sel(cell=0), u, atol=1e-8, rtol=0)


def test_half_lives_to_1e_6_relative(single):
    channel, ds = single
    for state in STATES:
        expected = HALF_LIVES[(channel, state)]
        found = float(ds.ergotropy_half_life.sel(state=state))
        if np.isnan(expected):
            assert np.isnan(found)  # censored: never reported as t_max or 0
        else:
            assert found == pytest.approx(expected, rel=1e-6)


def test_relaxation_half_lives_are_the_papers_numbers():
    ds = qbsd.simulate(1, states=["classical", "quantum", "full"], n_points=11, t_max=2.0)
    tau = ds.ergotropy_half_life
    assert float(tau.sel(state="classical")) == pytest.approx(2 * np.log(6 / 5), rel=1e-9)
    assert float(tau.sel(state="quantum")) == pytest.approx(
        2 * np.log(2 * (1 + np.sqrt(6)) / 5), rel=1e-9
    )
    assert float(tau.sel(state="full")) == pytest.approx(2 * np.log(4 / 3), rel=1e-9)


def test_sudden_death_times(single):
    channel, ds = single
    for state in STATES:
        expected = SUDDEN_DEATH.get((channel, state), np.nan)
        found = float(ds.sudden_death_time.sel(state=state))
        if np.isnan(expected):
            assert np.isnan(found)
        else:
            assert found == pytest.approx(expected, rel=1e-6)


def test_phase_damping_classical_is_censored():
    ds = qbsd.simulate(1, channel="phase_damping", states=["classical"], n_points=51)
    frame = qbsd.summarize(ds)
    assert np.isnan(frame.loc[0, "ergotropy_half_life"])
    assert bool(frame.loc[0, "ergotropy_half_life_censored"])
    assert frame.loc[0, "final_ergotropy_fraction"] == pytest.approx(1.0, abs=1e-12)


def test_energy_half_life_relaxation():
    ds = qbsd.simulate(1, states=["full"], n_points=11, t_max=3.0)
    assert float(ds.energy_half_life.sel(state="full")) == pytest.approx(2 * np.log(2), rel=1e-9)


@pytest.mark.parametrize("n_cells", [1, 2, 3, 4, 5])
def test_initial_efficiency_for_every_n(n_cells):
    ds = qbsd.simulate(n_cells, "linear", 2.0, 0.5, n_points=2, t_max=0.01)
    for state in STATES:
        assert float(ds.efficiency.sel(state=state, time=0.0)) == pytest.approx(
            XI0[state], abs=1e-12
        )
        assert float(ds.ergotropy.sel(state=state, time=0.0)) == pytest.approx(
            {"full": 1.0, "classical": 0.5, "quantum": 0.5}[state] * n_cells, abs=1e-12
        )
