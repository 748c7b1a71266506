"""The simulation job of the workflow: one batch of distinct points.

Each batch rule (``workflow/rules/simulate.smk``) calls :func:`simulate_batch`
from a ``run:`` block. A batch's points are computed one after another in a
worker process: in the Snakemake process itself (local runs, jobs as
threads) a pool with one worker per core is started once and reused by
every batch, so small points are neither serialised by the interpreter lock
nor charged an interpreter start-up each; inside a job that already is its
own process (a cluster job, or jobs run as processes) the points are
computed in that process.

A trajectory that is already up to date (same settings, same code version,
content intact: :func:`up_to_date`) is kept, so growing a grid, moving points between
batches or resuming an interrupted batch computes only what is missing.
Every trajectory is written atomically: a point is either complete or
absent. SIGTERM and SIGINT (:func:`install_signal_handlers`) stop the
workers at once; the points already written are kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import os
import platform
import shlex
import signal
import sys
import threading
import time as _time
from collections.abc import Mapping, Sequence
from pathlib import Path

import xarray as xr

from .progress import ProgressReporter
from .resources import point_seconds
from .storage import log_file

#: A point estimated to take longer than this also reports progress on the console.
CONSOLE_PROGRESS_SECONDS = 60.0

_STOP = threading.Event()
_POOL: cf.ProcessPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


class BatchInterrupted(RuntimeError):
    """The run was stopped (SIGTERM or SIGINT) while a batch was computing."""


# --------------------------------------------------------------------------
# the worker pool


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the workers
    # itself, so a worker must not die of it half-way through a write.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from . import simulate  # noqa: F401  (import once per worker, not per point)


def worker_pool(processes: int) -> cf.ProcessPoolExecutor:
    """The shared pool of ``processes`` worker processes (started on first use)."""
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE != processes:
            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=True)
            # forkserver: forking the multi-threaded Snakemake process is unsafe
            context = multiprocessing.get_context("forkserver")
            _POOL = cf.ProcessPoolExecutor(
                max_workers=processes, mp_context=context, initializer=_init_worker
            )
            _POOL_SIZE = processes
        return _POOL


def _discard_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Forget ``pool`` (after a worker died) so that the next batch starts a new one."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is pool:
            _POOL = None
    pool.shutdown(wait=False, cancel_futures=True)


def stop_workers() -> None:
    """Kill the worker processes now and make running batches stop."""
    global _POOL
    _STOP.set()
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is None:
        return
    for process in list(getattr(pool, "_processes", {}).values()):
        try:
            process.kill()
        except (OSError, ValueError):
            pass
    pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pool() -> None:
    """Let idle workers exit (end of the workflow)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def install_signal_handlers() -> None:
    """On SIGTERM or SIGINT, kill the workers first, then let Snakemake handle the signal.

    Call from the main thread once Snakemake's scheduler has installed its own
    handlers (the Snakefile's ``onstart``). Without this, Snakemake waits for
    every running job to finish before it exits on SIGTERM, which for a
    batch or a large point can take minutes.
    """
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(number, frame, previous=previous):
            stop_workers()
            if callable(previous):
                previous(number, frame)
            elif previous == signal.SIG_DFL:
                signal.signal(number, signal.SIG_DFL)
                os.kill(os.getpid(), number)

        signal.signal(signum, handler)


# --------------------------------------------------------------------------
# one point


def up_to_date(path: str | os.PathLike, settings: Mapping, code_version: str) -> bool:
    """True if ``path`` is an intact trajectory of ``settings`` made by ``code_version``.

    The attributes first (a stale file is rejected without reading its data),
    then the whole content against the checksum it was written with: a damaged
    file is recomputed, never kept, so a forced rerun of its batch repairs it.
    """
    path = Path(path)
    if not path.is_file():
        return False
    try:
        import netCDF4

        from .dataset import NETCDF_LOCK, read_netcdf

        # batch jobs run as threads of one snakemake process: HDF5 is not thread-safe
        with NETCDF_LOCK, netCDF4.Dataset(path) as nc:
            stored = json.loads(nc.getncattr("point_settings"))
            version = nc.getncattr("code_version")
        expected = json.loads(json.dumps(dict(settings), sort_keys=True, default=str))
        if stored != expected or version != code_version:
            return False
        read_netcdf(path)  # DamagedFileError (an OSError) when the content is not as written
    except (OSError, KeyError, AttributeError, ValueError, RuntimeError):
        return False
    return True


def _log(log: str | os.PathLike, text: str) -> None:
    """Append to a batch's log. A log is a record, not a result: a write that fails
    (a full disk) must not replace the error of the trajectory write itself."""
    try:
        with open(log, "a", encoding="utf-8") as out:
            out.write(text if text.endswith("\n") else text + "\n")
    except OSError:
        pass


def compute_point(
    settings: Mapping,
    output: str,
    log: str,
    *,
    point_id: str,
    code_version: str,
    command: str,
    echo: bool = False,
) -> dict:
    """Simulate one point, write its trajectory atomically, append to the batch's log.

    Runs in a worker process (or the job's own process). Returns the solver
    statistics and the wall time.
    """
    from .dataset import write_netcdf
    from .workflow import health_warning, qbsd_version, remove_stale_temporaries, settings_hash

    started = _time.perf_counter()
    _log(log, f"point {point_id}: started (pid {os.getpid()})")
    console = sys.stderr if echo else None
    with ProgressReporter(log, label=point_id, echo=console) as progress:
        ds = _simulate_settings(settings, progress)
    now = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime())
    ds.attrs.update(
        {
            "point_id": point_id,
            "config_hash": settings_hash(settings),
            "point_settings": json.dumps(dict(settings), sort_keys=True, default=str),
            "code_version": code_version,
            "command": command,
            "qbsd_version": qbsd_version(),
            "history": f"{now} qbsd.jobs.simulate_batch via: {command}",
        }
    )
    for stale in remove_stale_temporaries(output):
        _log(log, f"point {point_id}: removed a temporary file of an interrupted run: {stale}")
    write_netcdf(ds, output)
    stats = json.loads(ds.attrs["solver_stats"])
    warning = health_warning(ds, f"point {point_id}")
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    seconds = _time.perf_counter() - started
    _log(
        log,
        f"point {point_id}: solver {json.dumps(stats, sort_keys=True)}\n"
        f"point {point_id}: health {'OK' if warning is None else warning}\n"
        f"point {point_id}: wrote {output} in {seconds:.3f} s",
    )
    return {"seconds": seconds, "solver": stats}


def _simulate_settings(settings: Mapping, progress) -> xr.Dataset:
    from .workflow import simulate_settings

    return simulate_settings(settings, progress=progress)


# --------------------------------------------------------------------------
# one batch


def _wait(future: cf.Future) -> dict:
    """The future's result; raises ``BatchInterrupted`` as soon as the run is stopped."""
    while True:
        try:
            return future.result(timeout=0.2)
        except cf.TimeoutError:
            if _STOP.is_set():
                future.cancel()
                raise BatchInterrupted("stopped by a signal") from None


def _log_header(log: str, n_points: int, code_version: str) -> None:
    """The first lines of a batch's log: where, when (epoch seconds) and which code."""
    slurm = os.environ.get("SLURM_JOB_ID")
    with log_file(log) as out:
        out.write(
            f"batch of {n_points} points on {platform.node()} (pid {os.getpid()}"
            + (f", SLURM_JOB_ID {slurm}" if slurm else "")
            + f")\nstarted: {_time.time():.3f} "
            + f"({_time.strftime('%Y-%m-%dT%H:%M:%SZ', _time.gmtime())})"
            + f"\ncode version: {code_version}\n"
        )


def _compute(settings: Mapping, output: str, log: str, processes: int, **kwargs) -> None:
    """One point, in the shared pool (``processes`` > 0) or in this process."""
    if processes <= 0:
        compute_point(settings, output, log, **kwargs)
        return
    pool = worker_pool(processes)
    point_id = kwargs["point_id"]
    try:
        _wait(pool.submit(compute_point, settings, output, log, **kwargs))
    except cf.process.BrokenProcessPool as exc:
        _discard_pool(pool)
        if _STOP.is_set():
            raise BatchInterrupted(f"stopped by a signal during {point_id}") from exc
        raise RuntimeError(
            f"the worker process computing point {point_id} died "
            "(killed, out of memory or crashed)"
        ) from exc


def simulate_batch(
    settings: Sequence[Mapping],
    outputs: Sequence[str],
    log: str | os.PathLike,
    *,
    point_ids: Sequence[str],
    code_version: str,
    processes: int = 0,
    command: str | None = None,
) -> dict[str, str]:
    """Bring every trajectory of a batch up to date.

    Parameters
    ----------
    settings, outputs, point_ids
        Per point (same order): its settings (``Study.point_settings``), its
        trajectory path and its identifier.
    log
        The batch's log: one block of lines per point, progress of long points.
    code_version
        ``qbsd.workflow.code_version()``: a trajectory made by another one is redone.
    processes
        Size of the shared worker pool; 0 computes in this process.
    command
        The command that ran the workflow (default: this process's).

    Returns
    -------
    dict
        Point identifier -> ``"kept"`` or ``"computed"``.
    """
    if not len(settings) == len(outputs) == len(point_ids):
        raise ValueError("settings, outputs and point_ids must have one entry per point")
    command = command if command is not None else shlex.join(sys.argv)
    log = str(log)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    _log_header(log, len(outputs), code_version)
    done: dict[str, str] = {}
    failed: list[str] = []
    started = _time.perf_counter()
    for point_settings, output, point_id in zip(settings, outputs, point_ids, strict=True):
        if _STOP.is_set():
            raise BatchInterrupted(f"stopped by a signal before point {point_id}")
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        if up_to_date(output, point_settings, code_version):
            _log(log, f"point {point_id}: kept {output} (up to date)")
            done[point_id] = "kept"
            continue
        _log(log, f"point {point_id}: settings {json.dumps(dict(point_settings), sort_keys=True)}")
        kwargs = {
            "point_id": point_id,
            "code_version": code_version,
            "command": command,
            "echo": point_seconds(point_settings) > CONSOLE_PROGRESS_SECONDS,
        }
        try:
            _compute(point_settings, output, log, processes, **kwargs)
        except BatchInterrupted:
            _log(log, f"point {point_id}: STOPPED by a signal; nothing of it was written")
            raise
        except Exception as exc:
            _log(log, f"point {point_id}: FAILED: {exc!r}")
            print(f"qbsd: point {point_id} failed: {exc!r} (log: {log})", file=sys.stderr)
            failed.append(point_id)
            continue
        done[point_id] = "computed"
    kept = sum(1 for v in done.values() if v == "kept")
    _log(
        log,
        f"batch: {len(done) - kept} computed, {kept} kept, {len(failed)} failed "
        f"in {_time.perf_counter() - started:.3f} s",
    )
    if failed:
        raise RuntimeError(
            f"{len(failed)} point(s) of this batch failed: {', '.join(failed)}; see {log}"
        )
    return done
