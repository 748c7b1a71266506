"""The job layout: points packed into batches, and a batch job that keeps what is up to date."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import xarray as xr

from qbsd import jobs
from qbsd.batches import (
    MAX_BATCHES,
    MIN_TARGET_SECONDS,
    TARGET_SECONDS,
    batch_target,
    plan,
    settings_digest,
)
from qbsd.config import ConfigError, load_study
from qbsd.dataset import read_netcdf
from qbsd.resources import point_seconds
from qbsd.workflow import code_version, simulate_settings


def study_of(grid: dict, **extra):
    config = {
        "grid": grid,
        "states": ["classical", "quantum"],
        "time": {"t_max": 1.0, "n_points": 11},
        "paper_figures": False,
        "unphysical": "skip",
        **extra,
    }
    return load_study(config)


GRID = {
    "n_cells": [1, 2, 3, 4],
    "geometry": ["linear", "circular", "central", "symmetric"],
    "J": [0.5, 1.0, 1.5, 2.0, 2.5],
    "gamma12": [0.1, 0.2, 0.3],
    "channel": ["relaxation", "phase_damping"],
}


def test_every_point_is_in_exactly_one_batch_and_names_are_unique():
    study = study_of(GRID)
    batches = plan(study)
    paths = [p for b in batches for p in b.paths]
    assert sorted(paths) == sorted(study.trajectory_paths())
    assert len(set(paths)) == len(paths)
    names = [b.name for b in batches]
    assert len(set(names)) == len(names)
    assert all(name.isidentifier() for name in names)
    # one channel and one N per batch
    for b in batches:
        assert len({(p.channel, p.n_cells) for p in b.points}) == 1


def test_small_points_share_batches_and_large_points_go_alone():
    study = study_of(GRID, large_n={"n_cells": [30], "J": [2.0], "gamma12": [0.5]})
    batches = plan(study)
    total = sum(point_seconds(study.point_settings(p)) for p in study.points.values())
    target = batch_target(total)
    assert MIN_TARGET_SECONDS <= target <= TARGET_SECONDS
    for b in batches:
        costs = [point_seconds(study.point_settings(p)) for p in b.points]
        if len(b.points) > 1:
            assert max(costs) < target and sum(costs) - costs[-1] < target  # closes once full
        assert b.seconds == pytest.approx(sum(costs))
    (large,) = [b for b in batches if b.points[0].n_cells == 30]
    assert len(large.points) == 1
    assert len(batches) < len(study.points) / 3  # far fewer jobs than points


def test_longer_batches_have_higher_priority():
    study = study_of(GRID, large_n={"n_cells": [30], "J": [2.0], "gamma12": [0.5]})
    batches = plan(study)
    by_seconds = sorted(batches, key=lambda b: b.seconds, reverse=True)
    priorities = [b.priority for b in by_seconds]
    assert priorities == sorted(priorities, reverse=True)
    assert all(isinstance(b.priority, int) and b.priority >= 1 for b in batches)
    assert len({b.priority for b in batches}) > 1


def test_the_number_of_jobs_stays_in_the_hundreds():
    grid = {**GRID, "J": [round(0.1 * k, 3) for k in range(1, 41)], "gamma12": [0.0, 0.1, 0.2]}
    study = study_of(grid)
    batches = plan(study, target_seconds=0.01)  # a tiny target: the cap decides
    groups = {(p.channel, p.n_cells) for p in study.points.values()}
    assert len(batches) <= MAX_BATCHES + len(groups)  # plus a partial batch per group
    assert len(plan(study)) < 50


def _group_of(batch) -> tuple[str, int]:
    return (batch.points[0].channel, batch.points[0].n_cells)


def test_batch_seconds_sets_the_work_per_job():
    default = plan(study_of(GRID))
    larger = plan(study_of(GRID, batch_seconds=60.0))
    assert len(larger) < len(default)
    for b, after in zip(larger, larger[1:], strict=False):
        if _group_of(b) == _group_of(after):  # every batch but a group's last is full
            assert b.seconds >= 60.0
    total = sum(b.seconds for b in default)
    assert batch_target(total, 60.0) == 60.0
    assert batch_target(total, 1e-3) == total / MAX_BATCHES  # at most MAX_BATCHES
    assert batch_target(1.0) == MIN_TARGET_SECONDS  # a tiny study: several small batches
    with pytest.raises(ConfigError, match="batch_seconds"):
        study_of(GRID, batch_seconds=0)


def test_the_layout_does_not_depend_on_anything_but_the_study():
    a, b = plan(study_of(GRID)), plan(study_of(GRID))
    assert [x.name for x in a] == [x.name for x in b]
    assert [x.paths for x in a] == [x.paths for x in b]
    assert TARGET_SECONDS > 1  # seconds of work: a job's fixed costs stay small


def test_the_digest_changes_with_settings_and_code_version():
    study = study_of(GRID)
    batch = plan(study)[0]
    settings = [study.point_settings(p) for p in batch.points]
    digest = settings_digest(settings, "1+abc")
    assert digest == settings_digest(json.loads(json.dumps(settings)), "1+abc")
    assert digest != settings_digest(settings, "1+abd")
    changed = [dict(settings[0], rtol=1e-9), *settings[1:]]
    assert digest != settings_digest(changed, "1+abc")


# --------------------------------------------------------------------------
# the batch job


@pytest.fixture
def small_batch():
    grid = {
        **GRID,
        "n_cells": [2],
        "J": [1.0, 2.0, 3.0],
        "gamma12": [0.1],
        "channel": ["relaxation"],
    }
    study = study_of(grid)
    (batch,) = plan(study)
    return study, batch


def _run(study, batch, root, processes=0, version=None):
    outputs = [str(root / p.path) for p in batch.points]
    done = jobs.simulate_batch(
        [study.point_settings(p) for p in batch.points],
        outputs,
        root / "batch.log",
        point_ids=[p.id for p in batch.points],
        code_version=version or code_version(),
        processes=processes,
        command="test",
    )
    return done, outputs


def test_a_batch_writes_every_trajectory_equal_to_simulate(small_batch, tmp_path):
    study, batch = small_batch
    done, outputs = _run(study, batch, tmp_path)
    assert set(done.values()) == {"computed"} and len(done) == len(batch.points)
    for point, path in zip(batch.points, outputs, strict=True):
        ds = read_netcdf(path)
        expected = simulate_settings(study.point_settings(point))
        xr.testing.assert_allclose(ds["ergotropy"], expected["ergotropy"], rtol=1e-12)
        assert ds.attrs["code_version"] == code_version()
        assert json.loads(ds.attrs["point_settings"]) == json.loads(
            json.dumps(study.point_settings(point))
        )
    log = (tmp_path / "batch.log").read_text()
    assert f"{len(outputs)} computed, 0 kept, 0 failed" in log


def test_a_rerun_keeps_up_to_date_trajectories_and_redoes_stale_ones(small_batch, tmp_path):
    study, batch = small_batch
    _, outputs = _run(study, batch, tmp_path)
    mtimes = [os.stat(p).st_mtime_ns for p in outputs]
    done, _ = _run(study, batch, tmp_path)
    assert set(done.values()) == {"kept"}
    assert [os.stat(p).st_mtime_ns for p in outputs] == mtimes  # not rewritten
    os.unlink(outputs[0])
    done, _ = _run(study, batch, tmp_path)
    assert done[batch.points[0].id] == "computed"
    assert [done[p.id] for p in batch.points[1:]] == ["kept"] * (len(outputs) - 1)
    done, _ = _run(study, batch, tmp_path, version="0.0.0+other")
    assert set(done.values()) == {"computed"}  # another code version: every point again


def test_a_worker_pool_gives_the_same_numbers(small_batch, tmp_path):
    study, batch = small_batch
    _, inline = _run(study, batch, tmp_path / "inline")
    _, pooled = _run(study, batch, tmp_path / "pool", processes=2)
    for a, b in zip(inline, pooled, strict=True):
        np.testing.assert_array_equal(read_netcdf(a)["ergotropy"], read_netcdf(b)["ergotropy"])
    jobs.shutdown_pool()


def test_a_failing_point_is_named_and_the_others_are_written(small_batch, tmp_path):
    study, batch = small_batch
    settings = [study.point_settings(p) for p in batch.points]
    settings[1] = dict(settings[1], rtol=-1.0)  # rejected by simulate
    outputs = [str(tmp_path / p.path) for p in batch.points]
    with pytest.raises(RuntimeError, match=batch.points[1].id):
        jobs.simulate_batch(
            settings,
            outputs,
            tmp_path / "batch.log",
            point_ids=[p.id for p in batch.points],
            code_version=code_version(),
        )
    assert os.path.exists(outputs[0]) and not os.path.exists(outputs[1])
    assert all(os.path.exists(p) for p in outputs[2:])
    log = (tmp_path / "batch.log").read_text()
    assert f"point {batch.points[1].id}: FAILED" in log and "rtol" in log


def test_a_stopped_run_stops_the_batch_before_the_next_point(small_batch, tmp_path):
    study, batch = small_batch
    jobs._STOP.set()
    try:
        with pytest.raises(jobs.BatchInterrupted):
            _run(study, batch, tmp_path)
    finally:
        jobs._STOP.clear()
    assert not list(tmp_path.rglob("*.nc"))


def test_a_damaged_trajectory_is_recomputed_not_kept(small_batch, tmp_path):
    import netCDF4

    study, batch = small_batch
    _, outputs = _run(study, batch, tmp_path)
    clean = read_netcdf(outputs[1])
    # silent damage: the data change, the attributes (settings, version) stay
    with netCDF4.Dataset(outputs[1], "a") as nc:
        nc["ergotropy"][0, -1] = 123.0
    settings = study.point_settings(batch.points[1])
    assert not jobs.up_to_date(outputs[1], settings, code_version())
    assert jobs.up_to_date(outputs[0], study.point_settings(batch.points[0]), code_version())
    done, _ = _run(study, batch, tmp_path)
    assert done[batch.points[1].id] == "computed"
    assert [done[p.id] for p in batch.points if p != batch.points[1]] == ["kept"] * (
        len(outputs) - 1
    )
    xr.testing.assert_identical(read_netcdf(outputs[1]).drop_attrs(), clean.drop_attrs())


def test_up_to_date_rejects_foreign_and_missing_files(tmp_path):
    bad = tmp_path / "x.nc"
    bad.write_bytes(b"not a netcdf file")
    assert not jobs.up_to_date(bad, {"a": 1}, "v")
    assert not jobs.up_to_date(tmp_path / "missing.nc", {"a": 1}, "v")
