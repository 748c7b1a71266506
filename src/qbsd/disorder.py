"""Static disorder: validation, reproducible draws per realisation, statistics.

The disorder of ``docs/model.md`` ("Disorder"): random local fields
``H_int + sum_n (delta_n / 2) sz_n`` with ``delta_n`` uniform in
``[-W/2, W/2]``, and optionally random couplings ``J_nm = J + u_nm`` with
``u_nm`` uniform in ``[-W_J/2, W_J/2]`` (W and W_J in units of Gamma).

Seeds
    Realisation ``r`` of a point draws from numpy's ``Generator(PCG64)``
    seeded by ``SeedSequence(entropy=point_key, spawn_key=(r,))``, where the
    point key is a sha256 digest of a canonical text of the simulated point
    (:func:`point_key`). The numbers therefore depend only on the point and
    on ``r``: not on the machine, the batch, the order, or which other
    realisations or points run; asking for 50 realisations instead of 20 keeps
    the first 20.

Common random numbers
    W and W_J are not part of the key. Each realisation draws standard
    uniforms ``x_n, y_l`` in ``[-1/2, 1/2)`` (first one per cell, then one per
    link) and scales them: ``delta_n = W x_n``, ``u_l = W_J y_l``. Realisation
    ``r`` at two disorder strengths is the same pattern, scaled, so curves
    against W are smooth and differences between W values are not masked by
    sampling noise.

Statistics over realisations (:func:`event_statistics`) rank a censored
realisation (event not reached by t_max) above every reached one, never at
t_max.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Bits of the sha256 digest kept as the point key (an int).
KEY_BITS = 128

#: The statistics reported per event time, in column order.
STATISTICS = ("mean", "std", "median", "q10", "q90", "n_censored")


# ---- validation -------------------------------------------------------------------


def check_strength(value, key: str) -> float:
    """A disorder strength (``W`` or ``W_J``): a finite real number >= 0, in Gamma."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{key} must be a real number >= 0 (in Gamma), got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{key} must be a finite number >= 0 (in Gamma), got {value!r}")
    return value


def check_realisations(value, key: str = "realisations") -> int:
    """A number of realisations: an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
    return int(value)


def check_indices(values, key: str = "realisation_indices") -> tuple[int, ...]:
    """Realisation indices: distinct integers >= 0, returned in increasing order."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{key} must be a sequence of integers >= 0, got {values!r}")
    out = []
    for r in values:
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
            raise ValueError(f"{key} must hold integers >= 0, got {r!r}")
        out.append(int(r))
    if not out:
        raise ValueError(f"{key} must name at least one realisation, got {values!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"{key} must not repeat an index, got {out!r}")
    return tuple(sorted(out))


def check_values(values, length: int, key: str, what: str) -> tuple[float, ...]:
    """One finite real number per cell (``what="cell"``) or per link, as a tuple of floats."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValueError(f"{key} must be a sequence of {length} real numbers, got {values!r}")
    values = list(values)
    if len(values) != length:
        raise ValueError(
            f"{key} must have one value per {what} ({length} for this point), "
            f"got {len(values)}: {values!r}"
        )
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{key} must hold real numbers (in Gamma), got {v!r}")
        if not math.isfinite(v):
            raise ValueError(f"{key} must hold finite numbers (in Gamma), got {v!r}")
        out.append(float(v))
    return tuple(out)


# ---- seeds and draws -----------------------------------------------------------------


def point_key(
    channel: str,
    n_cells: int,
    edges: Iterable[Sequence[int]],
    J: float,
    gamma12: float,
    parameters: Mapping[str, float] | None = None,
) -> int:
    """The stable key of a point: a sha256 digest of its canonical text, as an int.

    The text is JSON with sorted keys of the channel name, N, the sorted
    edge list (pairs ``n < m``), J, gamma12 (as floats, written by ``repr``,
    which round-trips exactly) and the channel's own ``parameters`` (e.g. a
    bath occupation). Pass only parameters that differ from their defaults,
    so that giving the model a new parameter keeps every existing key.
    W and W_J are deliberately not in the key (common random numbers).
    """
    canonical = {
        "channel": str(channel),
        "n_cells": int(n_cells),
        "edges": sorted([min(int(a), int(b)), max(int(a), int(b))] for a, b in edges),
        "J": float(J),
        "gamma12": float(gamma12),
        "parameters": {str(k): _canonical(v) for k, v in (parameters or {}).items()},
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).digest()
    return int.from_bytes(digest[: KEY_BITS // 8], "big")


def _canonical(value) -> float | str:
    """A number as a float (1 and 1.0 are one point), anything else as its text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return str(value)


#: Point fields that are not channel parameters of the key.
_POINT_FIELDS = {"geometry", "J", "gamma12", "channel", "detunings", "coupling_offsets"}


def key_of(point) -> int:
    """:func:`point_key` of a ``qbsd.Point`` (its disorder left out).

    The channel's parameters (``point.parameters``, e.g. a bath occupation)
    enter as parameters, and so does any other field of the point that is not
    at its default value.
    """
    parameters = dict(getattr(point, "parameters", ()) or ())
    for f in dataclasses.fields(point):
        if f.name in _POINT_FIELDS or f.name == "parameters":
            continue
        value = getattr(point, f.name)
        if f.default is dataclasses.MISSING or value != f.default:
            parameters[f.name] = value
    return point_key(
        point.channel,
        point.n_cells,
        point.geometry.edges,
        point.J,
        point.gamma12,
        parameters,
    )


def generator(key: int, r: int) -> np.random.Generator:
    """numpy's ``Generator(PCG64)`` of realisation ``r`` of the point with ``key``."""
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r < 0:
        raise ValueError(f"realisation index must be an integer >= 0, got {r!r}")
    sequence = np.random.SeedSequence(entropy=int(key), spawn_key=(int(r),))
    return np.random.Generator(np.random.PCG64(sequence))


def realisation_draws(
    key: int, r: int, n_cells: int, n_links: int
) -> tuple[np.ndarray, np.ndarray]:
    """Standard uniforms in ``[-1/2, 1/2)`` of realisation ``r``: per cell, then per link.

    Scale them by W (detunings) and W_J (coupling offsets). The cell values
    are drawn first, so they do not depend on ``n_links``.
    """
    rng = generator(key, r)
    cells = rng.random(int(n_cells)) - 0.5
    links = rng.random(int(n_links)) - 0.5
    return cells, links


def realisation_disorder(
    key: int, r: int, n_cells: int, n_links: int, W: float, W_J: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(detunings, coupling_offsets)`` of realisation ``r`` at strengths W and W_J.

    An empty tuple where the strength is zero (that part of the point is clean).
    """
    cells, links = realisation_draws(key, r, n_cells, n_links)
    detunings = tuple(float(W * x) for x in cells) if W > 0 else ()
    offsets = tuple(float(W_J * y) for y in links) if W_J > 0 else ()
    return detunings, offsets


# ---- statistics over realisations --------------------------------------------------


def _quantile(ranked: np.ndarray, q: float) -> float:
    """Quantile ``q`` of sorted values with censored ones as +inf (NaN if it falls there).

    Linear interpolation between order statistics at position ``q (n - 1)``
    (numpy's default ``linear`` method); an interpolation that touches a
    censored value with nonzero weight is not reached.
    """
    n = len(ranked)
    if n == 0:
        return np.nan
    h = q * (n - 1)
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    frac = h - lo
    a = ranked[lo]
    if not np.isfinite(a):
        return np.nan
    if frac == 0.0:
        return float(a)
    b = ranked[hi]
    if not np.isfinite(b):
        return np.nan
    return float(a + frac * (b - a))


def event_statistics(times, censored=None) -> dict[str, float | int]:
    """Statistics of one event time over realisations, censoring counted honestly.

    Parameters
    ----------
    times
        Event time of each realisation (1/Gamma); NaN where it has none.
    censored
        Per realisation, whether a NaN time is censored (the event was due but
        not reached by t_max) rather than undefined (e.g. nothing to halve,
        no prior event). None: every NaN is censored. Undefined realisations
        are left out of every statistic.

    Returns
    -------
    dict
        ``mean`` and ``std`` (sample standard deviation, ddof = 1) over the
        realisations that reached the event (NaN if none, ``std`` NaN with
        fewer than two); ``median``, ``q10``, ``q90`` over all realisations
        that reached it or were censored, censored ranked as +infinity, by
        linear interpolation between order statistics: a quantile that falls
        among censored values is NaN (not reached); ``n_censored``; and
        ``n_reached``.
    """
    times = np.asarray(times, dtype=float).ravel()
    missing = np.isnan(times)
    if censored is None:
        flags = missing
    else:
        flags = np.asarray(censored, dtype=bool).ravel()
        if flags.shape != times.shape:
            raise ValueError(
                f"censored must have one flag per realisation ({times.size}), got {flags.size}"
            )
        flags = flags & missing
    reached = times[~missing]
    ranked = np.concatenate([np.sort(reached), np.full(int(flags.sum()), np.inf)])
    out: dict[str, float | int] = {
        "mean": float(reached.mean()) if reached.size else np.nan,
        "std": float(reached.std(ddof=1)) if reached.size > 1 else np.nan,
        "median": _quantile(ranked, 0.5),
        "q10": _quantile(ranked, 0.1),
        "q90": _quantile(ranked, 0.9),
        "n_censored": int(flags.sum()),
        "n_reached": int(reached.size),
    }
    return out


# ---- what one simulate call runs ------------------------------------------------------


@dataclass(frozen=True)
class DisorderPlan:
    """The disorder of one ``simulate`` call (see :func:`plan`).

    ``kind`` is ``clean`` (one run, the clean layout), ``explicit`` (one run
    with the given detunings and coupling offsets) or ``random`` (one run per
    realisation index, at strengths W and W_J, drawn from the point ``key``).
    """

    kind: str
    W: float = 0.0
    W_J: float = 0.0
    indices: tuple[int, ...] = ()
    key: int = 0
    detunings: tuple[float, ...] = ()
    coupling_offsets: tuple[float, ...] = ()

    @property
    def runs(self) -> int:
        """Number of solver runs (realisations; 1 for a clean or explicit point)."""
        return len(self.indices) if self.kind == "random" else 1

    @property
    def disordered(self) -> bool:
        """Whether the runs may break the graph's symmetries."""
        return self.kind == "random" or any(self.detunings) or any(self.coupling_offsets)

    def draws(self, n_cells: int, n_links: int) -> tuple[np.ndarray, np.ndarray]:
        """Detunings (R, N) and coupling offsets (R, L) of every realisation, in Gamma."""
        cells = np.zeros((len(self.indices), n_cells))
        links = np.zeros((len(self.indices), n_links))
        for k, r in enumerate(self.indices):
            x, y = realisation_draws(self.key, r, n_cells, n_links)
            cells[k], links[k] = self.W * x, self.W_J * y
        return cells, links

    def point(self, base, r: int | None = None):
        """``base`` (a clean ``Point``) with this plan's disorder (of realisation ``r``)."""
        if self.kind == "clean":
            return base
        if self.kind == "explicit":
            detunings, offsets = self.detunings, self.coupling_offsets
        else:
            detunings, offsets = realisation_disorder(
                self.key, r, base.n_cells, len(base.geometry.edges), self.W, self.W_J
            )
        return dataclasses.replace(base, detunings=detunings, coupling_offsets=offsets)

    def settings(self) -> dict:
        """The plan's entries of the dataset's ``settings`` attribute (none when clean)."""
        if self.kind == "explicit":
            return {
                "detunings": list(self.detunings),
                "coupling_offsets": list(self.coupling_offsets),
            }
        if self.kind == "random":
            return {"W": self.W, "W_J": self.W_J, "disorder_key": format(self.key, "x")}
        return {}


def plan(
    point,
    *,
    W=0.0,
    W_J=0.0,
    realisations=None,
    realisation_indices=None,
    detunings=None,
    coupling_offsets=None,
) -> DisorderPlan:
    """Check the disorder arguments of ``simulate`` for the clean ``point`` and plan the runs.

    W = W_J = 0 is the clean point, simulated once: ``realisations`` is then
    checked but has nothing to count (a sweep may pass one value for every
    W), while ``realisation_indices`` is an error. W > 0 or W_J > 0 needs
    ``realisations`` (indices ``0..R-1``) or ``realisation_indices`` (a
    subset, e.g. one batch of a large ensemble). ``detunings`` and
    ``coupling_offsets`` give one explicit realisation and combine with none
    of the others.
    """
    W = check_strength(W, "W")
    W_J = check_strength(W_J, "W_J")
    if realisations is not None:
        realisations = check_realisations(realisations)
    indices = None if realisation_indices is None else check_indices(realisation_indices)
    if realisations is not None and indices is not None:
        raise ValueError("give realisations or realisation_indices, not both")
    if detunings is not None or coupling_offsets is not None:
        if W or W_J or realisations is not None or indices is not None:
            raise ValueError(
                "detunings and coupling_offsets give one explicit realisation: they combine "
                f"with none of W, W_J, realisations, realisation_indices (got W={W:g}, "
                f"W_J={W_J:g}, realisations={realisations!r}, "
                f"realisation_indices={realisation_indices!r})"
            )
        n_links = len(point.geometry.edges)
        given = {
            "detunings": ()
            if detunings is None
            else check_values(detunings, point.n_cells, "detunings", "cell"),
            "coupling_offsets": ()
            if coupling_offsets is None
            else check_values(coupling_offsets, n_links, "coupling_offsets", "link"),
        }
        return DisorderPlan("explicit", **given)
    if W == 0.0 and W_J == 0.0:
        if indices is not None:
            raise ValueError(
                "realisation_indices need W > 0 or W_J > 0; W = W_J = 0 is the clean point, "
                "simulated once"
            )
        return DisorderPlan("clean")
    if realisations is None and indices is None:
        raise ValueError(
            f"realisations is required when W > 0 or W_J > 0 (got W={W:g}, W_J={W_J:g}): "
            "the number of disorder realisations, an integer >= 1"
        )
    indices = tuple(range(realisations)) if indices is None else indices
    return DisorderPlan("random", W, W_J, indices, key_of(point))
