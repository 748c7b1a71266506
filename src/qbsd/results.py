"""Reload a finished sweep as one labelled, lazily loaded dataset.

``qbsd.open_results("results")`` reads the label manifest the workflow writes
(``results/summary/labels.csv``: every requested label, the trajectory file of
the distinct point that serves it, and the cell and link maps into that
point), opens every trajectory lazily (dask) and lays the labels out on the
grid's axes::

    channel, n_cells, geometry, J, gamma12, state, time      energy, ergotropy, ...
    ... , cell, time                                        population
    ... , link, time                                        concurrence

``cell`` runs over 0..max(N)-1 and ``link`` over 0..max(links)-1; entries past
a label's own cells or links are NaN (``link_name`` says which link is which
for each geometry, "" where padded). Combinations of the axes that were not
requested, or were skipped as unphysical, are NaN throughout; ``requested``
marks the labels that exist. The summary tables (``results/summary``) are
added alongside as variables over ``channel, n_cells, geometry, J, gamma12,
state``. Nothing is read from the trajectories until it is computed.

A missing or unreadable file raises an error that names it and the command
that regenerates it; nothing is silently left NaN. The check happens in
``open_results`` itself, not later when a lazy value is computed: every
trajectory's header is opened and (``verify=True``, the default) every
variable is decoded once, one file at a time, with nothing kept in memory.
Trajectories are written with a Fletcher-32 checksum per chunk
(``qbsd.dataset.ENCODING``) and a checksum of their whole content (attribute
``checksum``, checked by ``qbsd.dataset.read_netcdf``), so overwritten bytes
fail this read instead of returning wrong numbers; a truncated file fails to
open. A summary table that lacks a requested label is reported the same way.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .dataset import read_netcdf
from .events import EVENTS
from .summaries import POINT_COLUMNS

LABEL_DIMS = ("channel", "n_cells", "geometry", "J", "gamma12")

# Trajectory variables per (state, time), per (state, cell, time), per (state, link, time)
# and per state; the per-state event times come from the summary tables instead
# (they hold the label's own link-based values).
SERIES = ("energy", "ergotropy", "efficiency", "coherence", "concurrence_mean")
HEALTH = ("max_trace_error", "min_eigenvalue", "max_hermiticity_error")
SUMMARY_TABLES = ("half_lives", "xi0_scaling", "quantumness")
# Per-state event times and peaks: taken from the summary tables instead.
UNUSED = [spec.name for spec in EVENTS] + [
    "concurrence_mean_peak",
    "concurrence_mean_peak_time",
    "edge_n",
    "edge_m",
]


class ResultsError(OSError):
    """A results file is missing, unreadable or inconsistent with the manifest."""


def _regenerate(root: Path, relpath: str, force: bool) -> str:
    where = root.resolve().parent
    target = f"results/{relpath}"
    flag = " --force" if force else ""
    return f"run in {where}: snakemake --cores 2{flag} {target}"


def _read_manifest(root: Path) -> pd.DataFrame:
    path = root / "summary" / "labels.csv"
    if not path.exists():
        raise ResultsError(
            f"{path} not found: it is the label manifest the workflow writes with its "
            f"summary tables; run `snakemake --cores 2` in {root.resolve().parent} "
            "(or pass the results directory of a finished run)"
        )
    text_columns = ["channel", "geometry", "point", "trajectory", "links", "cell_map", "link_map"]
    try:
        manifest = pd.read_csv(path, keep_default_na=False, dtype={c: str for c in text_columns})
    except Exception as exc:
        raise ResultsError(
            f"{path} cannot be read ({exc}); regenerate it: "
            + _regenerate(root, "summary/labels.csv", True)
        ) from exc
    missing = [c for c in (*LABEL_DIMS, "trajectory", "cell_map", "link_map") if c not in manifest]
    if missing:
        raise ResultsError(
            f"{path} lacks the columns {missing}; regenerate it: "
            + _regenerate(root, "summary/labels.csv", True)
        )
    manifest["n_cells"] = manifest["n_cells"].astype(int)
    manifest["J"] = manifest["J"].astype(float)
    manifest["gamma12"] = manifest["gamma12"].astype(float)
    return manifest


def _open_trajectory(
    root: Path, relpath: str, manifest: pd.DataFrame, verify: bool = True
) -> xr.Dataset:
    path = root / relpath
    served = manifest[manifest["trajectory"] == relpath]
    example = served.iloc[0]
    who = (
        f"it serves {len(served)} requested label(s), e.g. channel={example['channel']}, "
        f"n_cells={example['n_cells']}, geometry={example['geometry']}, J={example['J']:g}, "
        f"gamma12={example['gamma12']:g}"
    )
    if not path.exists():
        raise ResultsError(
            f"{path} is missing ({who}); regenerate it: " + _regenerate(root, relpath, False)
        )
    try:
        if verify:  # decode every chunk now (checksums), one file at a time, keep nothing
            read_netcdf(path).close()
        ds = xr.open_dataset(path, engine="netcdf4", chunks={}, drop_variables=UNUSED)
    except Exception as exc:
        raise ResultsError(
            f"{path} cannot be read: {type(exc).__name__}: {exc} (the file is damaged or "
            f"truncated; {who}); regenerate it: " + _regenerate(root, relpath, True)
        ) from exc
    needed = (*SERIES, "population", "concurrence", *HEALTH)
    lacking = [name for name in needed if name not in ds]
    if lacking:
        ds.close()
        raise ResultsError(
            f"{path} lacks the variables {lacking}; regenerate it: "
            + _regenerate(root, relpath, True)
        )
    recorded = str(ds.attrs.get("point_id", ""))
    expected = str(example["point"]) if "point" in served else ""
    if recorded and expected and recorded != expected:
        ds.close()
        raise ResultsError(
            f"{path} holds the point {recorded}, not {expected} as the manifest says (a file "
            "copied or moved by hand?); regenerate it: " + _regenerate(root, relpath, True)
        )
    return ds


def _ordered(values: Sequence, numeric: bool) -> list:
    unique = list(dict.fromkeys(values))
    return sorted(unique) if numeric else unique


def _int_list(text: str) -> list[int]:
    return [int(v) for v in text.split()] if text else []


def _stack(blocks: dict, shape: Sequence[int], fill):
    """One array over the label axes (C order); missing entries become ``fill`` blocks."""
    flat = [blocks.get(index, fill) for index in np.ndindex(*shape)]
    stacked = da.stack(flat, axis=0)
    return stacked.reshape(tuple(shape) + stacked.shape[1:])


def _nan_block(shape: tuple[int, ...], dtype=float):
    return da.full(shape, np.nan, dtype=dtype, chunks=shape)


def open_results(
    path: str | os.PathLike = "results", summaries: bool = True, verify: bool = True
) -> xr.Dataset:
    """The whole sweep under ``path`` as one labelled, lazily loaded dataset.

    Parameters
    ----------
    path
        The workflow's ``results`` directory.
    summaries
        Also add the summary tables' columns (``ergotropy_half_life``, ``xi0``,
        ``concurrence_mean_peak``, ...) as variables over the label axes and ``state``.
    verify
        Decode every trajectory once now (one file at a time, nothing kept), so a
        damaged file is reported here rather than when a value is computed.
        ``False`` only opens the headers (faster; a damaged chunk then fails at
        compute time).

    Returns
    -------
    xarray.Dataset
        Dims ``channel, n_cells, geometry, J, gamma12, state, time, cell, link``;
        dask-backed trajectory variables; ``requested`` marks the labels present.

    Raises
    ------
    ResultsError
        A file is missing, unreadable or inconsistent; the message names it and
        the command that regenerates it.
    """
    root = Path(path)
    manifest = _read_manifest(root)
    if manifest.empty:
        raise ResultsError(f"{root / 'summary' / 'labels.csv'} lists no labels")
    files: dict[str, xr.Dataset] = {}
    try:
        for rel in manifest["trajectory"].unique():
            files[rel] = _open_trajectory(root, rel, manifest, verify)
    except ResultsError:
        for ds in files.values():
            ds.close()
        raise

    first_rel, first = next(iter(files.items()))
    times = first["time"].values
    states = [str(s) for s in first["state"].values]
    for rel, ds in files.items():
        if not np.array_equal(ds["time"].values, times) or sorted(
            map(str, ds["state"].values)
        ) != sorted(states):
            raise ResultsError(
                f"{root / rel} has another time grid or other states than {root / first_rel} "
                "(a stale file from an earlier config?); rerun the workflow "
                f"(`snakemake --cores 2` in {root.resolve().parent}) to bring them in line"
            )

    axes = {
        "channel": _ordered(manifest["channel"], False),
        "n_cells": _ordered(manifest["n_cells"], True),
        "geometry": _ordered(manifest["geometry"], False),
        "J": _ordered(manifest["J"], True),
        "gamma12": _ordered(manifest["gamma12"], True),
    }
    label_shape = tuple(len(v) for v in axes.values())
    position = {dim: {v: k for k, v in enumerate(values)} for dim, values in axes.items()}
    n_time, n_state = len(times), len(states)
    max_cells = int(manifest["n_cells"].max())
    links_of = [r.split() if r else [] for r in manifest["links"]]
    max_links = max((len(x) for x in links_of), default=0)

    blocks: dict[str, dict] = {
        name: {} for name in (*SERIES, "population", "concurrence", *HEALTH)
    }
    requested = np.zeros(label_shape, dtype=bool)
    trajectory = np.full(label_shape, "", dtype=object)
    link_name = np.full((len(axes["n_cells"]), len(axes["geometry"]), max_links), "", dtype=object)
    for row, links in zip(manifest.itertuples(index=False), links_of, strict=True):
        key = tuple(position[dim][getattr(row, dim)] for dim in LABEL_DIMS)
        requested[key] = True
        trajectory[key] = row.trajectory
        link_name[key[1], key[2], : len(links)] = links
        ds = files[row.trajectory]
        order = [list(map(str, ds["state"].values)).index(s) for s in states]
        if order == list(range(n_state)):
            order = slice(None)  # no fancy indexing (cheaper graphs)
        cell_map, link_map = _int_list(row.cell_map), _int_list(row.link_map)
        for name in (*SERIES, *HEALTH):
            blocks[name][key] = ds[name].data[order]
        pop = ds["population"].data[order]
        if cell_map != list(range(pop.shape[1])):
            pop = pop[:, cell_map, :]
        if len(cell_map) < max_cells:
            pad = _nan_block((n_state, max_cells - len(cell_map), n_time))
            pop = da.concatenate([pop, pad], axis=1)
        blocks["population"][key] = pop
        n_point_links = ds.sizes.get("link", 0)
        if link_map == list(range(n_point_links)):
            conc = ds["concurrence"].data[order]
        elif link_map:
            conc = ds["concurrence"].data[order][:, link_map, :]
        else:
            conc = _nan_block((n_state, 0, n_time))
        if len(link_map) != n_point_links:  # the label sees part of the point's links
            blocks["concurrence_mean"][key] = (
                conc.mean(axis=1) if link_map else _nan_block((n_state, n_time))
            )
        if len(link_map) < max_links:
            conc = da.concatenate(
                [conc, _nan_block((n_state, max_links - len(link_map), n_time))], axis=1
            )
        blocks["concurrence"][key] = conc

    coords = {
        **{
            dim: (
                dim,
                np.asarray(values, dtype=object if dim in ("channel", "geometry") else None),
            )
            for dim, values in axes.items()
        },
        "state": ("state", np.asarray(states, dtype=object)),
        "time": ("time", times, dict(first["time"].attrs)),
        "cell": ("cell", np.arange(max_cells)),
        "link": ("link", np.arange(max_links)),
    }
    result = xr.Dataset(coords=coords)
    tails = {
        "population": ("state", "cell", "time"),
        "concurrence": ("state", "link", "time"),
        **{name: ("state", "time") for name in SERIES},
        **{name: ("state",) for name in HEALTH},
    }
    sizes = {"state": n_state, "cell": max_cells, "link": max_links, "time": n_time}
    for name, tail in tails.items():
        fill = _nan_block(tuple(sizes[d] for d in tail))
        data = _stack(blocks[name], label_shape, fill)
        result[name] = (LABEL_DIMS + tail, data, dict(first[name].attrs))
    result["requested"] = (
        LABEL_DIMS,
        requested,
        {"long_name": "the label was requested and simulated (False: padding or skipped)"},
    )
    result["trajectory"] = (
        LABEL_DIMS,
        trajectory.astype(str),
        {"long_name": "trajectory file serving the label, relative to the results directory"},
    )
    result["link_name"] = (
        ("n_cells", "geometry", "link"),
        link_name.astype(str),
        {"long_name": "linked cell pair n-m of each link position (empty: padding)"},
    )
    for name, attrs in (
        ("n_cells", {"long_name": "number of cells N"}),
        ("J", {"long_name": "exchange coupling J/Gamma", "units": "Gamma"}),
        ("gamma12", {"long_name": "collective rate Gamma_12/Gamma", "units": "Gamma"}),
        ("channel", {"long_name": "dissipative channel"}),
        ("geometry", {"long_name": "network geometry"}),
        ("state", {"long_name": "initial state"}),
        ("cell", {"long_name": "cell index (padded to the largest N)"}),
        ("link", {"long_name": "link position (padded to the most links)"}),
    ):
        result[name].attrs.update(attrs)
    if summaries:
        result = result.merge(_summary_variables(root, axes, states, manifest), join="left")
    result.attrs = {
        "title": "qbsd sweep: every requested label on the grid's axes",
        "source": first.attrs.get("source", "qbsd"),
        "results": str(root.resolve()),
        "n_trajectories": len(files),
        "n_labels": len(manifest),
    }
    return result


def _summary_variables(
    root: Path, axes: dict, states: list[str], manifest: pd.DataFrame
) -> xr.Dataset:
    wanted = pd.MultiIndex.from_tuples(
        [
            (*row, state)
            for row in manifest[list(LABEL_DIMS)].itertuples(index=False, name=None)
            for state in states
        ],
        names=list(POINT_COLUMNS),
    )
    frames = []
    for kind in SUMMARY_TABLES:
        path = root / "summary" / f"{kind}.csv"
        rel = f"summary/{kind}.csv"
        if not path.exists():
            raise ResultsError(
                f"{path} not found; regenerate it: " + _regenerate(root, rel, False)
            )
        try:
            frame = pd.read_csv(path, dtype={"channel": str, "geometry": str, "state": str})
            frame = frame.set_index(list(POINT_COLUMNS))
        except Exception as exc:
            raise ResultsError(
                f"{path} cannot be read ({type(exc).__name__}: {exc}); regenerate it: "
                + _regenerate(root, rel, True)
            ) from exc
        missing = wanted.difference(frame.index)
        if len(missing):
            raise ResultsError(
                f"{path} lacks {len(missing)} row(s) of requested labels, e.g. "
                f"{dict(zip(POINT_COLUMNS, missing[0], strict=True))} (a table from an "
                "earlier config?); regenerate it: " + _regenerate(root, rel, True)
            )
        frames.append(frame)
    table = frames[0]
    for frame in frames[1:]:
        table = table.join(
            frame[[c for c in frame.columns if c not in table.columns]], how="outer"
        )
    for column in table.columns:
        if table[column].dtype == bool:
            table[column] = table[column].astype(float)
    ds = xr.Dataset.from_dataframe(table)
    ds = ds.reindex({**axes, "state": states})
    for name in ds.data_vars:
        if name.endswith("_censored") or name == "health_ok":
            ds[name].attrs["flag_values"] = "1: true, 0: false, NaN: no such label"
    return ds
