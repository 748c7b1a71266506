import numpy as np
import pytest

from qbsd.model.geometry import Geometry, canonical_geometry


@pytest.mark.parametrize(
    ("name", "n", "links"),
    [
        ("linear", 5, 4),
        ("circular", 5, 5),
        ("central", 5, 4),
        ("symmetric", 5, 10),
        ("linear", 1, 0),
        ("circular", 2, 1),
        ("symmetric", 2, 1),
    ],
)
def test_named_geometries_have_the_models_links(name, n, links):
    g = Geometry.make(name, n)
    assert len(g.edges) == links
    assert np.array_equal(g.adjacency, g.adjacency.T)
    assert g.adjacency.sum() == 2 * links


def test_central_hub_is_cell_zero():
    assert Geometry.make("central", 4).edges == ((0, 1), (0, 2), (0, 3))


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        ("central", 0.5),
        ("linear", 1 / np.sqrt(3)),
        ("circular", 2 / (1 + np.sqrt(5))),
        ("symmetric", 1.0),
    ],
)
def test_complete_positivity_bounds_for_five_cells(name, bound):
    assert Geometry.make(name, 5).gamma12_bound() == pytest.approx(bound, rel=1e-12)


def test_two_and_three_cell_isomorphisms():
    for name in ("linear", "circular", "central", "symmetric"):
        assert canonical_geometry(Geometry.make(name, 2))[0].name == "linear"
    assert canonical_geometry(Geometry.make("central", 3))[0].name == "linear"
    assert canonical_geometry(Geometry.make("symmetric", 3))[0].name == "circular"
    for name in ("linear", "circular", "central", "symmetric"):
        assert canonical_geometry(Geometry.make(name, 5))[0].name == name


def test_canonical_map_carries_edges_onto_edges():
    g = Geometry.make("central", 3)
    canonical, mapping = canonical_geometry(g)
    assert mapping[0] == 1  # the hub plays the middle of the chain
    images = {tuple(sorted((mapping[a], mapping[b]))) for a, b in g.edges}
    assert images == set(canonical.edges)


def test_isomorphic_custom_edge_sets_share_one_key():
    # a path 2-0-3-1 and a path 0-1-2-3 relabelled; a "paw" graph twice
    a = Geometry.make([(2, 0), (0, 3), (3, 1)], 4)
    assert canonical_geometry(a)[0].name == "linear"
    paw1 = Geometry.make([(0, 1), (1, 2), (2, 0), (2, 3)], 4)
    paw2 = Geometry.make([(3, 1), (1, 0), (0, 3), (0, 2)], 4)
    c1, m1 = canonical_geometry(paw1)
    c2, m2 = canonical_geometry(paw2)
    assert c1.name == "custom" and c1.edges == c2.edges
    for g, (c, m) in ((paw1, (c1, m1)), (paw2, (c2, m2))):
        assert {tuple(sorted((m[a], m[b]))) for a, b in g.edges} == set(c.edges)
    other = Geometry.make([(0, 1), (1, 2), (2, 0), (0, 3), (3, 1)], 4)  # diamond
    assert canonical_geometry(other)[0].edges != c1.edges


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([(0, 0)], "self-loop"),
        ([(0, 5)], "outside 0..3"),
        ([(0, 1), (1, 0)], "repeated"),
        ([(0, 1, 2)], "pair"),
        ([("a", 1)], "pair"),
    ],
)
def test_bad_custom_edges_are_named(edges, message):
    with pytest.raises(ValueError, match=message):
        Geometry.make(edges, 4)


def test_unknown_geometry_and_bad_cell_count():
    with pytest.raises(ValueError, match="geometry must be one of"):
        Geometry.make("ring", 3)
    with pytest.raises(ValueError, match="n_cells"):
        Geometry.make("linear", 0)
    with pytest.raises(ValueError, match="n_cells"):
        Geometry.make("linear", 2.5)
