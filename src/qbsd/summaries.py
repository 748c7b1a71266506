"""Per-state summaries of trajectory datasets (half-lives, xi(0), quantumness).

Event times are located on the solution by ``simulate`` and stored in the
trajectory; here they are gathered into one row per initial state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .dataset import health_flags

POINT_COLUMNS = ["channel", "n_cells", "geometry", "J", "gamma12", "state"]

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
}


def summarize(ds: xr.Dataset) -> pd.DataFrame:
    """One row per initial state of a trajectory dataset, every summary column.

    Half-lives not reached within t_max are NaN with ``*_censored`` True; a
    quantity that is undefined (coherence half-life of an incoherent state,
    entanglement times without links) is NaN with ``*_censored`` False.
    """
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
        row["health_ok"] = not health_flags(one)
        rows.append(row)
    return pd.DataFrame(rows)


def table(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Select the contract's columns of one summary table: half_lives, xi0_scaling, quantumness."""
    columns = {
        "half_lives": HALF_LIFE_COLUMNS,
        "xi0_scaling": XI0_COLUMNS,
        "quantumness": QUANTUMNESS_COLUMNS,
    }[kind]
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
