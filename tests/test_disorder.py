"""Static disorder: Hamiltonian, second route, drop-out of a uniform field, seeds,
backends, the realisation layout, statistics over realisations and bad input."""

import math

import numpy as np
import pytest
import qutip

import qbsd
from qbsd.disorder import (
    event_statistics,
    key_of,
    point_key,
    realisation_disorder,
    realisation_draws,
)
from qbsd.dynamics import PermutationalSolver, select_backend
from qbsd.model import Point
from qbsd.model.geometry import Geometry
from qbsd.realisations import concat_realisations
from qbsd.resources import memory_estimate, representative_point, runtime_factor
from qbsd.summaries import summarize_disorder

OBSERVABLES = ["energy", "ergotropy", "efficiency", "coherence", "population", "concurrence"]
SHORT = {"t_max": 3.0, "n_points": 31}


def per_state_variables(ds):
    return [name for name, var in ds.data_vars.items() if "state" in var.dims]


# ---- the clean point ------------------------------------------------------------------


def test_zero_disorder_is_the_clean_point():
    clean = qbsd.simulate(3, "linear", **SHORT)
    zero = qbsd.simulate(3, "linear", **SHORT, W=0.0, W_J=0.0, realisations=20)
    assert "realisation" not in zero.dims and "W" not in zero.coords
    assert set(zero.data_vars) == set(clean.data_vars)
    for name in clean.data_vars:
        np.testing.assert_allclose(zero[name], clean[name], atol=1e-12, rtol=0)
    assert zero.attrs["settings"] == clean.attrs["settings"]


# ---- a second route: QuTiP's own operators --------------------------------------------


def qutip_route(n, edges, couplings, detunings, gamma12, times, label):
    """Relaxation channel from qutip.sigmam/sigmaz (excited = basis(2, 0))."""

    def op(single, cell):
        return qutip.tensor([single if c == cell else qutip.qeye(2) for c in range(n)])

    sm = [op(qutip.sigmam(), c) for c in range(n)]
    sz = [op(qutip.sigmaz(), c) for c in range(n)]
    h = sum(d / 2 * sz[c] for c, d in enumerate(detunings))
    for (a, b), j in zip(edges, couplings, strict=True):
        h = h + j * (sm[a].dag() * sm[b] + sm[b].dag() * sm[a])
    adjacency = np.zeros((n, n))
    for a, b in edges:
        adjacency[a, b] = adjacency[b, a] = 1.0
    lam, vec = np.linalg.eigh(0.5 * (np.eye(n) + gamma12 * adjacency))
    c_ops = [np.sqrt(lam[k]) * sum(vec[c, k] * sm[c] for c in range(n)) for k in range(n)]
    c_ops += [np.sqrt(1 / 8) * sz[c] for c in range(n)]
    excited, ground = qutip.basis(2, 0), qutip.basis(2, 1)
    single = {
        "full": excited.proj(),
        "classical": 0.75 * excited.proj() + 0.25 * ground.proj(),
        "quantum": ((excited + ground).unit()).proj(),
    }[label]
    rho0 = qutip.tensor([single] * n)
    options = {"atol": 1e-12, "rtol": 1e-10, "nsteps": 10**6}
    states = qutip.mesolve(h, rho0, times, c_ops, options=options).states
    number = [(1 + s) / 2 for s in sz]
    h0_levels = np.sort(sum(number).eigenenergies())
    out = {"energy": [], "ergotropy": [], "population": [], "concurrence": []}
    for rho in states:
        u = sum(qutip.expect(x, rho) for x in number)
        r = np.sort(rho.eigenenergies())[::-1]
        out["energy"].append(u)
        out["ergotropy"].append(u - float(r @ h0_levels))
        out["population"].append([qutip.expect(x, rho) for x in number])
        out["concurrence"].append([qutip.concurrence(rho.ptrace([a, b])) for a, b in edges])
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("state", ["classical", "quantum"])
def test_explicit_disorder_matches_qutip_on_a_triangle(state):
    # a triangle is not bipartite: the sign of the fields relative to J shows
    detunings = [2.0, -1.0, 0.5]
    offsets = [0.6, -0.8, 0.2]
    ds = qbsd.simulate(
        3,
        "circular",
        2.0,
        0.3,
        states=[state],
        detunings=detunings,
        coupling_offsets=offsets,
        **SHORT,
    )
    edges = [(0, 1), (0, 2), (1, 2)]
    assert [f"{a}-{b}" for a, b in edges] == list(ds.link.values)
    ref = qutip_route(3, edges, 2.0 + np.asarray(offsets), detunings, 0.3, ds.time.values, state)
    one = ds.sel(state=state)
    np.testing.assert_allclose(one.energy, ref["energy"], atol=1e-7)
    np.testing.assert_allclose(one.ergotropy, ref["ergotropy"], atol=1e-7)
    np.testing.assert_allclose(one.population.T, ref["population"], atol=1e-7)
    np.testing.assert_allclose(one.concurrence.T, ref["concurrence"], atol=1e-6)
    np.testing.assert_allclose(ds.detuning, detunings)
    np.testing.assert_allclose(ds.coupling_offset, offsets)
    if state == "quantum":  # (a classical state barely feels the fields: no coherence)
        # and it is neither the clean battery nor the battery with the fields reversed
        clean = qbsd.simulate(3, "circular", 2.0, 0.3, states=[state], **SHORT)
        assert np.abs(one.ergotropy - clean.sel(state=state).ergotropy).max() > 1e-2
        flipped = qutip_route(
            3, edges, 2.0 + np.asarray(offsets), -np.asarray(detunings), 0.3, ds.time.values, state
        )
        assert np.abs(one.population.T.values - flipped["population"]).max() > 0.1


# ---- a uniform field drops out ---------------------------------------------------------


@pytest.mark.parametrize("base", [None, [0.7, -0.2, 0.05, 0.4]], ids=["clean", "disordered"])
def test_a_uniform_detuning_changes_no_stored_quantity(base):
    base = np.zeros(4) if base is None else np.asarray(base)
    kwargs = dict(n_cells=4, geometry="circular", J=2.0, gamma12=0.4, **SHORT)
    first = qbsd.simulate(**kwargs, detunings=base)
    shifted = qbsd.simulate(**kwargs, detunings=base + 1.3)
    names = [n for n in first.data_vars if n != "detuning"]
    assert set(names) >= {"ergotropy", "ergotropy_half_life", "concurrence", "coherence"}
    for name in names:
        np.testing.assert_allclose(shifted[name], first[name], atol=1e-10, rtol=0, err_msg=name)
    np.testing.assert_allclose(shifted.detuning - first.detuning, 1.3)


# ---- seeds --------------------------------------------------------------------------


def test_draws_are_pinned_to_the_point_and_the_realisation():
    key = point_key("relaxation", 3, [(1, 2), (0, 1)], 2, 0.5)
    assert format(key, "x") == "b53a4cc315f9e87d0c92592ed87e7169"
    cells, links = realisation_draws(key, 0, 3, 2)
    np.testing.assert_allclose(cells, [0.23137811, -0.29738988, -0.3778234], atol=1e-8)
    np.testing.assert_allclose(links, [-0.32640154, 0.07961712], atol=1e-8)
    cells7, _ = realisation_draws(key, 7, 3, 2)
    np.testing.assert_allclose(cells7, [-0.34698072, 0.42037694, 0.11965407], atol=1e-8)
    # every uniform in [-1/2, 1/2), cells first: the link count does not move them
    many, _ = realisation_draws(key, 3, 3, 40)
    np.testing.assert_array_equal(many, realisation_draws(key, 3, 3, 0)[0])
    point = Point(Geometry.make("linear", 3), 2.0, 0.5, "relaxation")
    assert key_of(point) == key
    for other in (
        point_key("relaxation", 3, [(0, 1), (1, 2)], 2.0, 0.6),
        point_key("amplitude_damping", 3, [(0, 1), (1, 2)], 2.0, 0.5),
        point_key("relaxation", 3, [(0, 1), (0, 2)], 2.0, 0.5),
        point_key("thermal", 3, [(0, 1), (1, 2)], 2.0, 0.5, {"n_th": 0.1}),
    ):
        assert other != key


def test_common_random_numbers_across_strengths():
    key = point_key("relaxation", 4, [(0, 1), (1, 2), (2, 3)], 2.0, 0.5)
    d1, u1 = realisation_disorder(key, 5, 4, 3, 1.0, 0.5)
    d3, u3 = realisation_disorder(key, 5, 4, 3, 3.0, 2.0)
    np.testing.assert_allclose(np.asarray(d3), 3 * np.asarray(d1))
    np.testing.assert_allclose(np.asarray(u3), 4 * np.asarray(u1))
    assert all(abs(d) <= 0.5 for d in d1) and all(abs(u) <= 0.25 for u in u1)
    assert realisation_disorder(key, 5, 4, 3, 1.0, 0.0)[1] == ()


def test_realisations_extend_split_and_join():
    kwargs = dict(n_cells=3, geometry="linear", states=["quantum"], W=2.0, W_J=0.5, **SHORT)
    four = qbsd.simulate(**kwargs, realisations=4)
    # another point in between changes nothing
    qbsd.simulate(3, "circular", states=["quantum"], W=1.0, realisations=3, **SHORT)
    two = qbsd.simulate(**kwargs, realisations=2)
    late = qbsd.simulate(**kwargs, realisation_indices=[3, 2])
    np.testing.assert_array_equal(four.realisation, [0, 1, 2, 3])
    np.testing.assert_array_equal(late.realisation, [2, 3])
    for name in [*per_state_variables(four), "detuning", "coupling_offset"]:
        if name.endswith("_avg"):
            continue
        np.testing.assert_array_equal(two[name], four[name].sel(realisation=[0, 1]), name)
        np.testing.assert_array_equal(late[name], four[name].sel(realisation=[2, 3]), name)
    joined = concat_realisations([late, two])
    np.testing.assert_array_equal(joined.realisation, [0, 1, 2, 3])
    assert set(joined.data_vars) == set(four.data_vars)
    for name in four.data_vars:
        np.testing.assert_allclose(joined[name], four[name], atol=1e-15, rtol=0, err_msg=name)
    assert joined.attrs["health_ok"] == four.attrs["health_ok"]
    with pytest.raises(ValueError, match=r"realisation indices \[2, 3\] appear in more"):
        concat_realisations([four, late])
    other = qbsd.simulate(**{**kwargs, "W": 1.0}, realisation_indices=[5])
    with pytest.raises(ValueError, match="differ in W"):
        concat_realisations([four, other])
    with pytest.raises(ValueError, match="not a disordered point"):
        concat_realisations([qbsd.simulate(3, states=["quantum"], **SHORT)])


# ---- the realisation layout -------------------------------------------------------------


def test_realisation_layout_units_and_averages(tmp_path):
    ds = qbsd.simulate(3, "linear", W=1.5, realisations=3, **SHORT)
    assert ds["ergotropy"].dims == ("realisation", "state", "time")
    assert ds["population"].dims == ("realisation", "state", "cell", "time")
    assert ds["ergotropy_half_life"].dims == ("realisation", "state")
    assert ds["ergotropy_avg"].dims == ("state", "time")
    assert ds["detuning"].dims == ("realisation", "cell")
    assert ds["coupling_offset"].dims == ("realisation", "link")
    np.testing.assert_allclose(ds["coupling_offset"], 0.0)  # W_J = 0
    assert float(ds.W) == 1.5 and float(ds.W_J) == 0.0
    assert ds.W.attrs["units"] == ds.W_J.attrs["units"] == "Gamma"
    assert ds.realisation.dtype.kind == "i"
    for name in ("energy", "ergotropy", "efficiency", "coherence", "population", "concurrence"):
        avg = ds[f"{name}_avg"]
        np.testing.assert_allclose(avg, ds[name].mean("realisation"), atol=1e-15)
        assert avg.attrs["units"] == ds[name].attrs["units"]
        assert avg.attrs["long_name"] == "realisation average of " + ds[name].attrs["long_name"]
    for name in ("detuning", "coupling_offset", "ergotropy_avg"):
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"]
    # the realisations differ, and each is a physical trajectory
    assert float(ds.ergotropy.std("realisation").max()) > 1e-3
    assert ds.attrs["health_ok"] == 1
    path = qbsd.write_netcdf(ds, tmp_path / "point.nc")
    back = qbsd.dataset.read_netcdf(path)
    np.testing.assert_array_equal(back.ergotropy, ds.ergotropy)
    np.testing.assert_array_equal(back.realisation, ds.realisation)


# ---- backends --------------------------------------------------------------------------


def test_sector_backend_under_disorder_equals_the_full_space():
    kwargs = dict(n_cells=4, geometry="circular", gamma12=0.4, W=1.5, W_J=0.8, realisations=2)
    sector = qbsd.simulate(**kwargs, **SHORT, method="sector")
    full = qbsd.simulate(**kwargs, **SHORT, method="expm")
    assert '"symmetry_generators": "[]"' in sector.attrs["solver_stats"]
    for name in OBSERVABLES:
        np.testing.assert_allclose(sector[name], full[name], atol=1e-10, rtol=0, err_msg=name)
    np.testing.assert_allclose(
        sector.ergotropy_half_life, full.ergotropy_half_life, rtol=1e-9, atol=0
    )


def test_symmetries_kept_only_where_the_disorder_allows():
    ring = Geometry.make("circular", 4)
    rotation, reflection = (1, 2, 3, 0), (0, 3, 2, 1)
    uniform = Point(ring, 2.0, 0.5, "relaxation", detunings=[0.3] * 4)
    mirrored = Point(ring, 2.0, 0.5, "relaxation", detunings=[0.5, 0.1, 0.2, 0.1])
    assert uniform.preserves(rotation) and uniform.preserves(reflection)
    assert not mirrored.preserves(rotation) and mirrored.preserves(reflection)
    # edges (0,1), (0,3), (1,2), (2,3): reflection maps (0,1) <-> (0,3), (1,2) <-> (2,3)
    coupled = Point(ring, 2.0, 0.5, "relaxation", coupling_offsets=[0.2, 0.2, -0.1, -0.1])
    assert coupled.preserves(reflection) and not coupled.preserves(rotation)
    ds = qbsd.simulate(4, "circular", detunings=[0.5, 0.1, 0.2, 0.1], states=["quantum"], **SHORT)
    full = qbsd.simulate(
        4, "circular", detunings=[0.5, 0.1, 0.2, 0.1], states=["quantum"], **SHORT, method="expm"
    )
    assert '"symmetry_generators": "[(0, 3, 2, 1)]"' in ds.attrs["solver_stats"]
    np.testing.assert_allclose(ds.ergotropy, full.ergotropy, atol=1e-10)


def test_dicke_backend_refuses_disorder():
    with pytest.raises(ValueError, match="takes no disorder.*not permutation-invariant"):
        qbsd.simulate(4, "symmetric", W=1.0, realisations=2, method="piqs", **SHORT)
    with pytest.raises(ValueError, match="takes no disorder"):
        qbsd.simulate(3, "symmetric", detunings=[0.1, 0.2, 0.3], method="piqs", **SHORT)
    big = Point(Geometry.make("symmetric", 12), 2.0, 0.5, "relaxation")
    assert select_backend(big)[0] is PermutationalSolver
    disordered = Point(big.geometry, 2.0, 0.5, "relaxation", detunings=[0.1] + [0.0] * 11)
    assert "takes no disorder" in PermutationalSolver.supports(disordered)
    assert select_backend(disordered)[0] is not PermutationalSolver


def test_resource_estimates_count_realisations():
    six = representative_point(6, "symmetric")
    clean = memory_estimate(six)
    one = memory_estimate(six, disordered=True, realisations=1)
    many = memory_estimate(six, disordered=True, realisations=1001)
    assert clean < one < many
    per = (many - one) / 1000
    assert per == pytest.approx(3 * 8 * (12 + 6 + 15) * 3 * 1001, rel=1e-6)
    # large symmetric points leave the Dicke backend when disordered
    twelve = representative_point(12, "symmetric")
    assert memory_estimate(twelve, disordered=True) > memory_estimate(twelve)
    assert runtime_factor(5, "linear", realisations=50) == 50
    assert runtime_factor(5, "circular", realisations=50, disordered=True) == pytest.approx(250)
    assert runtime_factor(5, None, realisations=7, disordered=True) == 7


# ---- statistics over realisations ---------------------------------------------------


def test_event_statistics_on_a_censored_table():
    nan = math.nan
    times = [3.0, nan, 1.0, 4.0, nan, 2.0, nan]
    censored = [False, True, False, False, True, False, False]  # the last is undefined
    stats = event_statistics(times, censored)
    # reached 1, 2, 3, 4; ranked with the censored: 1, 2, 3, 4, inf, inf (n = 6)
    assert stats["n_censored"] == 2 and stats["n_reached"] == 4
    assert stats["mean"] == pytest.approx(2.5)
    assert stats["std"] == pytest.approx(math.sqrt(5 / 3))
    assert stats["median"] == pytest.approx(3.5)  # position 2.5: between 3 and 4
    assert stats["q10"] == pytest.approx(1.5)  # position 0.5: between 1 and 2
    assert math.isnan(stats["q90"])  # position 4.5: among the censored
    # every NaN censored when no flags are given; a quantile on a censored value
    stats = event_statistics([2.0, nan, 1.0, nan])  # ranked 1, 2, inf, inf
    assert stats["n_censored"] == 2
    assert stats["std"] == pytest.approx(math.sqrt(0.5))
    assert math.isnan(stats["median"])  # position 1.5: between 2 and a censored one
    assert stats["q10"] == pytest.approx(1.3)  # position 0.3
    everything = event_statistics([nan, nan], [True, True])
    assert everything["n_censored"] == 2
    assert all(math.isnan(everything[k]) for k in ("mean", "std", "median", "q10", "q90"))
    none_due = event_statistics([nan, nan], [False, False])
    assert none_due["n_censored"] == 0 and math.isnan(none_due["median"])
    # without censoring: numpy's own statistics
    rng = np.random.default_rng(1)
    x = rng.exponential(size=37)
    stats = event_statistics(x)
    assert stats["median"] == pytest.approx(np.median(x))
    assert stats["q10"] == pytest.approx(np.quantile(x, 0.1))
    assert stats["q90"] == pytest.approx(np.quantile(x, 0.9))
    assert stats["std"] == pytest.approx(np.std(x, ddof=1))


def test_quantile_exactly_on_the_last_reached_value():
    # ranked 1, 2, 3, 4, inf: q90 sits at position 3.6, q10 at 0.4; median exactly at 3
    stats = event_statistics([4.0, 1.0, math.nan, 3.0, 2.0])
    assert stats["median"] == 3.0
    assert math.isnan(stats["q90"])
    assert stats["q10"] == pytest.approx(1.4)


def test_summarize_disorder_counts_censored_realisations():
    # pure dephasing keeps the classical state's ergotropy: its half-life is censored
    ds = qbsd.simulate(
        3,
        "linear",
        channel="phase_damping",
        states=["full", "classical", "quantum"],
        W=1.0,
        realisations=5,
        t_max=4.0,
        n_points=41,
    )
    table = summarize_disorder(ds).set_index("state")
    assert (table["n_realisations"] == 5).all()
    assert table.loc["classical", "ergotropy_half_life_n_censored"] == 5
    for key in ("mean", "std", "median", "q10", "q90"):
        assert math.isnan(table.loc["classical", f"ergotropy_half_life_{key}"])
    # the quantum state's coherence halves in every realisation
    times = ds.coherence_half_life.sel(state="quantum").values
    assert np.isfinite(times).all()
    row = table.loc["quantum"]
    assert row["coherence_half_life_n_censored"] == 0
    assert row["coherence_half_life_mean"] == pytest.approx(times.mean())
    assert row["coherence_half_life_median"] == pytest.approx(np.median(times))
    # |e>^N has no coherence to halve: undefined, not censored
    assert table.loc["full", "coherence_half_life_n_censored"] == 0
    assert math.isnan(table.loc["full", "coherence_half_life_median"])
    assert float(table.loc["full", "W"]) == 1.0
    with pytest.raises(ValueError, match="disordered trajectory"):
        summarize_disorder(qbsd.simulate(2, **SHORT))
    with pytest.raises(ValueError, match="use summarize_disorder"):
        qbsd.summarize(ds)


# ---- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"W": -1.0, "realisations": 2}, r"W must be a finite number >= 0 .*-1\.0"),
        ({"W": math.nan, "realisations": 2}, "W must be a finite number >= 0"),
        ({"W": "1", "realisations": 2}, "W must be a real number"),
        ({"W_J": -0.5, "realisations": 2}, "W_J must be a finite number >= 0"),
        ({"W_J": math.inf, "realisations": 2}, "W_J must be a finite number >= 0"),
        ({"W": 1.0, "realisations": 0}, "realisations must be an integer >= 1, got 0"),
        ({"W": 1.0, "realisations": 2.5}, "realisations must be an integer >= 1, got 2.5"),
        ({"W": 1.0, "realisations": True}, "realisations must be an integer >= 1"),
        ({"W": 0.0, "realisations": -3}, "realisations must be an integer >= 1"),
        ({"W": 1.0}, "realisations is required when W > 0 or W_J > 0"),
        ({"W_J": 1.0}, "realisations is required"),
        ({"W": 1.0, "realisation_indices": [1, 1]}, "realisation_indices must not repeat"),
        ({"W": 1.0, "realisation_indices": [-1]}, "realisation_indices must hold integers >= 0"),
        ({"W": 1.0, "realisation_indices": []}, "realisation_indices must name at least one"),
        ({"W": 1.0, "realisations": 2, "realisation_indices": [0]}, "not both"),
        ({"realisation_indices": [0]}, "realisation_indices need W > 0 or W_J > 0"),
        ({"detunings": [0.1, 0.2]}, r"detunings must have one value per cell \(3 .*got 2"),
        ({"detunings": [0.1, 0.2, math.nan]}, "detunings must hold finite numbers"),
        ({"detunings": 0.5}, "detunings must be a sequence of 3 real numbers"),
        ({"coupling_offsets": [0.1]}, r"coupling_offsets must have one value per link \(2 "),
        ({"detunings": [0.1, 0.2, 0.3], "W": 1.0}, "explicit realisation"),
        ({"detunings": [0.1, 0.2, 0.3], "realisations": 4}, "explicit realisation"),
    ],
)
def test_bad_disorder_arguments_raise_value_errors_naming_them(kwargs, message):
    arguments = {"n_cells": 3, "n_points": 3, "t_max": 0.1} | kwargs
    with pytest.raises(ValueError, match=message):
        qbsd.simulate(**arguments)


def test_point_rejects_disorder_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"detunings must have one value per cell \(2 "):
        Point(Geometry.make("linear", 2), 2.0, 0.5, "relaxation", detunings=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="coupling_offsets must hold real numbers"):
        Point(Geometry.make("linear", 2), 2.0, 0.5, "relaxation", coupling_offsets=["a"])
