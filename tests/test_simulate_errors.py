import pytest

import qbsd


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"geometry": "ring"}, "geometry must be one of"),
        ({"channel": "thermalisation"}, "channel must be one of"),
        ({"states": ["hot"]}, "unknown initial state 'hot'"),
        ({"states": []}, "states must name at least one"),
        ({"states": ["full", "full"]}, "must not repeat"),
        ({"n_cells": 0}, "n_cells must be an integer >= 1"),
        ({"n_cells": 2.0}, "n_cells must be an integer >= 1"),
        ({"t_max": 0.0}, "t_max must be a positive number"),
        ({"t_max": -1}, "t_max must be a positive number"),
        ({"n_points": 1}, "n_points must be an integer >= 2"),
        ({"n_points": 10.5}, "n_points must be an integer >= 2"),
        ({"rtol": 0.0}, "rtol must be a positive number"),
        ({"atol": -1e-3}, "atol must be a positive number"),
        ({"method": "euler"}, "method must be one of"),
        ({"n_cells": 16}, "GiB"),
        ({"geometry": "central", "n_cells": 5, "gamma12": 0.6}, "complete positivity"),
        ({"J": "2"}, "J must be a real number"),
        ({"geometry": [(0, 0)], "n_cells": 2}, "self-loop"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_argument(kwargs, message):
    arguments = {"n_cells": 2, "n_points": 3, "t_max": 0.1} | kwargs
    with pytest.raises(ValueError, match=message):
        qbsd.simulate(**arguments)


def test_point_on_the_cp_bound_is_accepted():
    ds = qbsd.simulate(5, "central", 2.0, 0.5, states=["quantum"], t_max=0.1, n_points=3)
    assert ds.sizes["time"] == 3
