"""The solver interface: the registry, ``auto``'s questions, and what the backends share."""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import threadpoolctl

import qbsd
from qbsd.dynamics import (
    BACKENDS,
    FullSpaceSolver,
    PermutationalSolver,
    SectorSolver,
    make_solver,
    methods,
    register_backend,
    select_backend,
)
from qbsd.dynamics.chunks import CHUNK_BYTES, MAX_CHUNK, ahead, chunk_length
from qbsd.dynamics.taylor import THETA, degree_and_substeps, degree_for, expm_multiply
from qbsd.linalg import blas_threads
from qbsd.model import Point
from qbsd.model.geometry import Geometry
from qbsd.resources import backend_of, memory_estimate, point_memory_bytes, settings_point

SHORT = {"t_max": 1.0, "n_points": 11}


def _point(n, geometry="linear", channel="relaxation", J=2.0, gamma12=0.5):
    return Point(Geometry.make(geometry, n), J, gamma12, channel)


def test_auto_order_is_dicke_sector_full_and_every_method_has_one_backend():
    assert BACKENDS[:3] == [PermutationalSolver, SectorSolver, FullSpaceSolver]
    assert methods()[:6] == ("auto", "piqs", "sector", "expm", "bdf", "adams")
    for method in methods()[1:]:
        assert [b for b in BACKENDS if method in b.methods] != []
    with pytest.raises(ValueError, match="method must be one of auto, piqs, sector"):
        select_backend(_point(3), method="rk4")
    # every backend names the one reason it refuses a point, or None
    chain = _point(4)
    assert PermutationalSolver.supports(chain).startswith("the permutation-invariant solver")
    assert SectorSolver.supports(chain) is None
    assert FullSpaceSolver.supports(chain, ["singlet_pairs"]) is None


class _Tagged:
    """A test backend: the full space's ``expm`` under another name, for phase damping only."""

    name = "tagged"
    methods = ("tagged",)
    auto_min_cells = 3
    options = ("omega0",)

    @classmethod
    def supports(cls, point, states=()):
        if point.channel != "phase_damping":
            return f"channel {point.channel!r}: only phase_damping"
        return None

    @classmethod
    def auto_method(cls, point):
        return "tagged"

    def __init__(self, point, method="tagged", omega0=0.0):
        self._full = FullSpaceSolver(point, method="expm", omega0=omega0)
        self.method = "tagged"
        self.stats = self._full.stats

    def run(self, states, times):
        return self._full.run(states, times)

    def observe(self, chunk):
        return self._full.observe(chunk)

    def evolve(self, state, duration):
        return self._full.evolve(state, duration)


@pytest.fixture
def tagged():
    register_backend(_Tagged, before=SectorSolver)
    try:
        yield _Tagged
    finally:
        BACKENDS.remove(_Tagged)


def test_a_registered_backend_is_asked_in_its_place(tagged):
    assert "tagged" in methods()
    dephasing = _point(3, channel="phase_damping")
    assert select_backend(dephasing)[0] is tagged
    assert select_backend(_point(2, channel="phase_damping"))[0] is SectorSolver  # too small
    chosen, method, passed_over = select_backend(_point(3))
    assert chosen is SectorSolver
    assert passed_over == ["tagged: channel 'relaxation': only phase_damping"]
    assert backend_of(dephasing) == ("tagged", "tagged")  # the estimator asks the same registry
    ds = qbsd.simulate(3, "linear", channel="phase_damping", states=["quantum"], **SHORT)
    assert ds.attrs["solver_method"] == "tagged"
    ref = qbsd.simulate(
        3, "linear", channel="phase_damping", states=["quantum"], method="expm", **SHORT
    )
    np.testing.assert_array_equal(ds.ergotropy, ref.ergotropy)
    with pytest.raises(ValueError, match="already taken"):
        register_backend(_Tagged)


def test_make_solver_passes_each_backend_only_its_options():
    point = _point(3, "symmetric")
    options = {"rtol": 1e-6, "atol": 1e-9, "omega0": 0.0, "integrator": "exact"}
    assert make_solver(point, "sector", **options).integrator == "exact"
    full = make_solver(point, "bdf", **options)
    assert (full.rtol, full.atol) == (1e-6, 1e-9)
    assert isinstance(make_solver(point, "piqs", **options), PermutationalSolver)
    with pytest.raises(ValueError, match="not invariant under permutations"):
        make_solver(point, "piqs", states=["singlet_pairs"])


# ---- the one Taylor exponential -------------------------------------------------------


def test_taylor_degrees_follow_the_backward_error_bounds():
    assert degree_for(0.5) == 14  # the sector backend's evolve: ||L|| h <= 1/2
    assert degree_for(THETA[55] * 1.01) is None
    for a in (1e-3, 0.3, 1.0, 7.5, 40.0):
        m, s = degree_and_substeps(a)
        assert a / s <= THETA[m]
        m, s = degree_and_substeps(a, max_theta=1.0)
        assert a / s <= min(THETA[m], 1.0)
    assert degree_and_substeps(0.0) == (0, 1)


@pytest.mark.parametrize("t", [1e-3, 0.1, 2.5])
def test_expm_multiply_is_exp_of_a_dissipative_generator(t):
    rng = np.random.default_rng(5)
    n = 40
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    generator = sp.csr_matrix(a - 8.0 * np.eye(n))  # stable, not normal
    x = rng.normal(size=(n, 3)) + 1j * rng.normal(size=(n, 3))
    exact = scipy.linalg.expm(generator.toarray() * t) @ x
    got = expm_multiply(generator, x, t)
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-13 * np.abs(exact).max())


# ---- one chunking policy, the prefetch thread, BLAS threads ------------------------------


def test_chunk_length_fits_the_budget():
    assert chunk_length(CHUNK_BYTES // 10) == 10
    assert chunk_length(1) == MAX_CHUNK
    assert chunk_length(10 * CHUNK_BYTES) == 1
    assert chunk_length(10 * CHUNK_BYTES, minimum=4) == 4


def test_ahead_yields_in_order_and_hands_errors_to_the_consumer():
    assert list(ahead(iter(range(20)))) == list(range(20))

    def failing():
        yield 1
        raise RuntimeError("integrator failed")

    with pytest.raises(RuntimeError, match="integrator failed"):
        list(ahead(failing()))


def test_blas_threads_limit_is_reentrant_and_restores():
    def counts():
        info = threadpoolctl.threadpool_info()
        return [i["num_threads"] for i in info if i["user_api"] == "blas"]

    before = counts()
    with blas_threads.limit(1):
        assert set(counts()) <= {1}
        with blas_threads.limit(1):
            assert set(counts()) <= {1}
        assert set(counts()) <= {1}  # the outer limit still holds
    assert counts() == before


def test_import_changes_no_environment_variable_but_hdf5_locking():
    probe = (
        "import os, json; before = dict(os.environ)\n"
        "import qbsd, qbsd.workflow, qbsd.config, qbsd.dynamics\n"
        "keys = set(before) | set(os.environ)\n"
        "print(json.dumps(sorted(k for k in keys if before.get(k) != os.environ.get(k))))"
    )
    env = {k: v for k, v in os.environ.items() if k != "HDF5_USE_FILE_LOCKING"}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '["HDF5_USE_FILE_LOCKING"]'


# ---- the one resource estimator ---------------------------------------------------------


def test_estimates_follow_the_backend_that_runs_the_point():
    big = _point(12, "symmetric")
    assert backend_of(big) == ("dicke", "piqs")
    assert backend_of(big, ["singlet_pairs"]) == ("sector", "sector")
    assert memory_estimate(big) == memory_estimate(big, method="piqs")
    assert memory_estimate(big, ["singlet_pairs"]) == memory_estimate(
        big, ["singlet_pairs"], method="sector"
    )
    # a full-space method is estimated on the full space
    settings = {"n_cells": 9, "geometry": "linear", "states": ["quantum"]}
    assert point_memory_bytes(settings) < point_memory_bytes({**settings, "method": "bdf"})
    assert settings_point(settings).geometry.edges == Geometry.make("linear", 9).edges


# ---- the code version covers the moved physics ------------------------------------------


def test_code_version_digests_every_physics_subpackage(tmp_path, monkeypatch):
    import shutil
    from pathlib import Path

    import qbsd.workflow as workflow

    package = Path(workflow.__file__).parent
    copy = tmp_path / "qbsd"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(workflow, "__file__", str(copy / "workflow.py"))
    names = {p.relative_to(copy).as_posix() for p in workflow.physics_sources(copy)}
    assert {
        "model/channels.py",
        "dynamics/dicke/propagator.py",
        "observables/measures.py",
    } <= names
    assert not {n for n in names if n.startswith("plots/")} and "workflow.py" not in names
    before = workflow.code_version()
    (copy / "plots" / "style.py").write_text("# figures do not change trajectories\n")
    assert workflow.code_version() == before
    for source in ("model/states.py", "dynamics/taylor.py", "observables/events.py"):
        with open(copy / source, "a") as edit:
            edit.write("\n# an edit of the physics\n")
        after = workflow.code_version()
        assert after != before, source
        before = after
