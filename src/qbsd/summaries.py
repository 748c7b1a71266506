"""Per-state summaries of trajectory datasets (half-lives, xi(0), quantumness, ergotropy split).

Event times are located on the solution by ``simulate`` and stored in the
trajectory; here they are gathered into one row per initial state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .dataset import health_flags
from .disorder import STATISTICS, event_statistics
from .observables.events import EVENTS
from .points import LABEL_KEYS
from .realisations import DIM

POINT_COLUMNS = [*LABEL_KEYS, "state"]

HALF_LIFE_COLUMNS = [
    "ergotropy_half_life",
    "energy_half_life",
    "sudden_death_time",
    "revival_time",
    "xi0",
    "final_ergotropy_fraction",
    "ergotropy_half_life_censored",
    "energy_half_life_censored",
    "health_ok",
]
XI0_COLUMNS = ["xi0", "ergotropy0", "energy0", "dead_energy_per_cell", "health_ok"]
QUANTUMNESS_COLUMNS = [
    "coherence_half_life",
    "coherence_half_life_censored",
    "concurrence_mean_peak",
    "concurrence_mean_peak_time",
    "entanglement_birth_time",
    "entanglement_death_time",
    "health_ok",
]
#: Half-lives of E, E_i, E_c and the capacity; E_c/E at t = 0 and at the ergotropy
#: half-life; E_loc/E at the ergotropy half-life (NaN where it is not reached).
SPLIT_COLUMNS = [
    "ergotropy_half_life",
    "ergotropy_half_life_censored",
    "ergotropy_incoherent_half_life",
    "ergotropy_incoherent_half_life_censored",
    "ergotropy_coherent_half_life",
    "ergotropy_coherent_half_life_censored",
    "capacity_half_life",
    "capacity_half_life_censored",
    "coherent_fraction0",
    "coherent_fraction_at_half_life",
    "local_fraction_at_half_life",
    "health_ok",
]

#: Every summary table and its columns besides ``POINT_COLUMNS`` (in the order of
#: ``summarize``'s frame): the one list the workflow and ``open_results`` read.
#: Statistics over the realisations of a disordered label, per event time.
DISORDER_COLUMNS = ["n_realisations"] + [
    f"{spec.name}_{key}" for spec in EVENTS for key in STATISTICS
]

SUMMARY_TABLES = {
    "half_lives": HALF_LIFE_COLUMNS,
    "xi0_scaling": XI0_COLUMNS,
    "quantumness": QUANTUMNESS_COLUMNS,
    "ergotropy_split": SPLIT_COLUMNS,
    "disorder_statistics": DISORDER_COLUMNS,
}

#: Tables that hold only disordered labels (the others hold every label).
DISORDER_TABLES = ("disorder_statistics",)

COLUMN_UNITS = {
    "ergotropy_half_life": "1/Gamma",
    "energy_half_life": "1/Gamma",
    "sudden_death_time": "1/Gamma",
    "revival_time": "1/Gamma",
    "coherence_half_life": "1/Gamma",
    "concurrence_mean_peak_time": "1/Gamma",
    "entanglement_birth_time": "1/Gamma",
    "entanglement_death_time": "1/Gamma",
    "ergotropy0": "hbar*omega0",
    "energy0": "hbar*omega0",
    "dead_energy_per_cell": "hbar*omega0",
    "ergotropy_incoherent_half_life": "1/Gamma",
    "ergotropy_coherent_half_life": "1/Gamma",
    "capacity_half_life": "1/Gamma",
    "coherent_fraction0": "1",
    "coherent_fraction_at_half_life": "1",
    "local_fraction_at_half_life": "1",
}


def _extra_axes(ds: xr.Dataset) -> dict[str, float]:
    """The label axes beyond the paper's: n_th (NaN for a channel without one), W, W_J."""
    out = {}
    for key, clean in (("n_th", np.nan), ("W", 0.0), ("W_J", 0.0)):
        out[key] = float(ds[key]) if key in ds.variables else clean
    return out


def summarize(ds: xr.Dataset) -> pd.DataFrame:
    """One row per initial state of a trajectory dataset, every summary column.

    Half-lives not reached within t_max are NaN with ``*_censored`` True; a
    quantity that is undefined (coherence half-life of an incoherent state,
    entanglement times without links) is NaN with ``*_censored`` False.
    A disordered trajectory (a ``realisation`` dimension) is summarised by
    :func:`summarize_disorder` instead.
    """
    if DIM in ds.dims:
        raise ValueError(
            f"summarize takes one trajectory; this one has a {DIM!r} dimension "
            "(a disordered point): use summarize_disorder"
        )
    n_cells = int(ds["n_cells"])
    rows = []
    for state in ds["state"].values:
        one = ds.sel(state=state)
        e = one["ergotropy"].values
        u = one["energy"].values
        c = one["coherence"].values
        row = {
            "channel": str(ds["channel"].values),
            "n_cells": n_cells,
            "geometry": str(ds["geometry"].values),
            "J": float(ds["J"]),
            "gamma12": float(ds["gamma12"]),
            **_extra_axes(ds),
            "state": str(state),
        }
        for key in (
            "ergotropy_half_life",
            "energy_half_life",
            "sudden_death_time",
            "revival_time",
            "coherence_half_life",
            "concurrence_mean_peak",
            "concurrence_mean_peak_time",
            "entanglement_birth_time",
            "entanglement_death_time",
        ):
            row[key] = float(one[key])
        row["ergotropy_half_life_censored"] = bool(
            np.isnan(row["ergotropy_half_life"]) and e[0] > 0
        )
        row["energy_half_life_censored"] = bool(np.isnan(row["energy_half_life"]) and u[0] > 0)
        row["coherence_half_life_censored"] = bool(
            np.isnan(row["coherence_half_life"]) and c[0] > 0
        )
        row["xi0"] = float(e[0] / u[0]) if u[0] > 0 else np.nan
        row["ergotropy0"] = float(e[0])
        row["energy0"] = float(u[0])
        row["dead_energy_per_cell"] = float((u[0] - e[0]) / n_cells) + 0.0  # no -0.0
        row["final_ergotropy_fraction"] = float(e[-1] / e[0]) if e[0] > 0 else np.nan
        row.update(ergotropy_split(one))
        row["health_ok"] = not health_flags(one)
        rows.append(row)
    return pd.DataFrame(rows)


def ergotropy_split(one: xr.Dataset) -> dict[str, float | bool]:
    """The ``SPLIT_COLUMNS`` of one state's trajectory (without ``health_ok``).

    Censoring as everywhere: a half-life not reached by t_max is NaN and
    censored; one of a series that starts at (numerical) zero, such as E_c of
    a state without coherence between energies, is NaN and not censored
    (``events.EventSpec.defined``). E at the ergotropy half-life is E(0)/2.
    """
    specs = {spec.name: spec for spec in EVENTS}
    row: dict[str, float | bool] = {}
    for name in (
        "ergotropy_half_life",
        "ergotropy_incoherent_half_life",
        "ergotropy_coherent_half_life",
        "capacity_half_life",
    ):
        spec = specs[name]
        time = float(one[name])
        initial = float(one[spec.series].isel(time=0))
        row[name] = time
        row[f"{name}_censored"] = bool(np.isnan(time) and spec.defined(initial))
    e0 = float(one["ergotropy"].isel(time=0))
    defined = specs["ergotropy_half_life"].defined(e0)
    half = 0.5 * e0
    row["coherent_fraction0"] = (
        float(one["ergotropy_coherent"].isel(time=0)) / e0 if defined else np.nan
    )
    for column, sample in (
        ("coherent_fraction_at_half_life", "ergotropy_coherent_at_ergotropy_half_life"),
        ("local_fraction_at_half_life", "ergotropy_local_at_ergotropy_half_life"),
    ):
        row[column] = float(one[sample]) / half if defined else np.nan
    return row


def table(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Select the columns of one summary table (a name of ``SUMMARY_TABLES``)."""
    if kind not in SUMMARY_TABLES:
        raise ValueError(f"summary table must be one of {', '.join(SUMMARY_TABLES)}, got {kind!r}")
    columns = SUMMARY_TABLES[kind]
    extra = [c for c in frame.columns if c not in POINT_COLUMNS and c in columns]
    return frame[[c for c in POINT_COLUMNS if c in frame.columns] + extra]


def to_xarray(frame: pd.DataFrame) -> xr.Dataset:
    """A summary table as a NetCDF-ready dataset (dimension ``row``), with units."""
    ds = xr.Dataset.from_dataframe(frame.reset_index(drop=True).rename_axis("row"))
    for name, units in COLUMN_UNITS.items():
        if name in ds:
            ds[name].attrs["units"] = units
    for name in ds.data_vars:
        if ds[name].dtype == bool:
            ds[name] = ds[name].astype("int8")
            ds[name].attrs["flag_values"] = [0, 1]
            ds[name].attrs["flag_meanings"] = "false true"
    return ds


# ---- disordered points: statistics over realisations ---------------------------------

#: Columns of :func:`summarize_disorder` besides the statistics of each event.
DISORDER_POINT_COLUMNS = [*POINT_COLUMNS[:-1], "W", "W_J", "state", "n_realisations"]


def _event_censoring(ds, spec, times: np.ndarray) -> np.ndarray:
    """Per (realisation, state): whether a missing event time is censored, not undefined.

    Undefined: a relative event of a series that starts at zero (nothing to
    halve), an event after a prior event that did not happen, an event of the
    link-mean concurrence without links. Every other missing time was due and
    not reached by t_max: censored.
    """
    censored = np.isnan(times)
    if spec.relative:  # nothing to halve at or below the event's minimum
        censored &= ds[spec.series].isel(time=0).values > getattr(spec, "minimum", 0.0)
    if spec.after is not None:
        censored &= ~np.isnan(ds[spec.after].values)
    if spec.series == "concurrence_mean" and ds.sizes.get("link", 0) == 0:
        censored[:] = False
    return censored


def summarize_point(ds: xr.Dataset) -> pd.DataFrame:
    """Rows of every summary table for one trajectory, clean or disordered.

    A disordered trajectory gets the statistics of :func:`summarize_disorder`
    and, in the columns of the clean tables, the median over realisations of
    each event time (``*_censored``: the median is not reached by t_max), the
    initial values (equal in every realisation) and the final ergotropy
    fraction of the realisation-averaged series.
    """
    if DIM not in ds.dims:
        return summarize(ds)
    rows = summarize(ds.isel({DIM: 0}).drop_vars(DIM, errors="ignore"))
    stats = summarize_disorder(ds)
    for spec in EVENTS:
        median = f"{spec.name}_median"
        if median not in stats:
            continue
        rows[spec.name] = stats[median].to_numpy()
        if f"{spec.name}_censored" in rows:
            reached = stats[f"{spec.name}_n_censored"].to_numpy() > 0
            rows[f"{spec.name}_censored"] = np.isnan(rows[spec.name]) & reached
    if "ergotropy_avg" in ds:
        e = ds["ergotropy_avg"].transpose("state", "time").values
        rows["final_ergotropy_fraction"] = np.where(e[:, 0] > 0, e[:, -1] / e[:, 0], np.nan)
    extra = stats.drop(columns=[c for c in stats.columns if c in rows.columns and c != "state"])
    return rows.merge(extra, on="state", how="left")


def summarize_disorder(ds: xr.Dataset) -> pd.DataFrame:
    """One row per initial state of a disordered trajectory: statistics over realisations.

    For every event time ``<event>`` of the trajectory (``events.EVENTS``):
    ``<event>_mean``, ``_std``, ``_median``, ``_q10``, ``_q90`` and
    ``_n_censored`` (``disorder.event_statistics``). A realisation that did
    not reach the event by t_max is censored: counted in ``_n_censored``,
    ranked above every reached time in the quantiles (a quantile that falls
    among censored realisations is NaN, not reached), left out of the mean
    and standard deviation, which are over the realisations that reached it.
    A realisation for which the event is undefined (e.g. no coherence to
    halve) is in no statistic.
    """
    if DIM not in ds.dims:
        raise ValueError(f"summarize_disorder needs a disordered trajectory (a {DIM!r} dimension)")
    rows = []
    point = {
        "channel": str(ds["channel"].values),
        "n_cells": int(ds["n_cells"]),
        "geometry": str(ds["geometry"].values),
        "J": float(ds["J"]),
        "gamma12": float(ds["gamma12"]),
        "W": float(ds["W"]),
        "W_J": float(ds["W_J"]),
    }
    specs = [spec for spec in EVENTS if spec.name in ds]
    per_event = {}
    for spec in specs:
        times = ds[spec.name].transpose(DIM, "state").values
        one = ds[[spec.name, spec.series] + ([spec.after] if spec.after else [])]
        censored = _event_censoring(one.transpose(DIM, "state", ...), spec, times)
        per_event[spec.name] = (times, censored)
    for s, state in enumerate(ds["state"].values):
        row = {**point, "state": str(state), "n_realisations": int(ds.sizes[DIM])}
        for name, (times, censored) in per_event.items():
            stats = event_statistics(times[:, s], censored[:, s])
            for key in STATISTICS:
                row[f"{name}_{key}"] = stats[key]
        rows.append(row)
    return pd.DataFrame(rows)
