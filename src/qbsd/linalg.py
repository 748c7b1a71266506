"""Dense eigenvalue problems in a few Python threads, each with one BLAS thread.

The observables diagonalise many small Hermitian blocks per chunk of time
points. OpenBLAS's own threads spin and collapse on a shared or loaded
machine (measured 10x slower at d = 256 with 2 BLAS threads and one busy
core), and splitting the batch over Python threads is as fast when the cores
are free. So the callers hold ``blas_threads.limit(1)`` (``threadpoolctl``)
around the work, and ``eigvalsh_many`` spreads the stacks over a pool of
``worker_count()`` threads.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import threading
from collections.abc import Iterator

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = ["blas_threads", "eigvalsh_batched", "eigvalsh_many", "worker_count"]


def worker_count() -> int:
    """Threads for the observables: the CPUs this process may run on (QBSD_THREADS caps it)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    cap = os.environ.get("QBSD_THREADS", "")
    if cap.isdigit() and int(cap) > 0:
        cpus = min(cpus, int(cap))
    return max(1, cpus)


class BlasThreads:
    """The BLAS thread count of this process, limited for a block (``threadpoolctl``).

    ``limit(n)`` is re-entrant and shared between threads: the first entry
    sets the limit and the last exit restores what was there before, so the
    integrator's thread and the observables' pool never undo each other's
    limit halfway through.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._controller: ThreadpoolController | None = None
        self._active = None

    @contextlib.contextmanager
    def limit(self, n: int = 1) -> Iterator[None]:
        """Run the block with ``n`` BLAS threads, then restore the previous counts."""
        with self._lock:
            if self._depth == 0:
                if self._controller is None:  # numpy and scipy are loaded by now
                    self._controller = ThreadpoolController()
                self._active = self._controller.limit(limits=n, user_api="blas")
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self._active is not None:
                    self._active.restore_original_limits()
                    self._active = None


blas_threads = BlasThreads()
_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(
            max_workers=worker_count(), thread_name_prefix="qbsd-eig"
        )
    return _POOL


def eigvalsh_batched(matrices: np.ndarray, uplo: str = "L") -> np.ndarray:
    """``numpy.linalg.eigvalsh`` of a stack (K, m, m), split over worker threads.

    Each thread runs single-threaded LAPACK (``blas_threads.limit(1)`` must be
    active in the caller); the result is identical to one batched call.
    """
    return eigvalsh_many([matrices], uplo)[0]


def eigvalsh_many(stacks: list[np.ndarray], uplo: str = "L") -> list[np.ndarray]:
    """``eigvalsh`` of several stacks (K_i, m_i, m_i) as one pool of balanced tasks."""
    workers = worker_count()
    work = sum(a.shape[0] * a.shape[-1] ** 3 for a in stacks)
    if workers == 1 or work < 2e6:
        return [np.linalg.eigvalsh(a, UPLO=uplo) for a in stacks]
    target = work / (4 * workers)  # a few tasks per worker evens out the load
    tasks = []
    for i, a in enumerate(stacks):
        k, m = a.shape[0], a.shape[-1]
        parts = int(min(k, max(1, round(k * m**3 / target))))
        for p in np.array_split(np.arange(k), parts):
            if len(p):
                tasks.append((i, _pool().submit(np.linalg.eigvalsh, a[p[0] : p[-1] + 1], uplo)))
    results: list[list[np.ndarray]] = [[] for _ in stacks]
    for i, future in tasks:
        results[i].append(future.result())
    return [np.concatenate(r) for r in results]
