"""Progress lines for long simulations: how far along the time grid, how long, how much longer.

A :class:`ProgressReporter` is the ``progress`` callback of
:func:`qbsd.simulate`: the solver loop tells it how many (state, time point)
pairs are done out of the total, and the reporter writes lines such as::

    progress: 37.5% of the time grid (state 2/3), elapsed 41 s, about 68 s left

to a log (stream or file) at most every ``interval`` seconds. Used as a
context manager, it also runs a daemon thread that writes the last known
position whenever ``interval`` seconds pass without a line, so a log shows
signs of life at least every ``interval`` seconds even while one chunk of the
time grid takes minutes. Leaving the context stops and joins the thread and
writes a final line.

The estimate of what remains extrapolates the grid's rate (setting up the
generator is not counted) and adds ``tail``: the share of the integration
that comes after the grid, when the events (half-life, entanglement death,
...) are located by root-finding on the solution (measured at 6-10 % of
large points).
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

#: Seconds between progress lines of a simulation job's log.
DEFAULT_INTERVAL = 10.0
#: Share of a run spent after the time grid (locating events): 6-10 % measured
#: for N = 6..7 chains and N = 20 symmetric (three states, 1001 points).
EVENTS_SHARE = 0.08


def format_seconds(seconds: float) -> str:
    """``41 s``, ``68 s``, ``12 min 5 s``, ``2 h 3 min``: whole units, for log lines."""
    seconds = max(0.0, float(seconds))
    if seconds < 119.5:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class ProgressReporter:
    """Write progress lines of one long computation (see the module docstring).

    Parameters
    ----------
    log
        A text stream (written and flushed, never closed) or a file path
        (opened for appending while the reporter is entered).
    interval
        Seconds between lines: at most one line per ``interval`` from
        :meth:`update`, and at least one per ``interval`` from the thread.
    label
        Text in front of every line (for example the point's identifier).
    echo
        A second stream (for example ``sys.stderr``, the console) that gets
        the same lines, each prefixed by ``label``; None for the log only.
    tail
        Share of the whole run expected after the grid is done (in [0, 1)).
    clock
        Monotonic time in seconds (tests pass a fake clock).

    Examples
    --------
    >>> with open(log, "a") as out, ProgressReporter(out, label=point_id) as report:
    ...     ds = qbsd.simulate(..., progress=report)
    """

    def __init__(
        self,
        log: TextIO | str | os.PathLike,
        *,
        interval: float = DEFAULT_INTERVAL,
        label: str = "",
        echo: TextIO | None = None,
        tail: float = EVENTS_SHARE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if not math.isfinite(interval) or interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        if isinstance(tail, bool) or not isinstance(tail, (int, float)) or not 0 <= tail < 1:
            raise ValueError(f"tail must be a number in [0, 1), got {tail!r}")
        self._log = log
        self._stream: TextIO | None = None if isinstance(log, (str, os.PathLike)) else log
        self.interval = float(interval)
        self.label = label
        self.echo = echo
        self.tail = float(tail)
        self.clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened: TextIO | None = None
        self.started = clock()
        self.done = 0
        self.total = 0
        self.detail = ""
        self._first: tuple[float, float] | None = None  # (time, fraction) of the first report
        self._grid_end: float | None = None
        self.last_line = -math.inf
        self.lines: list[str] = []
        self.write_error: Exception | None = None

    # -- the callback -----------------------------------------------------

    def __call__(self, done: int, total: int, detail: str = "") -> None:
        """Alias of :meth:`update`: the reporter is ``simulate``'s ``progress`` callback."""
        self.update(done, total, detail)

    def update(self, done: int, total: int, detail: str = "") -> None:
        """Record the position (``done`` of ``total`` units); write a line if one is due."""
        if total <= 0 or not 0 <= done <= total:
            raise ValueError(
                f"progress must satisfy 0 <= done <= total, total > 0; got {done}/{total}"
            )
        now = self.clock()
        with self._lock:
            # The position never goes back: a late report of an earlier chunk
            # (states run one after another) does not undo a later one.
            if total != self.total or done >= self.done:
                self.done, self.total = done, total
            self.detail = detail
            # The rate is measured from the last report before the position
            # first moved: setting up (building the generator) is not the grid.
            if self._first is None or self.fraction <= self._first[1]:
                self._first = (now, self.fraction)
            if self.done == self.total and self._grid_end is None:
                self._grid_end = now
            if now - self.last_line >= self.interval:
                self._write(now)

    @property
    def fraction(self) -> float:
        """Share of the time grid done (0 before the first report)."""
        return self.done / self.total if self.total else 0.0

    # -- estimate and lines -----------------------------------------------

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left (grid plus the events' ``tail``), or None before any rate is known.

        The grid's rate is measured from the last report before the position
        first moved (so building the generator does not count); the events
        take ``tail`` of the integration time (grid plus events).
        """
        now = self.clock() if now is None else now
        if self._first is None:
            return None
        t0, f0 = self._first
        f = self.fraction
        if self._grid_end is not None:  # only the events left
            return max(0.0, (self._grid_end - t0) / (1 - self.tail) - (now - t0))
        if f <= f0 or now <= t0:
            return None
        grid_left = (now - t0) * (1 - f) / (f - f0)
        grid_time = (now - t0) + grid_left
        return grid_left + grid_time * self.tail / (1 - self.tail)

    def line(self, now: float | None = None, final: str | None = None) -> str:
        """The progress line at ``now`` (``final``: the verb of the closing line)."""
        now = self.clock() if now is None else now
        elapsed = now - self.started
        where = f" ({self.detail})" if self.detail and final != "finished" else ""
        head = f"progress: {100 * self.fraction:.1f}% of the time grid{where}"
        if final is not None:
            return f"{head}, {final} after {format_seconds(elapsed)}"
        left = self.remaining(now)
        if left is None:
            estimate = "time left not known yet"
        elif left < 0.5:
            estimate = "almost done"
        else:
            estimate = f"about {format_seconds(left)} left"
        return f"{head}, elapsed {format_seconds(elapsed)}, {estimate}"

    def _write(self, now: float, final: str | None = None) -> None:
        """Write one line (the caller holds the lock)."""
        text = self.line(now, final)
        self.last_line = now
        self.lines.append(text)
        targets = [(self._stream or self._opened, text)]
        if self.echo is not None:
            targets.append((self.echo, f"{self.label}: {text}" if self.label else text))
        for stream, out in targets:
            if stream is None:
                continue
            # Progress is best effort: a log that cannot be written (a full
            # disk, a closed console) must not stop the computation.
            try:
                stream.write(out + "\n")
                stream.flush()
            except (OSError, ValueError) as error:
                self.write_error = error

    # -- the thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                due = self.last_line + self.interval if math.isfinite(self.last_line) else None
            # Capped: Event.wait has a maximum timeout, and the loop re-checks anyway.
            wait = self.interval if due is None else max(0.0, due - self.clock())
            wait = min(wait, 60.0)
            if self._stop.wait(wait):
                return
            with self._lock:
                now = self.clock()
                if now - self.last_line >= self.interval or not math.isfinite(self.last_line):
                    self._write(now)

    def start(self) -> ProgressReporter:
        """Open the log (a path), reset the clock and start the reporting thread."""
        if self._thread is not None:
            raise RuntimeError("this ProgressReporter is already running")
        if self._stream is None:
            Path(self._log).parent.mkdir(parents=True, exist_ok=True)
            self._opened = open(self._log, "a", encoding="utf-8")  # noqa: SIM115 (closed in stop)
        self.started = self.clock()
        self.last_line = self.started  # the first line is due one interval after the start
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="qbsd-progress", daemon=True)
        self._thread.start()
        return self

    def stop(self, final: str | None = "finished") -> None:
        """Stop and join the thread, write the closing line (``final``; None: none)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join()
        with self._lock:
            if final is not None:
                self._write(self.clock(), final)
            if self._opened is not None:
                self._opened.close()
                self._opened = None

    def __enter__(self) -> ProgressReporter:
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop("finished" if exc_type is None else f"stopped ({exc_type.__name__})")
