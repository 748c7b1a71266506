"""The measures: one concurrence on states of known concurrence, the ergotropy
split, capacity and local ergotropy against their definitions on every
backend, invariants along trajectories of every channel, and a second route
through QuTiP's own operators and solver.
"""

import itertools
import math

import numpy as np
import pytest
import qutip
from helpers import qutip_model
from scipy.optimize import brentq

import qbsd
from qbsd.dataset import VARIABLES
from qbsd.dynamics.dicke import DickeBasis, DickeObserver, to_full_space
from qbsd.dynamics.dicke import observer as dicke_observer
from qbsd.model.channels import CHANNELS, channel_parameters
from qbsd.model.geometry import Geometry
from qbsd.model.operators import excitations
from qbsd.model.spectral_blocks import SpectralBlocks
from qbsd.model.states import equal_ergotropy_cell
from qbsd.model.symmetry import SectorBasis
from qbsd.observables import Observer, SectorObserver, density, measures
from qbsd.observables import sector as sector_observer
from qbsd.observables.measures import MEASURES, concurrence, qubit_ergotropy

SPLIT = ("ergotropy", "ergotropy_incoherent", "ergotropy_coherent", "capacity", "ergotropy_local")

# ---------------------------------------------------------------------------
# One concurrence, exact on states of known concurrence


def _ket(*amplitudes):
    v = np.array(amplitudes, dtype=complex)
    return v / np.linalg.norm(v)


BELL = {
    "phi+": _ket(1, 0, 0, 1),
    "phi-": _ket(1, 0, 0, -1),
    "psi+": _ket(0, 1, 1, 0),
    "psi-": _ket(0, 1, -1, 0),
}


def _dm(v):
    return np.outer(v, v.conj())


def test_every_backend_uses_the_one_concurrence():
    assert density.concurrence is measures.concurrence
    assert sector_observer.concurrence is measures.concurrence
    assert dicke_observer.concurrence is measures.concurrence


def test_concurrence_of_bell_and_werner_states():
    for v in BELL.values():
        assert concurrence(_dm(v)) == pytest.approx(1.0, abs=1e-14)
    for p in np.linspace(0, 1, 21):
        werner = p * _dm(BELL["psi-"]) + (1 - p) * np.eye(4) / 4
        assert concurrence(werner) == pytest.approx(max(0.0, (3 * p - 1) / 2), abs=1e-14)


def test_concurrence_of_pure_states_is_two_abs_ad_minus_bc():
    rng = np.random.default_rng(11)
    psi = rng.normal(size=(500, 4)) + 1j * rng.normal(size=(500, 4))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    a, b, c, d = psi.T
    rho = psi[:, :, None] * psi[:, None, :].conj()
    np.testing.assert_allclose(concurrence(rho), 2 * np.abs(a * d - b * c), atol=2e-14, rtol=0)
    # products: exactly separable, rank one
    u = rng.normal(size=(500, 2)) + 1j * rng.normal(size=(500, 2))
    w = rng.normal(size=(500, 2)) + 1j * rng.normal(size=(500, 2))
    prod = np.einsum("ni,nj->nij", u, w).reshape(500, 4)
    prod /= np.linalg.norm(prod, axis=1, keepdims=True)
    assert concurrence(prod[:, :, None] * prod[:, None, :].conj()).max() <= 1e-14


def test_concurrence_of_rank_deficient_mixtures():
    e00 = _dm(_ket(1, 0, 0, 0))
    for p in np.linspace(0, 1, 21):
        # X state p |psi+><psi+| + (1 - p)|00><00|: C = 2 (|rho_23| - sqrt(rho_11 rho_44)) = p
        assert concurrence(p * _dm(BELL["psi+"]) + (1 - p) * e00) == pytest.approx(p, abs=1e-14)
        # two Bell states: C = |2p - 1|
        mix = p * _dm(BELL["phi+"]) + (1 - p) * _dm(BELL["psi+"])
        assert concurrence(mix) == pytest.approx(abs(2 * p - 1), abs=1e-14)
        # rank three: Bell state plus two product states, C = max(0, p - (1 - p)) (X state)
        x = p * _dm(BELL["phi+"]) + (1 - p) / 2 * (_dm(_ket(0, 1, 0, 0)) + _dm(_ket(0, 0, 1, 0)))
        assert concurrence(x) == pytest.approx(max(0.0, 2 * p - 1), abs=1e-14)


def test_concurrence_matches_qutip_on_random_full_rank_states():
    rng = np.random.default_rng(5)
    for _ in range(20):
        rho = qutip.rand_dm([2, 2], seed=int(rng.integers(1 << 30)))
        assert concurrence(rho.full()) == pytest.approx(qutip.concurrence(rho), abs=1e-12)


# ---------------------------------------------------------------------------
# The measures against their definitions


def test_every_measure_is_a_dataset_variable_with_units():
    for m in MEASURES:
        dims, units, long_name = VARIABLES[m.name]
        assert dims == ("state", *m.per, "time") and units and long_name
    for name in SPLIT:
        assert VARIABLES[name][1] == "hbar*omega0"


def test_qubit_ergotropy_against_the_spectrum_and_stable_below_half():
    rng = np.random.default_rng(2)
    for _ in range(200):
        p = rng.uniform()
        coh = rng.uniform(0, math.sqrt(p * (1 - p))) * np.exp(1j * rng.uniform(0, 2 * np.pi))
        rho = np.array([[1 - p, np.conj(coh)], [coh, p]])
        lam = np.linalg.eigvalsh(rho)
        assert qubit_ergotropy(p, coh) == pytest.approx(p - lam[0], abs=1e-15)
    # p < 1/2, tiny coherence: E = p - lambda_min with lambda_min = det / lambda_max
    p, coh = 0.1, 1e-9
    lam_max = 0.5 * (1 + math.sqrt((2 * p - 1) ** 2 + 4 * coh**2))
    lam_min = (p * (1 - p) - coh**2) / lam_max
    exact = coh**2 / (1 - 2 * p)  # leading order, relative corrections ~ 1e-18
    assert float(qubit_ergotropy(p, coh)) == pytest.approx(exact, rel=1e-12)
    assert exact == pytest.approx(p - lam_min, abs=1e-16)


def brute_force(rho):
    """The measures of one full density matrix, straight from their definitions."""
    n = int(round(math.log2(rho.shape[0])))
    levels = excitations(n)
    asc = np.sort(levels)

    def ergotropy(r):
        return np.real(np.trace(r @ np.diag(levels))) - np.sort(np.linalg.eigvalsh(r))[::-1] @ asc

    dephased = np.where(levels[:, None] == levels[None, :], rho, 0.0)
    lam = np.sort(np.linalg.eigvalsh(rho))
    state = qutip.Qobj(rho, dims=[[2] * n, [2] * n])  # cell 0 is the first factor
    cells = [state.ptrace(c).full() for c in range(n)]
    return {
        "ergotropy": ergotropy(rho),
        "ergotropy_incoherent": ergotropy(dephased),
        "ergotropy_coherent": ergotropy(rho) - ergotropy(dephased),
        "capacity": lam @ asc - lam[::-1] @ asc,
        "ergotropy_local": sum(one[1, 1].real - np.linalg.eigvalsh(one)[0] for one in cells),
    }


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_full_and_sector_observers_against_the_definitions(n):
    geometry = Geometry.make("linear", n)
    basis = SectorBasis(n, [])  # U(1) only: any state is described exactly
    sector = SectorObserver(geometry, basis, SpectralBlocks(basis))
    full = Observer(geometry)
    rng = np.random.default_rng(n)
    for k in range(6):
        rho = qutip.rand_dm([2] * n, seed=int(rng.integers(1 << 30))).full()
        if k % 2:  # keep only some excitation sectors' coherences
            exc = excitations(n)
            rho = np.where(np.abs(exc[:, None] - exc[None, :]) != 1, rho, 0.0)
        want = brute_force(rho)
        got_full = full(rho[None])
        got_sector = sector(basis.reduce(rho)[None])
        for name in SPLIT:
            assert got_full[name][0] == pytest.approx(want[name], abs=1e-13), name
            assert got_sector[name][0] == pytest.approx(want[name], abs=1e-13), name


def _random_dicke_state(basis, rng):
    """A random permutation-invariant state: a random PSD block per spin j, weights d_j."""
    w = np.zeros(basis.size, dtype=complex)
    n = basis.n_cells
    for ji, jv in enumerate(basis.j_values):
        size = int(round(2 * jv + 1))
        a = rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))
        block = a @ a.conj().T * math.exp(basis.log_d_values[ji])
        m = jv - np.arange(size)
        r, c = np.triu_indices(size)
        k, k1 = np.rint(n / 2 + m[r]).astype(int), np.rint(n / 2 + m[c]).astype(int)
        w[basis.index(np.full(len(r), jv), k, k1)] = block[r, c]
    w[: basis.n0] = w[: basis.n0].real
    return w / w[: basis.n0].real.sum()


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_dicke_observer_against_the_definitions(n):
    basis = DickeBasis(n)
    observer = DickeObserver(basis, n * (n - 1) // 2)
    rng = np.random.default_rng(10 + n)
    for _ in range(3):
        w = _random_dicke_state(basis, rng)
        rho = to_full_space(w, basis)
        want = brute_force(rho)
        got = observer(w[None])
        for name in SPLIT:
            assert got[name][0] == pytest.approx(want[name], abs=1e-12), name


# ---------------------------------------------------------------------------
# Along trajectories

ALL_STATES = ["quantum", "classical", "equal_ergotropy:0.5", "ghz", "dicke", "singlet_pairs"]


def _check_invariants(ds):
    e = ds.ergotropy.values
    assert np.all(ds.ergotropy_local.values <= e + 1e-12)
    assert np.all(ds.ergotropy_coherent.values >= -1e-12)
    assert np.all(ds.ergotropy_incoherent.values >= -1e-12)
    assert np.all(ds.capacity.values >= e - 1e-12)
    assert np.all(e >= -1e-12)


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_invariants_along_trajectories_of_every_channel(channel):
    parameters = {name: 0.3 for name in channel_parameters(channel)}
    ds = qbsd.simulate(
        4, "circular", 2.0, 0.5, channel, ALL_STATES, t_max=4.0, n_points=81, **parameters
    )
    _check_invariants(ds)
    # the split is exact at every time: E = E_i + E_c
    np.testing.assert_allclose(
        ds.ergotropy, ds.ergotropy_incoherent + ds.ergotropy_coherent, atol=1e-14
    )


def test_invariants_on_the_dicke_backend_at_ten_cells():
    ds = qbsd.simulate(
        10,
        "symmetric",
        2.0,
        0.5,
        "relaxation",
        ["quantum", "equal_ergotropy:0.5", "ghz", "dicke"],
        t_max=3.0,
        n_points=61,
        method="piqs",
    )
    _check_invariants(ds)


def test_one_cell_split_and_samples_at_the_half_life():
    # relaxation, one cell: rho_ee = p_e x, rho_eg = (c/2) x with x = exp(-t/2)
    c = 0.6
    one = equal_ergotropy_cell(c)
    p_e = one[1, 1].real
    ds = qbsd.simulate(1, states=[f"equal_ergotropy:{c}"], t_max=6.0, n_points=121)
    x = np.exp(-ds.time.values / 2)
    e = qubit_ergotropy(p_e * x, c * x / 2)
    e_i = np.maximum(0.0, 2 * p_e * x - 1)
    got = ds.isel(state=0)
    np.testing.assert_allclose(got.ergotropy, e, atol=1e-13)
    np.testing.assert_allclose(got.ergotropy_incoherent, e_i, atol=1e-13)
    np.testing.assert_allclose(got.capacity, np.sqrt((2 * p_e * x - 1) ** 2 + (c * x) ** 2), 1e-13)
    np.testing.assert_allclose(got.ergotropy_local, e, atol=1e-13)

    def ergotropy_at(t):
        y = math.exp(-t / 2)
        return float(qubit_ergotropy(p_e * y, c * y / 2))

    half = brentq(lambda t: ergotropy_at(t) - 0.25, 0.0, 6.0, xtol=1e-15)
    assert float(got.ergotropy_half_life) == pytest.approx(half, abs=1e-11)
    y = math.exp(-half / 2)
    coherent = 0.25 - max(0.0, 2 * p_e * y - 1)
    sample = float(got.ergotropy_coherent_at_ergotropy_half_life)
    assert sample == pytest.approx(coherent, abs=1e-11)
    assert float(got.ergotropy_local_at_ergotropy_half_life) == pytest.approx(0.25, abs=1e-11)
    split = qbsd.summaries.table(qbsd.summarize(ds), "ergotropy_split").iloc[0]
    assert split["coherent_fraction0"] == pytest.approx(c * c, abs=1e-14)  # E_c/E = c^2
    assert split["coherent_fraction_at_half_life"] == pytest.approx(coherent / 0.25, abs=1e-10)
    assert split["local_fraction_at_half_life"] == pytest.approx(1.0, abs=1e-10)
    # the incoherent ergotropy dies (2 p_e x = 1) before t_max: its half-life is reached
    e_i_half = 2 * math.log(2 * p_e / (1 + (2 * p_e - 1) / 2))
    assert float(got.ergotropy_incoherent_half_life) == pytest.approx(e_i_half, abs=1e-11)


def test_undefined_and_censored_split_half_lives():
    ds = qbsd.simulate(
        2, "linear", 2.0, 0.5, "phase_damping", ["classical", "quantum", "dicke"], t_max=3.0
    )
    split = qbsd.summaries.table(qbsd.summarize(ds), "ergotropy_split").set_index("state")
    # no coherence between energies: E_c half-life undefined, not censored
    for state in ("classical", "dicke"):
        assert np.isnan(split.loc[state, "ergotropy_coherent_half_life"])
        assert not split.loc[state, "ergotropy_coherent_half_life_censored"]
    # dephasing keeps the populations: E_i of the classical state never halves
    assert split.loc["classical", "ergotropy_incoherent_half_life_censored"]
    assert split.loc["quantum", "ergotropy_coherent_half_life"] > 0


# ---------------------------------------------------------------------------
# A second route: QuTiP's operators, states and solver (|e> = basis(2, 0) there)


def _qutip_states(label, n):
    e, g = qutip.basis(2, 0), qutip.basis(2, 1)
    if label.startswith("equal_ergotropy:"):
        c = float(label.split(":")[1])
        p_e = (3 - c * c) / 4
        one = p_e * e * e.dag() + (1 - p_e) * g * g.dag() + c / 2 * (e * g.dag() + g * e.dag())
        return qutip.tensor([one] * n)
    if label == "ghz":
        psi = qutip.tensor([g] * n) + qutip.tensor([e] * n)
    elif label == "dicke":
        psi = sum(
            qutip.tensor([e if k in up else g for k in range(n)])
            for up in itertools.combinations(range(n), n // 2)
        )
    else:  # singlet_pairs
        pair = qutip.tensor(e, g) - qutip.tensor(g, e)
        psi = qutip.tensor([pair] * (n // 2))
    return qutip.ket2dm(psi.unit())


def _qutip_measures(rho, sm):
    """The split from a QuTiP state with numpy: H0 = sum sm^dag sm, ptrace for the cells."""
    number = sum(s.dag() * s for s in sm)
    levels = np.real(number.diag())
    asc = np.sort(levels)
    full = rho.full()

    def ergotropy(r):
        return np.real(np.trace(r @ np.diag(levels))) - np.sort(np.linalg.eigvalsh(r))[::-1] @ asc

    dephased = np.where(levels[:, None] == levels[None, :], full, 0.0)
    lam = np.sort(np.linalg.eigvalsh(full))
    local = sum(
        np.real(one[0, 0]) - np.linalg.eigvalsh(one)[0]
        for one in (rho.ptrace(c).full() for c in range(len(sm)))
    )
    return {
        "ergotropy": ergotropy(full),
        "ergotropy_incoherent": ergotropy(dephased),
        "capacity": lam @ asc - lam[::-1] @ asc,
        "ergotropy_local": local,
    }


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("channel", ["relaxation", "amplitude_damping", "phase_damping"])
def test_second_route_with_qutip(n, channel):
    geometry = Geometry.make("linear", n)
    labels = ["equal_ergotropy:0.6", "ghz"] + (["dicke", "singlet_pairs"] if n == 4 else [])
    times = np.linspace(0.0, 2.0, 21)
    ds = qbsd.simulate(n, "linear", 2.0, 0.5, channel, labels, t_max=2.0, n_points=21)
    h, c_ops, sm = qutip_model(geometry, 2.0, 0.5, channel)
    options = {"atol": 1e-12, "rtol": 1e-10, "nsteps": 100000}
    for label in labels:
        result = qutip.mesolve(h, _qutip_states(label, n), times, c_ops, options=options)
        for k, rho in enumerate(result.states):
            want = _qutip_measures(rho, sm)
            got = ds.sel(state=label).isel(time=k)
            for name, value in want.items():
                assert float(got[name]) == pytest.approx(value, abs=1e-7), (label, name, k)
            coherent = want["ergotropy"] - want["ergotropy_incoherent"]
            assert float(got.ergotropy_coherent) == pytest.approx(coherent, abs=1e-7)
