"""Chunks of stored states: how many time points at once, computed one chunk ahead.

Every backend yields the states of the time grid in chunks, so memory stays
bounded whatever the grid: ``chunk_length`` fits a chunk into
``CHUNK_BYTES``. Small chunks keep the temporaries of the observables on the
heap (no page faults from fresh mmaps on every chunk), and the observables
vectorise over at most ``MAX_CHUNK`` points anyway. ``ahead`` runs a
backend's propagation in a background thread one chunk ahead of the
observables.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

#: Memory of one chunk of stored states, with its observables' work arrays
#: (bytes); the environment variable QBSD_CHUNK_BYTES overrides it.
CHUNK_BYTES = int(os.environ.get("QBSD_CHUNK_BYTES", 2**25))

#: Most time points in one chunk.
MAX_CHUNK = 256

T = TypeVar("T")


def chunk_length(bytes_per_point: float, minimum: int = 1) -> int:
    """Time points per chunk when each costs ``bytes_per_point``: at most ``CHUNK_BYTES``.

    At least ``minimum`` points (the sector backend asks for 4, so that the
    spectra of a chunk split over the threads) and at most ``MAX_CHUNK``.
    """
    fitting = CHUNK_BYTES // max(1, int(bytes_per_point))
    return int(max(minimum, min(MAX_CHUNK, fitting)))


_DONE = object()


def ahead(iterator: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Run ``iterator`` in a background thread, ``depth`` items ahead of the consumer.

    An exception in the thread is raised in the consumer; closing the
    generator (the consumer stops early) stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as error:  # handed to the consumer
            items.put(error)

    thread = threading.Thread(target=produce, name="qbsd-integrator", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                items.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)
