"""Event times of a trajectory located on the solution, not on the time grid.

A detector scans each observable chunk by chunk for the first grid interval
in which its condition flips, keeps the density matrix at the left end of that
interval, and afterwards refines the crossing with Brent's method on the
exactly propagated state (``solver.evolve``). This gives half-lives to ~1e-12
in time whatever the grid spacing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq

# Below this an ergotropy or concurrence counts as zero (hbar omega0 / unitless).
ZERO_LEVEL = 1e-8


def _is_sudden(v: np.ndarray, index: int, level: float, direction: str) -> bool:
    """Whether a crossing of the zero level at ``index`` is a sudden death or birth.

    A sudden death leaves the observable at its numerical floor, far below the
    level, at the next grid point; an asymptotic exponential decay creeps across
    the level instead (``v[index]`` just below it). A birth must start from
    that floor and grow well above the level, so noise around zero never counts.
    """
    if direction == "down":
        return bool(v[index] < 0.5 * level)
    return bool(v[index - 1] < 0.5 * level and v[index:].max() > 10 * level)


@dataclass
class EventSpec:
    """First time ``series`` crosses ``level`` in ``direction`` after event ``after``.

    ``level`` is absolute, or relative to the series' value at t = 0 when
    ``relative`` (half-lives: ``level=0.5``).
    """

    name: str
    series: str
    level: float
    direction: str  # "down": first v <= level; "up": first v > level
    relative: bool = False
    after: str | None = None
    sudden: bool = False  # zero-level event: require a finite-slope crossing
    long_name: str = ""
    # relative events: an initial value at or below this leaves nothing to halve
    minimum: float = 0.0

    def defined(self, initial: float) -> bool:
        """Whether a relative event exists for a series starting at ``initial``.

        Undefined events (nothing to halve) are NaN and not censored; a defined
        one not reached by t_max is NaN and censored.
        """
        return not self.relative or bool(initial > self.minimum)


EVENTS = (
    EventSpec(
        "ergotropy_half_life",
        "ergotropy",
        0.5,
        "down",
        relative=True,
        long_name="first time the ergotropy falls to half its initial value",
    ),
    EventSpec(
        "energy_half_life",
        "energy",
        0.5,
        "down",
        relative=True,
        long_name="first time the internal energy falls to half its initial value",
    ),
    EventSpec(
        "coherence_half_life",
        "coherence",
        0.5,
        "down",
        relative=True,
        long_name="first time the l1 coherence falls to half its initial value",
    ),
    EventSpec(
        "ergotropy_incoherent_half_life",
        "ergotropy_incoherent",
        0.5,
        "down",
        relative=True,
        minimum=ZERO_LEVEL,
        long_name="first time the incoherent ergotropy falls to half its initial value",
    ),
    EventSpec(
        "ergotropy_coherent_half_life",
        "ergotropy_coherent",
        0.5,
        "down",
        relative=True,
        minimum=ZERO_LEVEL,
        long_name="first time the coherent ergotropy falls to half its initial value",
    ),
    EventSpec(
        "capacity_half_life",
        "capacity",
        0.5,
        "down",
        relative=True,
        minimum=ZERO_LEVEL,
        long_name="first time the capacity falls to half its initial value",
    ),
    EventSpec(
        "sudden_death_time",
        "ergotropy",
        ZERO_LEVEL,
        "down",
        sudden=True,
        long_name="ergotropy sudden death: first time the ergotropy reaches zero",
    ),
    EventSpec(
        "revival_time",
        "ergotropy",
        ZERO_LEVEL,
        "up",
        after="sudden_death_time",
        sudden=True,
        long_name="first time the ergotropy revives after its sudden death",
    ),
    EventSpec(
        "entanglement_birth_time",
        "concurrence_mean",
        ZERO_LEVEL,
        "up",
        sudden=True,
        long_name="first time the link-mean concurrence becomes positive",
    ),
    EventSpec(
        "entanglement_death_time",
        "concurrence_mean",
        ZERO_LEVEL,
        "down",
        after="entanglement_birth_time",
        sudden=True,
        long_name="first time the link-mean concurrence returns to zero after birth",
    ),
)


@dataclass(frozen=True)
class EventSample:
    """The value of ``series`` at the time of ``event``, on the solution (NaN if not reached)."""

    series: str
    event: str
    units: str
    long_name: str

    @property
    def name(self) -> str:
        return f"{self.series}_at_{self.event}"


EVENT_SAMPLES = (
    EventSample(
        "ergotropy_coherent",
        "ergotropy_half_life",
        "hbar*omega0",
        "coherent ergotropy at the ergotropy half-life (NaN: half-life not reached)",
    ),
    EventSample(
        "ergotropy_local",
        "ergotropy_half_life",
        "hbar*omega0",
        "local ergotropy at the ergotropy half-life (NaN: half-life not reached)",
    ),
)


@dataclass
class _Found:
    index: int  # right end of the bracketing grid interval
    left_state: np.ndarray | None  # rho at index - 1 (None if index == 0)
    level: float
    time: float = np.nan


@dataclass
class EventTracker:
    """Scans one initial state's observables, chunk by chunk, for every event."""

    times: np.ndarray
    specs: tuple[EventSpec, ...] = EVENTS
    samples: tuple[EventSample, ...] = EVENT_SAMPLES
    series: dict[str, list[np.ndarray]] = field(default_factory=dict)
    found: dict[str, _Found | None] = field(default_factory=dict)
    _previous_state: np.ndarray | None = None
    _length: int = 0

    def feed(self, values: dict[str, np.ndarray], rho: np.ndarray) -> None:
        """Add the next chunk: observables (leading dim B) and states (B, d, d)."""
        for key, v in values.items():
            self.series.setdefault(key, []).append(np.asarray(v))
        start = self._length
        self._length += rho.shape[0]
        for spec in self.specs:
            if spec.name in self.found:
                continue
            hit = self._first_flip(spec, start)
            if hit is None:
                continue
            index, level = hit
            if index == 0:
                left = None
            elif index - 1 >= start:
                left = rho[index - 1 - start].copy()
            else:
                left = self._previous_state
            self.found[spec.name] = _Found(index, left, level)
        self._previous_state = rho[-1].copy()

    def full(self, key: str) -> np.ndarray:
        """The whole series of one observable fed so far."""
        return np.concatenate(self.series[key])

    def _first_flip(self, spec: EventSpec, start: int) -> tuple[int, float] | None:
        v = self.full(spec.series)
        level = spec.level * v[0] if spec.relative else spec.level
        if not spec.defined(v[0]):
            return None  # nothing to halve (e.g. coherence of |e>^N)
        lo = 0
        if spec.after is not None:
            prior = self.found.get(spec.after)
            if prior is None:
                return None
            lo = prior.index
        lo = max(lo, start - 1, 0)
        window = v[lo:]
        hits = np.nonzero(window <= level if spec.direction == "down" else window > level)[0]
        for h in hits:
            index = lo + int(h)
            if index == 0:
                return (0, level) if spec.direction == "up" and not spec.after else None
            # the condition must flip here: previous point on the other side
            prev_ok = v[index - 1] > level if spec.direction == "down" else v[index - 1] <= level
            if not prev_ok:
                continue
            if spec.sudden and not _is_sudden(v, index, level, spec.direction):
                continue
            return index, level
        return None

    def refine(
        self, evolve: Callable[[np.ndarray, float], np.ndarray], observe: Callable
    ) -> dict[str, float]:
        """Locate every found event on the solution; NaN where not reached."""
        result = {}
        for spec in self.specs:
            hit = self.found.get(spec.name)
            if hit is None:
                result[spec.name] = np.nan
                continue
            if hit.index == 0 or hit.left_state is None:
                result[spec.name] = float(self.times[0])
                continue
            t_left = float(self.times[hit.index - 1])
            dt = float(self.times[hit.index]) - t_left

            def offset(s, spec=spec, hit=hit):
                value = observe(evolve(hit.left_state, s)[None])[spec.series][0]
                return value - hit.level

            f_left, f_right = offset(0.0), offset(dt)
            if f_left == 0.0:
                result[spec.name] = t_left
            elif np.sign(f_left) == np.sign(f_right):  # grid values and solution disagree
                result[spec.name] = t_left + dt
            else:
                s = brentq(offset, 0.0, dt, xtol=1e-14, rtol=4 * np.finfo(float).eps)
                if spec.sudden:
                    s += self._zero_correction(offset, s, dt, hit.level, spec.direction)
                result[spec.name] = t_left + min(max(s, 0.0), dt)
        for sample in self.samples:
            result[sample.name] = self._sample(sample, result[sample.event], evolve, observe)
        return result

    def _sample(self, sample: EventSample, time: float, evolve, observe) -> float:
        """``sample.series`` at the refined time of its event (NaN where it was not reached)."""
        hit = self.found.get(sample.event)
        if hit is None or np.isnan(time):
            return np.nan
        if hit.index == 0 or hit.left_state is None:
            return float(self.full(sample.series)[0])
        s = time - float(self.times[hit.index - 1])
        return float(observe(evolve(hit.left_state, s)[None])[sample.series][0])

    @staticmethod
    def _zero_correction(offset, s, dt, level, direction) -> float:
        """Shift from the ZERO_LEVEL crossing to the zero itself (linear on the live side)."""
        h = min(1e-4, 0.5 * dt)
        if direction == "down":  # alive before s: value(s - h) - level = slope * h
            rise = offset(max(s - h, 0.0))
            return level * h / rise if rise > 0 else 0.0
        rise = offset(min(s + h, dt))  # alive after s
        return -level * h / rise if rise > 0 else 0.0

    def peak(self, key: str) -> tuple[float, float]:
        """Maximum of a series and its time (parabolic refinement between grid points)."""
        v = self.full(key)
        if v.size == 0 or not np.any(np.isfinite(v)):
            return np.nan, np.nan
        k = int(np.nanargmax(v))
        t = self.times
        if 0 < k < len(v) - 1:
            y0, y1, y2 = v[k - 1], v[k], v[k + 1]
            denom = y0 - 2 * y1 + y2
            if denom < 0:
                shift = 0.5 * (y0 - y2) / denom
                if abs(shift) <= 1:
                    h = t[k + 1] - t[k]
                    return float(y1 - 0.25 * (y0 - y2) * shift), float(t[k] + shift * h)
        return float(v[k]), float(t[k])
