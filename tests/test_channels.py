"""The channels as declarations: thermal and depolarizing on every backend, and a new one.

Closed forms of one cell (``docs/model.md``, "Dissipation"), a second route
through QuTiP's own operators and ``qutip.mesolve``, the sector and Dicke
backends against the full space, the excitation-difference symmetry checked
on the generator itself, and a channel declared in a few lines in this file.
"""

import math

import numpy as np
import pytest
import qutip
import scipy.optimize
from helpers import assert_dicke_generator_is_piqs, assert_observables_match

import qbsd
from qbsd.dynamics import FullSpaceSolver, SectorSolver, make_solver
from qbsd.dynamics.dicke import (
    DickeRates,
    PermutationalSolver,
)
from qbsd.model import Point, UnphysicalPointError
from qbsd.model.channels import (
    CHANNELS,
    PAPER_CHANNELS,
    Channel,
    Parameter,
    Term,
    channel_parameters,
    check_declaration,
    excitation_difference_violation,
    ladder_form,
    register_channel,
)
from qbsd.model.geometry import NAMED_GEOMETRIES, Geometry
from qbsd.model.liouvillian import liouvillian, qutip_operators, to_qutip
from qbsd.model.symmetry import popcounts
from qbsd.reference import HALF_LIVES, single_cell

STATES = ("full", "classical", "quantum")
NEW = {"thermal": {"n_th": 0.4}, "depolarizing": {}}
SERIES = ("energy", "ergotropy", "efficiency", "coherence", "population", "concurrence")
EVENTS = (
    "ergotropy_half_life",
    "energy_half_life",
    "coherence_half_life",
    "sudden_death_time",
    "revival_time",
    "entanglement_birth_time",
    "entanglement_death_time",
)


def _point(n, geometry, J, gamma12, channel, **parameters):
    return Point(Geometry.make(geometry, n), J, gamma12, channel, parameters=parameters)


def _same(a, b, atol, names=SERIES + EVENTS):
    for name in names:
        x, y = a[name].values, b[name].values
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=name)
        np.testing.assert_allclose(x, y, rtol=0, atol=atol, equal_nan=True, err_msg=name)


# ---------------------------------------------------------------------------
# Declarations and parameters


def test_channel_parameters_are_declared_with_the_channel():
    assert channel_parameters("thermal") == ("n_th",)
    for name in (*PAPER_CHANNELS, "depolarizing"):
        assert channel_parameters(name) == ()
    with pytest.raises(ValueError, match="channel must be one of"):
        channel_parameters("thermalisation")


def test_n_th_errors_name_the_parameter_and_the_channel():
    with pytest.raises(ValueError, match="n_th.*'relaxation'"):
        qbsd.simulate(2, channel="relaxation", n_th=0.1, n_points=3)
    with pytest.raises(ValueError, match="'depolarizing'"):
        qbsd.simulate(2, channel="depolarizing", n_th=0.0, n_points=3)
    with pytest.raises(ValueError, match="'thermal' needs n_th"):
        qbsd.simulate(2, channel="thermal", n_points=3)
    for bad in (-0.1, math.nan, math.inf, True, "0.5"):
        with pytest.raises(ValueError, match="n_th of channel 'thermal'"):
            qbsd.simulate(2, channel="thermal", n_th=bad, n_points=3)


def test_n_th_is_recorded_in_the_dataset():
    import json

    ds = qbsd.simulate(2, channel="thermal", n_th=0.5, n_points=3, t_max=0.1)
    assert float(ds.n_th) == 0.5
    assert ds.n_th.attrs == {"units": "1", "long_name": "mean thermal occupation of the bath"}
    assert json.loads(ds.attrs["settings"])["n_th"] == 0.5
    assert "n_th" in ds.attrs["channel_definition"]
    other = qbsd.simulate(2, channel="depolarizing", n_points=3, t_max=0.1)
    assert np.isnan(float(other.n_th))
    assert json.loads(other.attrs["settings"])["n_th"] is None


@pytest.mark.parametrize("channel", list(NEW))
def test_complete_positivity_bound_is_the_same_and_named(channel):
    with pytest.raises(UnphysicalPointError) as err:
        _point(5, "central", 2.0, 0.6, channel, **NEW[channel])
    for part in (channel, "central", "n_cells=5", "gamma12=0.6", "= 0.5 "):
        assert part in str(err.value)
    on_bound = _point(5, "central", 2.0, 0.5, channel, **NEW[channel])
    assert np.linalg.eigvalsh(on_bound.kossakowski())[0] == pytest.approx(0.0, abs=1e-12)


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="jump must be one of"):
        check_declaration(Channel("bad", (Term("sq", 1.0),), "no such jump"))
    with pytest.raises(ValueError, match="does not declare"):
        check_declaration(Channel("bad", (Term("sm", 1.0, per_parameter=(("x", 1.0),)),), ""))
    with pytest.raises(ValueError, match="already declared"):
        register_channel(CHANNELS["thermal"])
    # a parameter scales the terms that declare it, and is validated by name
    term = Term("sz", 0.1, per_parameter=(("kappa", 2.0),))
    channel = Channel("scaled", (term,), "", (Parameter("kappa", "dephasing strength"),))
    check_declaration(channel)
    assert channel.prefactor(term, {"kappa": 0.3}) == pytest.approx(0.7, abs=1e-15)
    assert channel.check_parameters({"kappa": 1}) == (("kappa", 1.0),)
    with pytest.raises(ValueError, match="'scaled' needs kappa"):
        channel.check_parameters({})
    with pytest.raises(ValueError, match="n_th is not a parameter of channel 'scaled'"):
        channel.check_parameters({"kappa": 1.0, "n_th": 0.0})


# ---------------------------------------------------------------------------
# The excitation-difference symmetry, on the generator itself


def _q_changing_entries(lv, n):
    d = 2**n
    exc = popcounts(n)
    coo = lv.tocoo()
    q_row = exc[coo.row // d] - exc[coo.row % d]
    q_col = exc[coo.col // d] - exc[coo.col % d]
    return np.abs(coo.data[q_row != q_col])


@pytest.mark.parametrize("channel", list(CHANNELS))
@pytest.mark.parametrize("geometry", NAMED_GEOMETRIES)
def test_declared_generator_conserves_q_and_equals_its_ladder_form(channel, geometry):
    point = _point(4, geometry, 2.0, 0.5, channel, **NEW.get(channel, {}))
    declared = liouvillian(point, omega0=0.9)
    assert excitation_difference_violation(point) is None
    assert _q_changing_entries(declared, 4).max(initial=0.0) == 0.0
    ladder = liouvillian(point, omega0=0.9, ladder=True)
    assert abs(declared - ladder).max() < 1e-14


def test_depolarizing_ladder_form():
    point = _point(3, "linear", 0.0, 0.5, "depolarizing")
    m = np.eye(3) + 0.5 * point.geometry.adjacency
    form = {(a, b): matrix for a, b, matrix in ladder_form(point)}
    assert set(form) == {("sm", "sm"), ("sp", "sp"), ("sz", "sz")}  # cross terms cancel
    np.testing.assert_allclose(form[("sm", "sm")], 0.5 * m, rtol=0, atol=1e-15)
    np.testing.assert_allclose(form[("sp", "sp")], 0.5 * m, rtol=0, atol=1e-15)
    np.testing.assert_allclose(form[("sz", "sz")], 0.25 * m, rtol=0, atol=1e-15)


@pytest.mark.parametrize("channel", list(NEW))
@pytest.mark.parametrize("geometry", ["linear", "central", "symmetric"])
def test_generator_equals_qutips_liouvillian(channel, geometry):
    point = _point(3, geometry, 2.0, 0.5, channel, **NEW[channel])
    h, c_ops = qutip_operators(point, omega0=1.3)
    expected = qutip.liouvillian(h, c_ops).full()
    ours = to_qutip(liouvillian(point, omega0=1.3), 3).full()
    assert np.abs(ours - expected).max() < 1e-13
    trace = np.eye(8).ravel() @ liouvillian(point)
    assert np.abs(trace).max() < 1e-13


# ---------------------------------------------------------------------------
# One cell: closed forms


@pytest.mark.parametrize("n_th", [0.2, 1.0])
def test_one_cell_thermal_closed_forms(n_th):
    ds = qbsd.simulate(1, channel="thermal", n_th=n_th, t_max=4.0, n_points=81)
    t = ds.time.values
    rate = 2 * n_th + 1
    p_inf = n_th / rate
    for state, p0, c0 in (("full", 1.0, 0.0), ("classical", 0.75, 0.0), ("quantum", 0.5, 0.5)):
        one = ds.sel(state=state)
        population = p_inf + (p0 - p_inf) * np.exp(-rate * t)
        coherence = 2 * c0 * np.exp(-rate * t / 2)  # C_l1 = 2 |rho_eg| for one cell
        np.testing.assert_allclose(one.population.sel(cell=0), population, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.energy, population, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.coherence, coherence, rtol=0, atol=1e-12)
        u, e, c = single_cell("thermal", state, t, n_th=n_th)
        np.testing.assert_allclose(one.ergotropy, e, rtol=0, atol=1e-12)
        # the half-life of the closed form, by root finding on it
        half = scipy.optimize.brentq(
            lambda s, state=state, e0=e[0]: (
                single_cell("thermal", state, s, n_th=n_th)[1] - e0 / 2
            ),
            0.0,
            4.0,
            xtol=1e-15,
        )
        assert float(one.ergotropy_half_life) == pytest.approx(half, rel=1e-8)


def test_one_cell_thermal_relaxes_to_the_passive_gibbs_state():
    ds = qbsd.simulate(1, channel="thermal", n_th=1.0, t_max=12.0, n_points=13)
    final = ds.isel(time=-1)
    np.testing.assert_allclose(final.energy, 1 / 3, atol=1e-12)
    np.testing.assert_allclose(final.ergotropy, 0.0, atol=1e-12)


def test_one_cell_depolarizing_half_life_is_ln2_for_every_state():
    ds = qbsd.simulate(1, channel="depolarizing", t_max=3.0, n_points=31)
    t = ds.time.values
    for state in STATES:
        one = ds.sel(state=state)
        assert HALF_LIVES[("depolarizing", state)] == pytest.approx(np.log(2), rel=1e-15)
        assert float(one.ergotropy_half_life) == pytest.approx(np.log(2), rel=1e-9)
        e0 = float(one.ergotropy[0])
        np.testing.assert_allclose(one.ergotropy, e0 * np.exp(-t), rtol=0, atol=1e-12)
        u, e, c = single_cell("depolarizing", state, t)
        np.testing.assert_allclose(one.energy, u, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.coherence, c, rtol=0, atol=1e-12)
        assert np.isnan(float(one.sudden_death_time))


def test_thermal_at_zero_occupation_is_amplitude_damping():
    kwargs = dict(n_cells=3, geometry="linear", J=2.0, gamma12=0.5, t_max=4.0, n_points=41)
    thermal = qbsd.simulate(channel="thermal", n_th=0.0, **kwargs)
    damping = qbsd.simulate(channel="amplitude_damping", **kwargs)
    _same(thermal, damping, atol=1e-12)
    a = liouvillian(_point(3, "linear", 2.0, 0.5, "thermal", n_th=0.0))
    b = liouvillian(_point(3, "linear", 2.0, 0.5, "amplitude_damping"))
    assert abs(a - b).max() == 0.0


# ---------------------------------------------------------------------------
# Many cells: invariants and the backends against each other


@pytest.mark.parametrize("channel", list(NEW))
def test_trajectory_invariants_four_cell_ring(channel):
    point = _point(4, "circular", 2.0, 0.5, channel, **NEW[channel])
    solver = make_solver(point, method="bdf")
    for _, _, rho in solver.run(list(STATES), np.linspace(0, 5, 21)):
        np.testing.assert_allclose(np.trace(rho, axis1=1, axis2=2), 1.0, atol=1e-9)
        np.testing.assert_allclose(rho, np.conj(np.swapaxes(rho, 1, 2)), atol=1e-12)
        assert np.linalg.eigvalsh(rho).min() >= -1e-9


@pytest.mark.parametrize("channel", list(NEW))
def test_omega0_drops_out_and_uncoupled_cells_are_single_cells(channel):
    kwargs = dict(n_cells=3, geometry="linear", J=2.0, gamma12=0.5, channel=channel)
    kwargs.update(NEW[channel], n_points=21, t_max=3.0)
    rotating = qbsd.simulate(**kwargs)
    lab = qbsd.simulate(**kwargs, omega0=7.3)
    _same(rotating, lab, atol=1e-9, names=SERIES)
    n = 4
    ds = qbsd.simulate(n, "circular", 0.0, 0.0, channel, n_points=31, t_max=3.0, **NEW[channel])
    for state in STATES:
        u, e, c = single_cell(channel, state, ds.time.values, **NEW[channel])
        one = ds.sel(state=state)
        np.testing.assert_allclose(one.energy, n * u, atol=1e-10)
        np.testing.assert_allclose(one.ergotropy, n * e, atol=1e-10)
        np.testing.assert_allclose(one.coherence, ((1 + c) ** n - 1) / (2**n - 1), atol=1e-10)


SECTOR_CASES = [
    (n, geometry, channel, J, g)
    for n in (2, 3, 4)
    for geometry in (("linear",) if n == 2 else NAMED_GEOMETRIES)  # N = 2: one link
    for channel in NEW
    for J, g in ((2.0, 0.5), (0.0, 0.0))
] + [(5, "central", "thermal", 2.0, 0.25), (5, "circular", "depolarizing", 2.0, 0.25)]


@pytest.mark.parametrize(("n", "geometry", "channel", "J", "g"), SECTOR_CASES)
def test_sector_equals_expm(n, geometry, channel, J, g):
    kwargs = dict(n_cells=n, geometry=geometry, J=J, gamma12=g, channel=channel)
    kwargs.update(NEW[channel], t_max=4.0, n_points=21)
    sector = qbsd.simulate(**kwargs, method="sector")
    exact = qbsd.simulate(**kwargs, method="expm")
    assert sector.attrs["solver_method"] == "sector"
    _same(sector, exact, atol=1e-11)


@pytest.mark.parametrize("channel", list(NEW))
def test_sector_uses_the_graph_automorphisms(channel):
    solver = make_solver(_point(5, "symmetric", 2.0, 0.5, channel, **NEW[channel]))
    assert isinstance(solver, SectorSolver)
    assert solver.basis.generators  # the full permutation group of the complete graph
    assert solver.stats["reduced_dimension"] < solver.stats["full_dimension"] / 20


# ---------------------------------------------------------------------------
# A second route: QuTiP's own operators and its solver


def _qutip_run(geometry, J, gamma12, terms, times):
    """mesolve with QuTiP's own operators (|e> = basis(2, 0) there).

    ``terms``: ``(rate, jump, collective)`` with the Kossakowski matrix
    ``rate (I + gamma12 A)`` (collective) or ``rate I``, written out here from
    the model rather than read from the package's declaration.
    """
    n = geometry.n_cells
    eye = qutip.qeye(2)

    def on(op, k):
        return qutip.tensor([op if c == k else eye for c in range(n)])

    ops = {
        name: [on(op, k) for k in range(n)]
        for name, op in (
            ("sm", qutip.sigmam()),
            ("sp", qutip.sigmap()),
            ("sx", qutip.sigmax()),
            ("sy", qutip.sigmay()),
            ("sz", qutip.sigmaz()),
        )
    }
    h = 0 * on(eye, 0)
    for a, b in geometry.edges:
        h += J * (ops["sp"][a] * ops["sm"][b] + ops["sm"][a] * ops["sp"][b])
    c_ops = []
    for rate, name, collective in terms:
        matrix = np.eye(n) + (gamma12 * geometry.adjacency if collective else 0.0)
        lam, vec = np.linalg.eigh(rate * matrix)
        c_ops += [
            np.sqrt(lam[i]) * sum(vec[c, i] * ops[name][c] for c in range(n))
            for i in range(n)
            if lam[i] > 1e-14
        ]
    excited, ground = qutip.basis(2, 0), qutip.basis(2, 1)
    singles = {
        "full": qutip.ket2dm(excited),
        "classical": 0.75 * qutip.ket2dm(excited) + 0.25 * qutip.ket2dm(ground),
        "quantum": qutip.ket2dm((excited + ground).unit()),
    }
    number = sum(s * s.dag() for s in ops["sp"])
    options = {"atol": 1e-13, "rtol": 1e-11, "nsteps": 10**6}
    out = {}
    for state, one in singles.items():
        result = qutip.mesolve(h, qutip.tensor([one] * n), times, c_ops, options=options)
        rows = []
        for rho in result.states:
            full = rho.full()
            u = qutip.expect(number, rho)
            passive = np.sort(rho.eigenenergies())[::-1] @ np.sort(number.eigenenergies())
            coherence = (np.abs(full).sum() - np.abs(np.diag(full)).sum()) / (2**n - 1)
            conc = [qutip.concurrence(rho.ptrace([a, b])) for a, b in geometry.edges]
            pops = [qutip.expect(s * s.dag(), rho) for s in ops["sp"]]
            rows.append((u, u - passive, coherence, conc, pops))
        out[state] = rows
    return out


def _assert_matches_qutip(ds, expected):
    for state, rows in expected.items():
        for k, row in enumerate(rows):
            assert_observables_match(ds.sel(state=state).isel(time=k), *row)


# the channels of docs/model.md, written out (n_th = 0.4 as in NEW)
MODEL_TERMS = {
    "thermal": [(1.4, "sm", True), (0.4, "sp", True)],
    "depolarizing": [(0.25, "sx", True), (0.25, "sy", True), (0.25, "sz", True)],
}


QUTIP_CASES = [
    (n, geometry, J, g, channel)
    for n in (2, 3)
    for geometry in (("linear",) if n == 2 else NAMED_GEOMETRIES)  # N = 2: one link
    for J in (0.0, 2.0)
    for g in (0.0, 0.5)
    for channel in NEW
]


@pytest.mark.parametrize(("n", "geometry", "J", "g", "channel"), QUTIP_CASES)
def test_second_route_qutip_mesolve(n, geometry, J, g, channel):
    times = np.linspace(0.0, 2.0, 5)
    ds = qbsd.simulate(n, geometry, J, g, channel, t_max=2.0, n_points=5, **NEW[channel])
    geometry = Geometry.make(geometry, n)
    _assert_matches_qutip(ds, _qutip_run(geometry, J, g, MODEL_TERMS[channel], times))


# ---------------------------------------------------------------------------
# The Dicke basis: rates from the declaration, against piqs and the full space


def test_dicke_rates_from_the_declaration():
    point = _point(5, "symmetric", 2.0, 0.5, "thermal", n_th=0.4)
    expected = DickeRates(
        emission=0.7, collective_emission=0.7, pumping=0.2, collective_pumping=0.2
    )
    assert DickeRates.of(point).as_dict() == pytest.approx(expected.as_dict(), abs=1e-15)
    point = _point(5, "symmetric", 2.0, 0.5, "depolarizing")
    expected = DickeRates(
        emission=0.25,
        collective_emission=0.25,
        pumping=0.25,
        collective_pumping=0.25,
        dephasing=0.5,
        collective_dephasing=0.5,
    )
    assert DickeRates.of(point).as_dict() == pytest.approx(expected.as_dict(), abs=1e-15)


@pytest.mark.parametrize("n_cells", [1, 2, 3, 4, 5, 6])
def test_dicke_generator_with_pumping_is_the_piqs_lindbladian(n_cells):
    rates = DickeRates(
        emission=0.37,
        dephasing=0.55,
        collective_emission=0.21,
        collective_dephasing=0.13,
        pumping=0.29,
        collective_pumping=0.17,
    )
    assert_dicke_generator_is_piqs(n_cells, rates)


@pytest.mark.parametrize("channel", list(NEW))
def test_dicke_evolve_is_exp_of_the_generator(channel):
    import scipy.linalg
    import scipy.sparse as sp

    point = _point(9, "symmetric", 1.5, 0.3, channel, **NEW[channel])
    solver = PermutationalSolver(point, omega0=0.7)
    generator = (solver.generator + sp.diags(1j * solver.phase)).toarray()
    rng = np.random.default_rng(5)
    x = rng.normal(size=solver.basis.size) + 1j * rng.normal(size=solver.basis.size)
    x[: solver.basis.n0] = x[: solver.basis.n0].real
    for t in (0.01, 0.37, 2.0):
        exact = scipy.linalg.expm(generator * t) @ x
        np.testing.assert_allclose(solver.evolve(x, t), exact, rtol=0, atol=1e-11)


# N = 2, 3 against the exact propagator; N = 4..6 against the sector backend, which
# equals it to 1e-11 (test_sector_equals_expm) and is exact (Taylor steps at unit
# round-off) on the full space's invariant subspace
DICKE_CASES = (
    [
        (n, channel, J, g, "expm")
        for n in (2, 3)
        for channel in NEW
        for J, g in ((0.0, 0.0), (2.0, 0.0), (0.0, 0.5), (2.0, 0.5))
    ]
    + [(4, channel, J, g, "sector") for channel in NEW for J, g in ((0.0, 0.5), (2.0, 0.5))]
    + [(n, channel, 2.0, 0.5, "sector") for n in (5, 6) for channel in NEW]
)


@pytest.mark.parametrize(("n", "channel", "J", "g", "method"), DICKE_CASES)
def test_dicke_backend_equals_the_full_space(n, channel, J, g, method):
    kwargs = dict(n_cells=n, geometry="symmetric", J=J, gamma12=g, channel=channel)
    kwargs.update(NEW[channel], states=STATES, t_max=3.0, n_points=31)
    full = qbsd.simulate(method=method, **kwargs)
    dicke = qbsd.simulate(method="piqs", **kwargs)
    assert dicke.attrs["solver_method"] == "piqs"
    _same(full, dicke, atol=1e-8, names=SERIES + ("concurrence_mean",) + EVENTS)


@pytest.mark.parametrize("channel", list(NEW))
def test_dicke_uncoupled_cells_are_single_cells(channel):
    n = 12
    ds = qbsd.simulate(n, "symmetric", 0.0, 0.0, channel, t_max=3.0, n_points=16, **NEW[channel])
    assert ds.attrs["solver_method"] == "piqs"  # auto, large symmetric point
    for state in STATES:
        u, e, c = single_cell(channel, state, ds.time.values, **NEW[channel])
        one = ds.sel(state=state)
        np.testing.assert_allclose(one.energy, n * u, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(one.ergotropy, n * e, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(
            one.coherence, ((1 + c) ** n - 1) / (2**n - 1), rtol=1e-9, atol=1e-12
        )


# ---------------------------------------------------------------------------
# A new channel in a few lines


@pytest.fixture
def declared():
    """Two channels declared here and removed after the test."""
    added = [
        # correlated dephasing with weak local pumping: conserves q, permutation invariant
        Channel(
            "test_dephasing_pumped",
            (Term("sz", 0.5), Term("sp", 0.2, collective=False)),
            "correlated dephasing (Gamma/2)(I+g12 A) on sz, local pumping 0.2 Gamma",
        ),
        # collective bit flips: D[sx_n, sx_m] alone changes q by +-2
        Channel("test_bit_flip", (Term("sx", 0.5),), "bit flips (Gamma/2)(I+g12 A) on sx"),
    ]
    for channel in added:
        register_channel(channel)
    try:
        yield [c.name for c in added]
    finally:
        for channel in added:
            CHANNELS.pop(channel.name)


def test_new_channel_runs_through_every_backend(declared):
    conserving, flipping = declared
    times = np.linspace(0.0, 2.0, 5)
    kwargs = dict(J=2.0, gamma12=0.5, t_max=2.0, n_points=5)
    terms = [(0.5, "sz", True), (0.2, "sp", False)]
    for geometry in ("circular", "central"):
        point = Point(Geometry.make(geometry, 4), 2.0, 0.5, conserving)
        assert excitation_difference_violation(point) is None
        sector = make_solver(point)
        assert isinstance(sector, SectorSolver) and sector.basis.generators
        ds = _simulate(point, "auto", kwargs)
        _same(ds, _simulate(point, "expm", kwargs), atol=1e-12)
        _assert_matches_qutip(ds, _qutip_run(point.geometry, 2.0, 0.5, terms, times))
    # its ladder form is dephasing plus pumping: the Dicke backend has rates for it
    point = Point(Geometry.make("symmetric", 4), 2.0, 0.5, conserving)
    expected = DickeRates(dephasing=1.0, collective_dephasing=1.0, pumping=0.2)
    assert DickeRates.of(point).as_dict() == pytest.approx(expected.as_dict(), abs=1e-15)
    _same(_simulate(point, "piqs", kwargs), _simulate(point, "expm", kwargs), 1e-9)

    # the bit-flip channel changes q: the sector and Dicke backends refuse it by
    # capability, auto runs it on the full space, and it matches qutip
    point = Point(Geometry.make("symmetric", 3), 2.0, 0.5, flipping)
    assert "changes the excitation difference q by" in excitation_difference_violation(point)
    assert _q_changing_entries(liouvillian(point), 3).max() > 0.1
    with pytest.raises(ValueError, match="sector method needs .* conserves the excitation"):
        make_solver(point, method="sector")
    with pytest.raises(ValueError, match="emission, pumping and dephasing"):
        make_solver(point, method="piqs")
    solver = make_solver(point)
    assert isinstance(solver, FullSpaceSolver) and "q by" in solver.stats["fallback"]
    ds = _simulate(point, "auto", kwargs)
    assert ds.attrs["solver_method"] == "expm"
    _assert_matches_qutip(ds, _qutip_run(point.geometry, 2.0, 0.5, [(0.5, "sx", True)], times))


def _simulate(point, method, kwargs):
    return qbsd.simulate(
        point.n_cells, point.geometry.name, channel=point.channel, method=method, **kwargs
    )
