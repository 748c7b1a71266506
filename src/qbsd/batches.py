"""How the distinct points of a study are laid out into Snakemake jobs.

A sweep of 10^4 small points must not become 10^4 Snakemake jobs: the
scheduler's own bookkeeping then costs more than the physics, and on a
cluster every job pays a submission. So points are packed into *batches*,
one Snakemake job (and one SLURM submission) each:

- points are grouped by channel and number of cells (points of one group cost
  about the same), sorted by identifier, and packed in that order into batches
  of about ``target_seconds`` of estimated work (a batch closes once it reaches
  the target, so a study has at most total / target batches plus one per
  group);
- a point whose estimate alone reaches the target is a batch of its own, so
  large points run one per job (with their own memory and run-time request);
- each point keeps its own trajectory file: a batch job's outputs are the
  trajectory files of its points.

The layout depends only on the study (never on ``--cores``), so a dry run
plans the same jobs on any machine. Growing a grid can move points between
batches; a batch job then keeps every trajectory that is already up to date
(:func:`qbsd.jobs.up_to_date`) and computes only the others.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from .points import DistinctPoint, Study
from .resources import point_memory_bytes, point_seconds

#: Estimated seconds of work per batch: long enough that a job's fixed costs
#: (Snakemake's bookkeeping, a submission on a cluster) stay a few per cent,
#: short enough that a sweep splits into enough jobs to keep every core busy.
TARGET_SECONDS = 20.0
#: Upper bound on the number of batches; above it the target grows.
MAX_BATCHES = 400
#: A small study is still split into about this many batches, so that every
#: core of a workstation gets several (down to ``MIN_TARGET_SECONDS`` each).
MIN_BATCHES = 32
MIN_TARGET_SECONDS = 5.0
#: Smallest ``runtime`` (minutes) a batch asks of a cluster scheduler.
RUNTIME_FLOOR = 10


@dataclass(frozen=True)
class Batch:
    """Points simulated by one Snakemake job, one after another."""

    name: str  # the rule name: simulate_<channel>_N<n>_<k>
    points: tuple[DistinctPoint, ...]
    seconds: float  # estimated work, one core
    memory: int  # bytes, the largest point's estimate

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.points]

    @property
    def priority(self) -> int:
        """Snakemake ``priority``: the estimated seconds, so the longest batches start first.

        Longest-first keeps a sweep's tail short: a large point started last
        would run alone on one core while the others idle.
        """
        return math.ceil(self.seconds)

    def runtime_minutes(self, attempt: int = 1) -> int:
        """A cluster's ``runtime``: five times the estimate, at least ``RUNTIME_FLOOR``."""
        return max(RUNTIME_FLOOR, math.ceil(5 * self.seconds / 60)) * max(1, attempt)

    def mem_mb(self, attempt: int = 1) -> int:
        """A cluster's ``mem_mb`` (10^6 bytes), growing with the retry attempt."""
        return math.ceil(self.memory / 1e6) * max(1, attempt)


def settings_digest(settings: Sequence[dict], code_version: str) -> str:
    """Digest of a batch's point settings and code version: the job's rerun trigger."""
    text = json.dumps([list(settings), code_version], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _group_key(point: DistinctPoint) -> tuple[str, int]:
    return (point.channel, point.n_cells)


def batch_target(total: float, target_seconds: float | None = None) -> float:
    """Seconds of work per batch for a study of ``total`` seconds (see :func:`plan`)."""
    if target_seconds is None:
        target = max(min(TARGET_SECONDS, total / MIN_BATCHES), MIN_TARGET_SECONDS)
    else:
        target = float(target_seconds)
    return max(target, total / MAX_BATCHES)


def plan(study: Study, target_seconds: float | None = None) -> list[Batch]:
    """The batches of ``study``: every distinct point in exactly one batch.

    Parameters
    ----------
    study
        The study (its points and their settings).
    target_seconds
        Estimated one-core seconds of work per batch; by default the study
        config's ``batch_seconds``. None there too: ``TARGET_SECONDS``, shrunk (to
        ``MIN_TARGET_SECONDS`` at least) so that a small study still has about
        ``MIN_BATCHES`` batches. Either way it grows when the study would
        otherwise need more than ``MAX_BATCHES``.
    """
    costs = {pid: point_seconds(study.point_settings(p)) for pid, p in study.points.items()}
    total = sum(costs.values())
    if target_seconds is None:
        target_seconds = study.config.get("batch_seconds")
    target = batch_target(total, target_seconds)
    groups: dict[tuple[str, int], list[DistinctPoint]] = {}
    for pid in sorted(study.points):
        point = study.points[pid]
        groups.setdefault(_group_key(point), []).append(point)
    batches = []
    for (channel, n_cells), points in sorted(groups.items()):
        current: list[DistinctPoint] = []
        seconds = 0.0
        packed = []
        for point in points:
            cost = costs[point.id]
            if cost >= target:  # a large point: a batch of its own
                packed.append(([point], cost))
                continue
            current.append(point)
            seconds += cost
            if seconds >= target:  # full: every batch but a group's last reaches the target
                packed.append((current, seconds))
                current, seconds = [], 0.0
        if current:
            packed.append((current, seconds))
        for k, (members, seconds) in enumerate(packed):
            memory = max(point_memory_bytes(study.point_settings(p)) for p in members)
            name = f"simulate_{channel}_N{n_cells}_{k:03d}"
            batches.append(Batch(name, tuple(members), seconds, memory))
    return batches
