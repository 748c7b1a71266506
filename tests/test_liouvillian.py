import numpy as np
import pytest
import qutip

from qbsd.model import Point, UnphysicalPointError
from qbsd.model.channels import PAPER_CHANNELS
from qbsd.model.geometry import Geometry
from qbsd.model.liouvillian import liouvillian, qutip_operators, to_qutip


@pytest.mark.parametrize("channel", list(PAPER_CHANNELS))
@pytest.mark.parametrize("geometry", ["linear", "central", "symmetric"])
def test_sparse_liouvillian_equals_qutips(channel, geometry):
    point = Point(Geometry.make(geometry, 3), 2.0, 0.5, channel)
    h, c_ops = qutip_operators(point, omega0=1.3)
    expected = qutip.liouvillian(h, c_ops).full()
    ours = to_qutip(liouvillian(point, omega0=1.3), 3).full()
    assert np.abs(ours - expected).max() < 1e-13


def test_single_cell_rates_match_the_model():
    # relaxation: rho_ee and rho_eg both decay at Gamma/2; amplitude damping:
    # rho_ee at Gamma, rho_eg at Gamma/2; phase damping: rho_eg at Gamma.
    expected = {
        "relaxation": (0.5, 0.5),
        "amplitude_damping": (1.0, 0.5),
        "phase_damping": (0.0, 1.0),
    }
    for channel, (pop_rate, coh_rate) in expected.items():
        lv = liouvillian(Point(Geometry.make("linear", 1), 0.0, 0.0, channel)).toarray()
        # row-major: index 3 = rho_ee, index 2 = rho_eg (|e> is basis index 1)
        assert lv[3, 3] == pytest.approx(-pop_rate)
        assert lv[2, 2] == pytest.approx(-coh_rate)


def test_trace_preservation():
    point = Point(Geometry.make("circular", 4), 2.0, 0.25, "relaxation")
    lv = liouvillian(point)
    d = 16
    trace_functional = np.eye(d).ravel()
    assert np.abs(trace_functional @ lv).max() < 1e-13


def test_cp_violation_names_everything():
    with pytest.raises(UnphysicalPointError) as err:
        Point(Geometry.make("central", 5), 2.0, 0.6, "relaxation")
    message = str(err.value)
    for part in ("relaxation", "central", "n_cells=5", "gamma12=0.6", "0.5"):
        assert part in message


def test_point_on_the_bound_is_accepted_and_has_a_dark_mode():
    point = Point(Geometry.make("central", 5), 2.0, 0.5, "relaxation")
    assert np.linalg.eigvalsh(point.kossakowski())[0] == pytest.approx(0.0, abs=1e-12)


def test_bad_channel_and_negative_rate():
    g = Geometry.make("linear", 2)
    with pytest.raises(ValueError, match="channel must be one of"):
        Point(g, 1.0, 0.0, "thermalisation")
    with pytest.raises(ValueError, match="gamma12"):
        Point(g, 1.0, -0.1, "relaxation")
