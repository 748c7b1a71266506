"""Grid expansion into labels, distinct points, stable paths, and the cell/link maps."""

from __future__ import annotations

import numpy as np
import pytest

import qbsd
from qbsd.config import load_study
from qbsd.model.geometry import Geometry
from qbsd.points import (
    Label,
    assign,
    format_number,
    grid_labels,
    normalise,
    paper_labels,
)

FOUR = ["central", "linear", "circular", "symmetric"]


def study(**grid):
    config = {
        "grid": {"channel": ["relaxation"], **grid},
        "paper_figures": False,
        "unphysical": "skip",
    }
    return load_study(config)


# --------------------------------------------------------------------------
# numbers and paths


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2.0, "2"),
        (0.5, "0.5"),
        (0.30000000000000004, "0.3"),
        (0.1 + 0.2, "0.3"),
        (1e-7, "1e-07"),
        (-0.0, "0"),
        (-1.5, "-1.5"),
        (1 / 3, "0.3333333333"),
    ],
)
def test_format_number_is_short_and_stable(value, text):
    assert format_number(value) == text
    assert normalise(value) == float(text)


def test_paths_are_readable_and_derived_from_the_point_only():
    a = assign(Label("relaxation", 5, "central", 2.0, 0.5), Geometry.make("central", 5))
    assert a.point.path == "results/trajectories/relaxation/N5/central/J2_g0.5.nc"
    assert a.point.id == "relaxation/N5/central/J2_g0.5"
    # adding other grid values does not move an existing point
    small = study(n_cells=[5], geometry=["central"], J=[2.0], gamma12=[0.5])
    large = study(n_cells=[4, 5], geometry=FOUR, J=[0.0, 2.0], gamma12=[0.25, 0.5])
    assert set(small.points) <= set(large.points)
    for path in large.trajectory_paths():
        assert "0000000" not in path and path.endswith(".nc")


def test_collapsed_point_families_have_their_own_directories():
    single = assign(Label("phase_damping", 1, "circular", 2.0, 0.5), Geometry.make("circular", 1))
    assert single.point.path == "results/trajectories/phase_damping/N1/single/J0_g0.nc"
    free = assign(Label("relaxation", 4, "central", 0.0, 0.0), Geometry.make("central", 4))
    assert free.point.path == "results/trajectories/relaxation/N4/uncoupled/J0_g0.nc"


# --------------------------------------------------------------------------
# distinct points, counted by hand


def test_distinct_points_counted_by_hand():
    # 3 N x 4 geometries x 2 J x 2 gamma12 = 48 labels, one channel.
    s = study(n_cells=[1, 2, 3], geometry=FOUR, J=[0.0, 2.0], gamma12=[0.0, 0.5])
    assert len(s.assignments) == 48
    # N = 1: one point for all 16 labels.
    # N = 2: every geometry is the single link: uncoupled + 3 coupled (J, g) = 4.
    # N = 3: uncoupled + 3 coupled (J, g) x {path (central = linear),
    #        triangle (circular = symmetric)} = 7.
    assert len(s.points) == 1 + 4 + 7
    by_n = {n: sum(p.n_cells == n for p in s.points.values()) for n in (1, 2, 3)}
    assert by_n == {1: 1, 2: 4, 3: 7}
    assert "relaxation/N3/linear/J2_g0.5" in s.points
    assert "relaxation/N3/circular/J2_g0.5" in s.points
    assert "relaxation/N3/central/J2_g0.5" not in s.points  # served by linear


def test_distinct_points_of_five_cells_and_the_paper_points():
    # N = 5: the four geometries are pairwise non-isomorphic; J = 0 with g = 0 is one point.
    s = study(n_cells=[5], geometry=FOUR, J=[0.0, 2.0], gamma12=[0.0, 0.5])
    assert len(s.assignments) == 16
    assert len(s.points) == 1 + 3 * 4
    paper = load_study({"grid": {"channel": ["relaxation"], "n_cells": [1]}})
    assert len(paper_labels()) == 9
    assert {a.label for a in paper.assignments if a.paper} == set(paper_labels())
    # the paper's points join the grid's labels, sharing what the grid has
    ids = {a.point.id for a in paper.assignments if a.paper}
    assert "relaxation/N5/central/J2_g0.5" in ids  # on the positivity bound: allowed
    assert "phase_damping/N1/single/J0_g0" in ids


def test_unphysical_labels_are_skipped_with_the_bound():
    s = study(n_cells=[6], geometry=["central", "circular"], J=[2.0], gamma12=[0.5])
    assert [a.label.geometry for a in s.assignments] == ["circular"]  # exactly on its bound
    ((label, reason),) = s.skipped
    assert label.geometry == "central" and label.n_cells == 6
    assert "complete positivity" in reason and "0.447214" in reason


def test_grid_labels_keep_custom_geometries_at_their_own_size():
    grid = {
        "channel": ["relaxation"],
        "n_cells": [3, 4],
        "geometry": ["linear", "paw"],
        "J": [1.0],
        "gamma12": [0.0],
    }
    labels = grid_labels(grid, {"paw": 4})
    assert [(lab.n_cells, lab.geometry) for lab in labels] == [
        (3, "linear"),
        (4, "linear"),
        (4, "paw"),
    ]


# --------------------------------------------------------------------------
# canonical points and the maps back


def test_isomorphic_custom_geometries_share_a_point():
    config = {
        "grid": {
            "channel": ["relaxation"],
            "n_cells": [4],
            "geometry": ["central", "star", "paw", "paw2"],
            "J": [2.0],
            "gamma12": [0.25],
        },
        "custom_geometries": {
            "star": [[3, 0], [3, 1], [3, 2]],  # hub 3: the central geometry
            "paw": [[0, 1], [1, 2], [2, 0], [2, 3]],  # triangle with a pendant
            "paw2": {"n_cells": 4, "edges": [[3, 1], [1, 0], [0, 3], [0, 2]]},  # relabelled
        },
        "paper_figures": False,
    }
    s = load_study(config)
    by_geometry = {a.label.geometry: a for a in s.assignments}
    assert by_geometry["star"].point == by_geometry["central"].point
    assert by_geometry["star"].cell_map[3] == 0  # the hub plays the hub
    assert by_geometry["central"].cell_map == (0, 1, 2, 3)
    assert by_geometry["paw"].point == by_geometry["paw2"].point
    assert by_geometry["paw"].point.directory.startswith("custom-")
    assert len(s.points) == 2


def _maps_reproduce_direct_simulation(label_geometry: Geometry, J: float, gamma12: float):
    label = Label("relaxation", label_geometry.n_cells, "custom", J, gamma12)
    a = assign(label, label_geometry)
    kwargs = {"states": ["full", "quantum"], "t_max": 2.0, "n_points": 41}
    direct = qbsd.simulate(label_geometry.n_cells, label_geometry, J, gamma12, **kwargs)
    shared = qbsd.simulate(**a.point.simulate_kwargs(), **kwargs)
    np.testing.assert_allclose(
        a.take(shared["population"].values, "cell", position=1),
        direct["population"].values,
        atol=1e-9,
    )
    np.testing.assert_allclose(
        a.take(shared["concurrence"].values, "link", position=1),
        direct["concurrence"].values,
        atol=1e-9,
    )
    for name in ("energy", "ergotropy", "coherence"):
        np.testing.assert_allclose(shared[name].values, direct[name].values, atol=1e-9)
    return a


def test_cell_and_link_maps_of_an_asymmetric_graph():
    # a paw whose pendant hangs off cell 0: every cell plays a different role
    paw = Geometry.make([[1, 2], [2, 3], [3, 1], [0, 1]], 4)
    a = _maps_reproduce_direct_simulation(paw, 2.0, 0.3)
    assert a.point.geometry.edges != paw.edges


def test_cell_and_link_maps_of_a_relabelled_star():
    star = Geometry.make([[2, 0], [2, 1], [2, 3]], 4)  # hub 2
    a = _maps_reproduce_direct_simulation(star, 1.0, 0.25)
    assert a.point.directory == "central" and a.cell_map[2] == 0


def test_uncoupled_labels_use_the_all_to_all_point():
    chain = Geometry.make("linear", 3)
    a = _maps_reproduce_direct_simulation(chain, 0.0, 0.0)
    assert a.point.directory == "uncoupled"
    assert a.link_map == (0, 2)  # (0,1) and (1,2) among (0,1), (0,2), (1,2)


def test_single_cell_ignores_geometry_and_couplings():
    label = Label("amplitude_damping", 1, "symmetric", 2.0, 0.5)
    a = assign(label, Geometry.make("symmetric", 1))
    kwargs = {"states": ["classical"], "t_max": 2.0, "n_points": 21}
    direct = qbsd.simulate(1, "symmetric", 2.0, 0.5, "amplitude_damping", **kwargs)
    shared = qbsd.simulate(**a.point.simulate_kwargs(), **kwargs)
    np.testing.assert_allclose(shared["ergotropy"].values, direct["ergotropy"].values, atol=1e-12)


def test_manifest_rows_hold_the_maps():
    s = study(n_cells=[3], geometry=["central", "linear"], J=[2.0], gamma12=[0.5])
    rows = {r["geometry"]: r for r in s.manifest_rows()}
    assert rows["central"]["trajectory"] == rows["linear"]["trajectory"]
    assert rows["central"]["trajectory"] == "trajectories/relaxation/N3/linear/J2_g0.5.nc"
    assert rows["central"]["links"] == "0-1 0-2"
    assert rows["linear"]["cell_map"] == "0 1 2"
    # central's hub 0 is the middle cell 1 of the chain
    assert rows["central"]["cell_map"].split()[0] == "1"


# --------------------------------------------------------------------------
# the large-N symmetric battery (config key large_n)


def test_large_n_labels_and_paths():
    config = {
        "grid": {"channel": ["relaxation"], "n_cells": [1, 2, 3], "geometry": ["symmetric"]},
        "paper_figures": False,
        "large_n": {
            "n_cells": [10, 100],
            "J": [0.0, 2.0],
            "gamma12": [0.0, 0.5],
            "channel": ["relaxation", "phase_damping"],
        },
    }
    s = load_study(config)
    large = [a for a in s.assignments if a.large_n]
    assert len(large) == 2 * 2 * 2 * 2
    assert not any(a.large_n for a in s.assignments if a.label.n_cells <= 3)
    # config order: channel, n_cells, J, gamma12 (the grid's order), after the grid's labels
    assert large[0].label == Label("relaxation", 10, "symmetric", 0.0, 0.0)
    assert large[-1].label == Label("phase_damping", 100, "symmetric", 2.0, 0.5)
    assert s.assignments[: len(s.assignments) - len(large)] == [
        a for a in s.assignments if not a.large_n
    ]
    paths = {str(a.label): a.point.path for a in large}
    assert paths[str(Label("relaxation", 100, "symmetric", 2.0, 0.5))] == (
        "results/trajectories/relaxation/N100/symmetric/J2_g0.5.nc"
    )
    assert paths[str(Label("phase_damping", 10, "symmetric", 2.0, 0.0))] == (
        "results/trajectories/phase_damping/N10/symmetric/J2_g0.nc"
    )
    # J = gamma12 = 0 is the uncoupled point (on the all-to-all graph, as at small N)
    assert paths[str(Label("relaxation", 100, "symmetric", 0.0, 0.0))] == (
        "results/trajectories/relaxation/N100/uncoupled/J0_g0.nc"
    )
    # one point per label; the all-to-all graph keeps every cell and link in place
    assert len({a.point.id for a in large}) == len(large)
    a = next(a for a in large if a.label.n_cells == 100 and a.label.J == 2.0)
    assert a.point.geometry.name == "symmetric" and len(a.point.geometry.edges) == 4950
    assert a.cell_map == tuple(range(100)) and a.link_map == tuple(range(4950))
    assert s.large_n_channels() == ["relaxation", "phase_damping"]
    rows = [r for r in s.manifest_rows() if r["n_cells"] == 100 and r["J"] == 2.0]
    assert {r["trajectory"] for r in rows} == {
        "trajectories/relaxation/N100/symmetric/J2_g0.5.nc",
        "trajectories/relaxation/N100/symmetric/J2_g0.nc",
        "trajectories/phase_damping/N100/symmetric/J2_g0.5.nc",
        "trajectories/phase_damping/N100/symmetric/J2_g0.nc",
    }


def test_large_n_labels_on_the_grid_are_one_label_and_one_point():
    """A large_n label the grid also asks for is listed once (flagged large_n)."""
    config = {
        "grid": {"channel": ["relaxation"], "n_cells": [10], "geometry": ["symmetric"]},
        "paper_figures": False,
        "large_n": {"n_cells": [10], "J": [2.0], "gamma12": [0.5], "channel": ["relaxation"]},
    }
    s = load_study(config)
    labels = [a.label for a in s.assignments]
    assert len(labels) == len(set(labels)) == 3 * 3
    (shared,) = [a for a in s.assignments if a.large_n]
    assert shared.label == Label("relaxation", 10, "symmetric", 2.0, 0.5)
    assert s.point_settings(shared.point)["method"] == "auto"  # auto picks piqs above N = 8
