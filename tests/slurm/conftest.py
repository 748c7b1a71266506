"""Fixtures for the tests that run workflows on a real single-node SLURM cluster.

``slurm_cluster`` (session scope) installs Debian's SLURM packages when they
are missing, starts munged, mariadbd, slurmdbd, slurmctld and slurmd by hand,
and stops exactly those processes at the end.  Tests are skipped, with the
reason, where that is impossible (not root, no apt-get).

``slurm_report`` is a list of lines printed in pytest's terminal summary
(measurements such as the cost of a simulation inside a batch job).

``run_snakemake_on_slurm(workdir, extra_args, timeout)`` runs
``snakemake --profile profiles/slurm`` in ``workdir`` against that cluster,
with the site values (partition, account) in the environment, and returns the
``subprocess.CompletedProcess`` (stdout and stderr together in ``stdout``).

Every test in this directory gets the ``slurm`` marker (registered in
pyproject.toml), so ``pytest -m slurm`` runs them alone and
``-m "not slurm"`` leaves them out.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "qbsd_tests_slurm_cluster", Path(__file__).with_name("cluster.py")
)
cluster = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = cluster  # dataclasses look their module up here
_spec.loader.exec_module(cluster)

_HERE = Path(__file__).parent
_TIMINGS: dict[str, float] = {}
_REPORT: list[str] = []


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.slurm)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node SLURM cluster with accounting (see cluster.py).

    Yields a :class:`cluster.SlurmCluster`. Its ``env`` holds ``SLURM_CONF``,
    ``PATH``, ``QBSD_SLURM_PARTITION`` and ``QBSD_SLURM_ACCOUNT``. Its
    ``partition`` and ``account`` are the site values, and
    ``default_resources_cli()`` gives them as ``--default-resources``. Use
    ``sacct()`` to read the job records and ``run_snakemake_on_slurm()`` to
    run snakemake.
    """
    start = time.monotonic()
    try:
        c = cluster.start_cluster()
    except cluster.SlurmUnavailable as exc:
        pytest.skip(f"cannot start a local SLURM cluster: {exc}")
    _TIMINGS.update(c.timings)
    _TIMINGS["setup total"] = time.monotonic() - start
    try:
        yield c
    finally:
        c.stop()
        shutil.rmtree(c.root, ignore_errors=True)


@pytest.fixture
def run_snakemake_on_slurm(slurm_cluster):
    """``run_snakemake_on_slurm(workdir, extra_args=(), timeout=170)``.

    Runs ``timeout -k 10 <timeout> python -m snakemake --profile
    profiles/slurm --cores <node CPUs> <fast status checks> <extra_args>``
    in ``workdir`` and returns the CompletedProcess. A code of 124 or 137
    means the run timed out.
    """
    return slurm_cluster.run_snakemake_on_slurm


@pytest.fixture(scope="session")
def slurm_report() -> list[str]:
    """Lines (measurements) that are printed in pytest's terminal summary."""
    return _REPORT


def pytest_terminal_summary(terminalreporter):
    if _TIMINGS:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in _TIMINGS.items())
        terminalreporter.write_line(f"local SLURM cluster start-up: {parts}")
    for line in _REPORT:
        terminalreporter.write_line(line)
