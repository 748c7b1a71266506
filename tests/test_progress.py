"""Progress lines of long simulations: regular, monotone, ending at 100 %, no thread left."""

from __future__ import annotations

import io
import re
import threading
import time

import numpy as np
import pytest

import qbsd
from qbsd.progress import ProgressReporter, format_seconds

LINE = re.compile(r"^progress: (?P<pct>\d+\.\d)% of the time grid")
INTERVAL = 0.05
# Scheduling slack of a loaded two-core machine on top of the interval.
SLACK = 0.25


class Recorder(io.StringIO):
    """A stream that remembers when each line arrived and when it was decided.

    The two differ by the time the line took to format and reach the stream,
    which a loaded machine stretches; the reporter's spacing is a property of
    its decisions (``last_line``), the reader's experience one of arrivals.
    """

    def __init__(self):
        super().__init__()
        self.stamps: list[tuple[float, str]] = []
        self.decided: list[float] = []
        self.reporter: ProgressReporter | None = None

    def write(self, text):
        self.stamps.append((time.monotonic(), text))
        if self.reporter is not None:
            self.decided.append(self.reporter.last_line)
        return super().write(text)


def _percent(lines) -> list[float]:
    return [float(LINE.match(line).group("pct")) for line in lines]


def _progress_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "qbsd-progress"]


def slow_solver(n_states=3, n_times=40, chunk=8, pause=0.01, stall=0.6):
    """A fake solver loop: chunks of the grid, one computing for ``stall`` s.

    The stall is longer than INTERVAL + SLACK: without the thread, no line
    would come during it.
    """
    for s in range(n_states):
        for first in range(0, n_times, chunk):
            time.sleep(stall if (s, first) == (1, 16) else pause)
            yield s, slice(first, min(first + chunk, n_times))


def test_lines_at_least_and_at_most_every_interval():
    out = Recorder()
    total = 3 * 40
    started = time.monotonic()
    out.reporter = ProgressReporter(out, interval=INTERVAL)
    with out.reporter as report:
        done = 0
        report(0, total, "building the generator")
        for s, chunk in slow_solver():
            done += chunk.stop - chunk.start
            report(done, total, f"state {s + 1}/3")
    stopped = time.monotonic()
    stamps = [started] + [t for t, _ in out.stamps] + [stopped]
    gaps = np.diff(stamps)
    # At least every interval, also across the 0.6 s stall of one chunk.
    assert gaps.max() <= INTERVAL + SLACK, gaps
    # At most every interval: the final line is the only extra one.
    assert len(out.stamps) <= (stopped - started) / INTERVAL + 2
    assert min(np.diff(out.decided[:-1])) >= INTERVAL
    lines = out.getvalue().splitlines()
    assert all(line.endswith(("left", "yet", "almost done")) for line in lines[:-1])
    assert lines[-1].startswith("progress: 100.0% of the time grid, finished after")
    percent = _percent(lines)
    assert percent == sorted(percent) and percent[-1] == 100.0
    # stalled at 56 of 120: state 2, before its chunk 16..24
    stalled = [line for line in lines if "(state 2/3)" in line and "46.7%" in line]
    assert len(stalled) >= 3  # the thread kept reporting while one chunk computed
    assert _progress_threads() == []


def test_the_example_line_with_a_fake_clock():
    now = [100.0]
    out = io.StringIO()
    report = ProgressReporter(out, interval=10, tail=0.0, clock=lambda: now[0])
    with report:
        report(0, 8, "state 1/3")
        now[0] += 41
        report(3, 8, "state 2/3")
        assert out.getvalue().splitlines() == [
            "progress: 37.5% of the time grid (state 2/3), elapsed 41 s, about 68 s left"
        ]
        now[0] += 5  # within the interval: no line
        report(4, 8, "state 2/3")
        assert len(out.getvalue().splitlines()) == 1
        now[0] += 5
        report(5, 8, "state 2/3")
        assert report.lines[-1].endswith("elapsed 51 s, about 31 s left")
    assert report.lines[-1] == "progress: 62.5% of the time grid, finished after 51 s"


def test_estimate_excludes_setup_and_adds_the_events_tail():
    now = [0.0]
    report = ProgressReporter(io.StringIO(), interval=1e9, tail=0.1, clock=lambda: now[0])
    report.start()
    try:
        report(0, 100, "building the generator")
        assert report.remaining() is None
        now[0] = 30.0  # the generator took 30 s
        report(0, 100, "state 1/1")
        now[0] = 40.0
        report(50, 100, "state 1/1")  # 50 % of the grid in 10 s
        # grid: 10 s left of 20 s, which are 90 % of the integration: 2.2 s of events
        assert report.remaining() == pytest.approx(10 + 20 / 0.9 * 0.1)
        now[0] = 50.0
        report(100, 100, "locating events, state 1/1")
        assert report.remaining() == pytest.approx(20 / 0.9 - 20)
        assert "elapsed 50 s, about 2 s left" in report.line()
        now[0] = 60.0
        assert report.line().endswith("almost done")
    finally:
        report.stop(None)
    assert _progress_threads() == []


def test_thread_stops_on_an_exception_and_says_so(tmp_path):
    log = tmp_path / "logs" / "point.log"
    echo = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        with ProgressReporter(log, interval=INTERVAL, label="relaxation/N9", echo=echo) as rep:
            rep(10, 40, "state 1/1")
            time.sleep(3 * INTERVAL)
            raise KeyboardInterrupt
    assert _progress_threads() == []
    lines = log.read_text().splitlines()
    assert len(lines) >= 2 and lines[-1].startswith("progress: 25.0% of the time grid (state 1/1)")
    assert lines[-1].endswith(f"stopped (KeyboardInterrupt) after {format_seconds(3 * INTERVAL)}")
    assert echo.getvalue().splitlines() == [f"relaxation/N9: {line}" for line in lines]
    assert rep._opened is None  # the log file it opened is closed


def test_an_unwritable_log_never_stops_the_computation():
    class Broken(io.StringIO):
        def write(self, text):
            raise OSError(28, "No space left on device")

    with ProgressReporter(Broken(), interval=INTERVAL) as report:
        report(1, 2)
        time.sleep(2 * INTERVAL)
        report(2, 2)
    assert isinstance(report.write_error, OSError) and _progress_threads() == []


def test_bad_arguments():
    with pytest.raises(ValueError, match="interval must be a positive number"):
        ProgressReporter(io.StringIO(), interval=0)
    with pytest.raises(ValueError, match=r"tail must be a number in \[0, 1\)"):
        ProgressReporter(io.StringIO(), tail=1.0)
    report = ProgressReporter(io.StringIO())
    with pytest.raises(ValueError, match="0 <= done <= total"):
        report(5, 4)
    with pytest.raises(ValueError, match="progress must be a callable"):
        qbsd.simulate(1, "linear", 0.0, 0.0, "relaxation", ["full"], 1.0, 11, progress=3)


def test_format_seconds():
    assert [format_seconds(s) for s in (0.2, 41, 68.4, 119.6, 725, 7380)] == [
        "0 s",
        "41 s",
        "68 s",
        "2 min 0 s",
        "12 min 5 s",
        "2 h 3 min",
    ]


# --------------------------------------------------------------------------
# qbsd.simulate's progress callback


def _calls(**kwargs):
    calls = []
    ds = qbsd.simulate(
        progress=lambda done, total, detail: calls.append((done, total, detail)), **kwargs
    )
    return ds, calls


POINT = dict(
    n_cells=3,
    geometry="linear",
    J=2.0,
    gamma12=0.5,
    channel="relaxation",
    states=["full", "classical", "quantum"],
    t_max=5.0,
    n_points=201,
)


def test_simulate_reports_the_grid_then_the_events():
    ds, calls = _calls(**POINT)
    total = 3 * 201
    assert {t for _, t, _ in calls} == {total}
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and done[0] == 0 and done[-1] == total
    details = [d for _, _, d in calls]
    assert details[0] == "building the generator"
    grid = [d for d in details if d.startswith("state ")]
    assert {d for d in grid} <= {"state 1/3", "state 2/3", "state 3/3"} and len(grid) >= 3
    events = [d for d, _, _ in calls if d == total]
    assert details[-3:] == [f"locating events, state {s}/3" for s in (1, 2, 3)]
    assert len(events) >= 3
    # The callback observes only: the trajectory is the one computed without it.
    plain = qbsd.simulate(**POINT)
    for name in ("energy", "ergotropy", "concurrence", "ergotropy_half_life"):
        np.testing.assert_array_equal(ds[name].values, plain[name].values)


def test_simulate_progress_spans_every_realisation():
    _, calls = _calls(**{**POINT, "n_cells": 2, "states": ["classical"]}, W=0.5, realisations=2)
    total = 2 * 201
    assert {t for _, t, _ in calls} == {total}
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and done[-1] == total
    assert any(d.startswith("realisation 1/2, state 1/1") for _, _, d in calls)
    assert any(d.startswith("realisation 2/2, locating events") for _, _, d in calls)
    halfway = [d for d, _, text in calls if text.startswith("realisation 2/2, building")]
    assert halfway == [201]


def test_simulate_with_a_reporter_writes_lines():
    out = Recorder()
    with ProgressReporter(out, interval=INTERVAL) as report:
        qbsd.simulate(**{**POINT, "n_cells": 4, "n_points": 401}, progress=report)
    lines = out.getvalue().splitlines()
    percent = _percent(lines)
    assert percent == sorted(percent) and percent[-1] == 100.0
    assert lines[-1].startswith("progress: 100.0% of the time grid, finished after")
    assert _progress_threads() == []
