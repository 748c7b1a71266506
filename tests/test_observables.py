import numpy as np
import pytest
import qutip

from qbsd.model.geometry import Geometry
from qbsd.model.states import product_state
from qbsd.observables import Observer, concurrence, l1_coherence, two_cell_states


def _bell(kind):
    v = np.zeros(4, complex)
    if kind == "phi":
        v[[0, 3]] = 1
    else:
        v[[1, 2]] = 1
    v /= np.sqrt(2)
    return np.outer(v, v.conj())


def test_concurrence_of_bell_product_and_werner_states():
    assert concurrence(_bell("phi")) == pytest.approx(1.0, abs=1e-12)
    assert concurrence(_bell("psi")) == pytest.approx(1.0, abs=1e-12)
    for label in ("full", "classical", "quantum"):
        assert concurrence(product_state(label, 2)) == pytest.approx(0.0, abs=1e-12)
    for p in np.linspace(0, 1, 11):
        werner = p * _bell("psi") + (1 - p) * np.eye(4) / 4
        assert concurrence(werner) == pytest.approx(max(0.0, (3 * p - 1) / 2), abs=1e-10)


def test_concurrence_matches_qutip_on_random_states():
    rng = np.random.default_rng(1)
    for _ in range(20):
        rho = qutip.rand_dm([2, 2], seed=int(rng.integers(1 << 30)))
        expected = qutip.concurrence(rho)
        assert concurrence(rho.full()) == pytest.approx(expected, abs=1e-9)


def test_two_cell_reduction_matches_partial_trace():
    rho = qutip.rand_dm([2, 2, 2, 2], seed=7)
    edges = [(0, 1), (1, 3), (0, 2), (2, 3)]
    ours = two_cell_states(rho.full()[None], 4, edges)[0]
    for k, (a, b) in enumerate(edges):
        np.testing.assert_allclose(ours[k], rho.ptrace([a, b]).full(), atol=1e-14)


def test_l1_coherence_of_plus_states_and_diagonal_states():
    for n in (1, 2, 3):
        assert l1_coherence(product_state("quantum", n)[None])[0] == pytest.approx(1.0)
        assert l1_coherence(product_state("classical", n)[None])[0] == 0.0


def test_ergotropy_against_explicit_passive_state():
    rng = np.random.default_rng(3)
    geometry = Geometry.make("linear", 3)
    observer = Observer(geometry)
    levels = np.array([bin(i).count("1") for i in range(8)], float)
    for _ in range(10):
        rho = qutip.rand_dm([2, 2, 2], seed=int(rng.integers(1 << 30))).full()
        r = np.sort(np.linalg.eigvalsh(rho))[::-1]
        passive = np.sum(r * np.sort(levels))
        values = observer(rho[None])
        u = np.real(np.trace(rho @ np.diag(levels)))
        assert values["energy"][0] == pytest.approx(u, abs=1e-13)
        assert values["ergotropy"][0] == pytest.approx(u - passive, abs=1e-13)
        assert values["ergotropy"][0] >= -1e-14


def test_population_per_cell_and_basis_convention():
    # cell 0 is the most significant tensor factor: |e g g> has only cell 0 excited
    e, g = np.array([0, 1.0]), np.array([1.0, 0])
    psi = np.kron(np.kron(e, g), g)
    observer = Observer(Geometry.make("linear", 3))
    values = observer(np.outer(psi, psi)[None].astype(complex))
    np.testing.assert_allclose(values["population"][0], [1, 0, 0])
