"""The trajectory dataset of a disordered point: one file, a ``realisation`` dimension.

Layout (``docs/model.md``, "Disorder"; README, "Trajectory files"):

- every variable of the clean layout that depends on the initial state (time
  series, event times, peaks, health diagnostics) gains a leading
  ``realisation`` dimension, whose coordinate is the realisation index r
  (the index that seeds its draws, :mod:`qbsd.disorder`);
- ``<name>_avg`` is the realisation average of every time series ``<name>``
  (same dims without ``realisation``), e.g. ``ergotropy_avg(state, time)``;
- ``detuning(realisation, cell)`` and ``coupling_offset(realisation, link)``
  hold the drawn disorder (units Gamma; zero where that strength is zero);
- scalar coordinates ``W`` and ``W_J`` (units Gamma) and the attribute
  ``disorder_key`` (the point key, hex) record the ensemble.

A clean point keeps the clean layout. One explicit realisation (``detunings=``)
keeps it too and adds ``detuning(cell)`` and ``coupling_offset(link)``.
Subsets of the realisations of one point, simulated apart, are joined by
:func:`concat_realisations`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import xarray as xr

from .dataset import CHECKSUM_ATTR, health_flags

DIM = "realisation"

#: Suffix of the realisation-averaged time series.
AVERAGE_SUFFIX = "_avg"

_DETUNING = ("Gamma", "local-field detuning delta_n: H gains sum_n (delta_n/2) sz_n")
_OFFSET = ("Gamma", "coupling offset u_nm of the link: it couples with J + u_nm")


def add_explicit_disorder(ds: xr.Dataset, detunings, coupling_offsets) -> xr.Dataset:
    """Record one explicit realisation: ``detuning(cell)`` and ``coupling_offset(link)``."""
    n_cells, n_links = ds.sizes["cell"], ds.sizes["link"]
    delta = np.asarray(detunings, float) if len(detunings) else np.zeros(n_cells)
    u = np.asarray(coupling_offsets, float) if len(coupling_offsets) else np.zeros(n_links)
    ds["detuning"] = ("cell", delta, {"units": _DETUNING[0], "long_name": _DETUNING[1]})
    ds["coupling_offset"] = ("link", u, {"units": _OFFSET[0], "long_name": _OFFSET[1]})
    return ds


def _per_realisation(ds: xr.Dataset) -> list[str]:
    """Variables that differ between realisations: every one with a ``state`` dimension."""
    return [str(name) for name, var in ds.data_vars.items() if "state" in var.dims]


def stack_realisations(
    parts: Sequence[xr.Dataset],
    indices: Sequence[int],
    *,
    W: float,
    W_J: float,
    key: int,
    detunings: np.ndarray,
    coupling_offsets: np.ndarray,
) -> xr.Dataset:
    """One dataset from the clean-layout datasets of the realisations ``indices``.

    ``detunings`` (R, N) and ``coupling_offsets`` (R, L) are the drawn values.
    The attributes are those of the first part, with the solver statistics'
    ``total_seconds`` summed and the health flags taken over every realisation.
    """
    if len(parts) != len(indices) or not parts:
        raise ValueError("stack_realisations needs one dataset per realisation index")
    ds = parts[0].copy()
    names = _per_realisation(ds)
    for name in names:
        values = np.stack([p[name].values for p in parts])
        ds[name] = ((DIM, *parts[0][name].dims), values, dict(parts[0][name].attrs))
    ds.coords[DIM] = (
        DIM,
        np.asarray(indices, dtype=np.int64),
        {"long_name": "disorder realisation index r (seeds its draws)", "units": "1"},
    )
    ds["detuning"] = (
        (DIM, "cell"),
        np.asarray(detunings, float).reshape(len(parts), ds.sizes["cell"]),
        {"units": _DETUNING[0], "long_name": _DETUNING[1]},
    )
    ds["coupling_offset"] = (
        (DIM, "link"),
        np.asarray(coupling_offsets, float).reshape(len(parts), ds.sizes["link"]),
        {"units": _OFFSET[0], "long_name": _OFFSET[1]},
    )
    for name, value, long_name in (
        ("W", W, "local-field disorder strength: delta_n uniform in [-W/2, W/2]"),
        ("W_J", W_J, "coupling disorder strength: u_nm uniform in [-W_J/2, W_J/2]"),
    ):
        ds.coords[name] = ((), float(value), {"units": "Gamma", "long_name": long_name})
    ds.attrs["disorder_key"] = format(int(key), "x")
    ds.attrs["disorder_draws"] = (
        "realisation r: numpy Generator(PCG64(SeedSequence(entropy=int(disorder_key, 16), "
        "spawn_key=(r,)))).random(N) - 1/2 scaled by W (detunings), then .random(links) - 1/2 "
        "scaled by W_J (coupling offsets)"
    )
    seconds = [json.loads(p.attrs.get("solver_stats", "{}")).get("total_seconds") for p in parts]
    _finish(ds, seconds)
    return ds


def _finish(ds: xr.Dataset, seconds: Sequence[float | None]) -> None:
    """Averages, realisation count, summed solver time and health flags of a stacked dataset."""
    add_averages(ds)
    settings = json.loads(ds.attrs.get("settings", "{}"))
    settings["realisations"] = int(ds.sizes[DIM])
    ds.attrs["settings"] = json.dumps(settings, sort_keys=True, default=str)
    stats = json.loads(ds.attrs.get("solver_stats", "{}"))
    known = [s for s in seconds if s is not None]
    if known:
        stats["total_seconds"] = float(sum(known))
    stats["realisations"] = int(ds.sizes[DIM])
    ds.attrs["solver_stats"] = json.dumps(stats, sort_keys=True, default=str)
    flags = health_flags(ds)
    ds.attrs["health_flags"] = ",".join(flags)
    ds.attrs["health_ok"] = int(not flags)


def add_averages(ds: xr.Dataset) -> xr.Dataset:
    """``<name>_avg``: the mean over realisations of every time series (in place).

    A plain mean of each realisation's series (the average efficiency is the
    mean of E/U, not the ratio of the means).
    """
    for name in list(ds.data_vars):
        var = ds[name]
        if str(name).endswith(AVERAGE_SUFFIX) or DIM not in var.dims or "time" not in var.dims:
            continue
        attrs = dict(var.attrs)
        attrs["long_name"] = "realisation average of " + attrs.get("long_name", str(name))
        attrs.pop("comment", None)
        ds[f"{name}{AVERAGE_SUFFIX}"] = var.mean(DIM, skipna=False).assign_attrs(attrs)
    return ds


def _identity(ds: xr.Dataset) -> dict:
    """Everything that must agree between subsets of one disordered point."""
    settings = json.loads(ds.attrs.get("settings", "{}"))
    settings.pop("realisations", None)
    return {
        "settings": settings,
        "disorder_key": ds.attrs.get("disorder_key"),
        "W": float(ds["W"]),
        "W_J": float(ds["W_J"]),
    }


def concat_realisations(datasets: Sequence[xr.Dataset]) -> xr.Dataset:
    """Join realisation subsets of one disordered point along ``realisation``.

    The subsets must be of the same point, strengths, states, time grid and
    settings (the number of realisations aside) and must not share an index;
    the result is sorted by realisation index and its averages recomputed, so
    it equals one ``simulate`` of all the indices (solver statistics aside).
    """
    if not datasets:
        raise ValueError("concat_realisations needs at least one dataset")
    for k, ds in enumerate(datasets):
        if DIM not in ds.dims or "W" not in ds.coords:
            raise ValueError(f"dataset {k} has no {DIM!r} dimension (not a disordered point)")
    first = _identity(datasets[0])
    for k, ds in enumerate(datasets[1:], start=1):
        other = _identity(ds)
        if other != first:
            differ = sorted(key for key in first if first[key] != other[key])
            raise ValueError(
                f"dataset {k} is not a subset of the same disordered point as dataset 0 "
                f"(they differ in {', '.join(differ)})"
            )
    indices = np.concatenate([ds[DIM].values for ds in datasets])
    if len(np.unique(indices)) != len(indices):
        repeated = sorted({int(r) for r in indices if (indices == r).sum() > 1})
        raise ValueError(f"realisation indices {repeated} appear in more than one dataset")
    names = [n for n in datasets[0].data_vars if DIM in datasets[0][n].dims]
    order = np.argsort(indices, kind="stable")
    out = datasets[0].drop_vars([n for n in datasets[0].data_vars if n.endswith(AVERAGE_SUFFIX)])
    out = out.drop_vars(names + [DIM])
    for name in names:
        values = np.concatenate([ds[name].values for ds in datasets])[order]
        out[name] = (datasets[0][name].dims, values, dict(datasets[0][name].attrs))
    out.coords[DIM] = (DIM, indices[order], dict(datasets[0][DIM].attrs))
    out.attrs = dict(datasets[0].attrs)
    out.attrs.pop(CHECKSUM_ATTR, None)
    seconds = [
        json.loads(ds.attrs.get("solver_stats", "{}")).get("total_seconds") for ds in datasets
    ]
    _finish(out, seconds)
    return out
