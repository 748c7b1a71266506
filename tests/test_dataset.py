import os

import numpy as np
import pytest
import xarray as xr

import qbsd
from qbsd.dataset import write_netcdf

CONTRACT = {
    "energy": ("state", "time"),
    "ergotropy": ("state", "time"),
    "efficiency": ("state", "time"),
    "coherence": ("state", "time"),
    "concurrence": ("state", "link", "time"),
    "concurrence_mean": ("state", "time"),
    "population": ("state", "cell", "time"),
}


@pytest.fixture(scope="module")
def ds():
    return qbsd.simulate(
        3,
        "central",
        2.0,
        0.5,
        "relaxation",
        states=["classical", "quantum"],
        t_max=2.0,
        n_points=21,
    )


def test_contract_layout(ds):
    for name, dims in CONTRACT.items():
        assert ds[name].dims == dims
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"]
    assert list(ds.state.values) == ["classical", "quantum"]
    assert list(ds.link.values) == ["0-1", "0-2"]
    assert list(ds.cell.values) == [0, 1, 2]
    assert ds.time.attrs["units"] == "1/Gamma"
    for key, value in (
        ("n_cells", 3),
        ("geometry", "central"),
        ("J", 2.0),
        ("gamma12", 0.5),
        ("channel", "relaxation"),
    ):
        assert ds[key].values == value
    assert ds.attrs["solver_rtol"] == 1e-8 and ds.attrs["solver_atol"] == 1e-10
    assert "qutip" in ds.attrs["versions"] and "numpy" in ds.attrs["versions"]
    np.testing.assert_allclose(ds.time.values, np.linspace(0, 2, 21))


def test_single_cell_has_empty_links_and_undefined_link_mean():
    one = qbsd.simulate(1, n_points=5, t_max=1.0)
    assert one.sizes["link"] == 0
    assert np.all(np.isnan(one.concurrence_mean))


def test_round_trip_is_equal_and_compressed(ds, tmp_path):
    path = write_netcdf(ds, tmp_path / "sub" / "point.nc")
    assert sorted(os.listdir(path.parent)) == ["point.nc"]  # no temporary left behind
    back = xr.load_dataset(path)
    xr.testing.assert_allclose(back, ds)
    assert back.attrs == ds.attrs
    with xr.open_dataset(path) as lazy:
        assert lazy["ergotropy"].encoding["zlib"]


def test_failed_write_leaves_nothing(ds, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(OSError):
        write_netcdf(ds, tmp_path / "point.nc")
    assert os.listdir(tmp_path) == []


def test_summary_rows(ds):
    frame = qbsd.summarize(ds)
    assert list(frame.state) == ["classical", "quantum"]
    for column in (
        "channel",
        "n_cells",
        "geometry",
        "J",
        "gamma12",
        "ergotropy_half_life",
        "energy_half_life",
        "sudden_death_time",
        "xi0",
        "final_ergotropy_fraction",
        "ergotropy_half_life_censored",
        "coherence_half_life",
        "concurrence_mean_peak",
        "entanglement_birth_time",
    ):
        assert column in frame
    assert frame.loc[0, "xi0"] == pytest.approx(2 / 3)
    assert frame.loc[0, "dead_energy_per_cell"] == pytest.approx(0.25)
    assert frame.loc[1, "dead_energy_per_cell"] == pytest.approx(0.0, abs=1e-12)
    assert bool(frame.health_ok.all())


def test_numerical_health_is_recorded_and_a_loose_tolerance_trips_it():
    tight = qbsd.simulate(5, "linear", 2.0, 0.5, states=["quantum"], t_max=3.0, n_points=31)
    assert tight.attrs["health_ok"] == 1
    assert float(tight.max_trace_error[0]) < 1e-8
    loose = qbsd.simulate(
        5,
        "linear",
        2.0,
        0.5,
        states=["quantum"],
        t_max=3.0,
        n_points=31,
        rtol=1e-2,
        atol=1e-2,
        method="adams",
    )
    assert loose.attrs["health_ok"] == 0
    assert loose.attrs["health_flags"]
    assert not bool(qbsd.summarize(loose).health_ok[0])


def test_written_files_are_readable_by_others_not_private(ds, tmp_path):
    # mkstemp creates 0600 files; a result must get 0666 less the umask
    path = write_netcdf(ds, tmp_path / "point.nc")
    mask = os.umask(0o022)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
