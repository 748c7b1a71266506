"""Reload a finished sweep as one labelled, lazily loaded dataset.

``qbsd.open_results("results")`` reads the label manifest the workflow writes
(``results/summary/labels.csv``: every requested label, the trajectory file of
the distinct point that serves it, and the cell and link maps into that
point) and its layout (``results/summary/layout.json``: the initial states,
the time grid and each trajectory variable's dims and attributes), and lays
the labels out on the grid's axes::

    channel, n_cells, geometry, J, gamma12, state, time      energy, ergotropy, ...
    ... , cell, time                                        population
    ... , link, time                                        concurrence

``cell`` runs over 0..max(N)-1 and ``link`` over 0..max(links)-1; entries past
a label's own cells or links are NaN (``link_name`` says which link is which
for each geometry, "" where padded). Combinations of the axes that were not
requested, or were skipped as unphysical, are NaN throughout; ``requested``
marks the labels that exist. The summary tables (``results/summary``) are
added alongside as variables over ``channel, n_cells, geometry, J, gamma12,
state``.

Opening reads no trajectory: the arrays are dask arrays with one chunk per
label, built from the manifest alone, so a sweep of 10^4 files opens in a
second or two. A missing file is reported at once (one ``stat`` per file). A
label's chunk reads its file when it is first computed, through
:func:`qbsd.dataset.read_netcdf`, which checks the checksum of the file's
whole content (attribute ``checksum``; HDF5 adds a Fletcher-32 checksum per
chunk), and checks that the file holds the manifest's point, the study's
states and time grid. A file that fails raises :class:`ResultsError` naming
it and the command that regenerates it, at that compute: no number from a
damaged, truncated or stale file is ever used, and nothing is silently left
NaN. The decoded files are kept in a small per-process cache keyed by path,
modification time, size and inode, so reading several variables of one label
reads its file once (:mod:`qbsd.label_reader`). ``verify=True`` checks every
file at open time instead. A summary table that lacks a requested label is
reported at open time.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import operator
import os
from collections.abc import Mapping
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.highlevelgraph import HighLevelGraph

from .dataset import HEALTH, VARIABLES
from .label_reader import (
    LABEL_DIMS,
    LAYOUT_FORMAT,
    LAYOUT_NAME,
    LabelSource,
    Layout,
    ResultsError,
    TrajectoryFile,
    clear_cache,
    label_blocks,
    missing_error,
    read_trajectory,
    regenerate_command,
    verify_all,
)
from .summaries import DISORDER_TABLES, POINT_COLUMNS
from .summaries import SUMMARY_TABLES as TABLE_COLUMNS

__all__ = [
    "LABEL_DIMS",
    "LAYOUT_FORMAT",
    "LAYOUT_NAME",
    "SUMMARY_TABLES",
    "ResultsError",
    "clear_cache",
    "open_results",
]


#: The summary tables merged in: those with a row for every label and state.
SUMMARY_TABLES = tuple(kind for kind in TABLE_COLUMNS if kind not in DISORDER_TABLES)

# --------------------------------------------------------------------------
# the manifest and its layout


def _read_manifest(root: Path) -> tuple[pd.DataFrame, str]:
    """The manifest (label columns parsed) and the sha256 of its bytes."""
    path = root / "summary" / "labels.csv"
    if not path.exists():
        raise ResultsError(
            f"{path} not found: it is the label manifest the workflow writes with its "
            f"summary tables; run `snakemake --cores 2` in {root.resolve().parent} "
            "(or pass the results directory of a finished run)"
        )
    try:
        raw = path.read_bytes()
        manifest = pd.read_csv(io.BytesIO(raw), keep_default_na=False, dtype=str)
    except Exception as exc:
        raise ResultsError(
            f"{path} cannot be read ({exc}); regenerate it: "
            + regenerate_command(root, "summary/labels.csv", True)
        ) from exc
    needed = (*LABEL_DIMS, "trajectory", "links", "cell_map", "link_map")
    missing = [c for c in needed if c not in manifest]
    if missing:
        raise ResultsError(
            f"{path} lacks the columns {missing}; regenerate it: "
            + regenerate_command(root, "summary/labels.csv", True)
        )
    for dim in LABEL_DIMS:  # numbers where every value is one (int, else float)
        try:
            manifest[dim] = pd.to_numeric(manifest[dim])
        except (ValueError, TypeError):
            pass
    return manifest, hashlib.sha256(raw).hexdigest()


def _layout_from_json(path: Path, labels_sha256: str) -> Layout | None:
    """The layout beside the manifest; None when absent or not written with it."""
    try:
        layout = json.loads(path.read_text(encoding="utf-8"))
        if layout.get("format") != LAYOUT_FORMAT or layout["labels_sha256"] != labels_sha256:
            return None
        return Layout(
            states=tuple(map(str, layout["states"])),
            times=np.asarray(layout["time"]["values"], dtype=float),
            time_attrs=dict(layout["time"]["attrs"]),
            variables={
                name: (tuple(spec["dims"]), dict(spec["attrs"]))
                for name, spec in layout["variables"].items()
            },
            sizes={k: int(v) for k, v in layout.get("sizes", {}).items()},
            source=str(layout.get("source", "qbsd")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


_STANDARD_DIMS = ("state", "time", "cell", "link")


def _layout_from_file(file: TrajectoryFile, manifest: pd.DataFrame) -> Layout:
    """The layout of a results directory written without one: from one trajectory
    (and the states of every label, where the manifest lists them).

    The variables the workflow's layout lists (``qbsd.dataset.VARIABLES`` and
    ``HEALTH``) that the file has; per-state event times and peaks come from
    the summary tables instead (they hold each label's own link-based values).
    """
    decoded = read_trajectory(file)
    variables, sizes = {}, {}
    for name in (*VARIABLES, *HEALTH):
        if name not in decoded.variables:
            continue
        dims, values, attrs = decoded.variables[name]
        variables[name] = (dims, {k: attrs[k] for k in ("units", "long_name") if k in attrs})
        for dim, size in zip(dims, values.shape, strict=True):
            if dim not in _STANDARD_DIMS:
                sizes[dim] = size
    if "states" in manifest:
        states = tuple(dict.fromkeys(s for text in manifest["states"] for s in text.split()))
    else:
        states = tuple(decoded.states)
    return Layout(
        states=states,
        times=decoded.times,
        time_attrs=dict(decoded.variables["time"][2]),
        variables=variables,
        sizes=sizes,
        source=str(decoded.attrs.get("source", "qbsd")),
    )


# --------------------------------------------------------------------------
# the lazy arrays


def _files(root: Path, manifest: pd.DataFrame) -> tuple[dict[str, TrajectoryFile], str]:
    """One :class:`TrajectoryFile` per trajectory, each checked to exist; their stats digested."""
    counts = manifest["trajectory"].value_counts(sort=False).to_dict()
    first = manifest.drop_duplicates("trajectory")
    rels = first["trajectory"].tolist()
    points = first["point"].tolist() if "point" in first else [""] * len(rels)
    examples = zip(*(first[dim].tolist() for dim in LABEL_DIMS), strict=True)
    base = str(root)
    digest = hashlib.sha256(str(root.resolve()).encode())
    files = {}
    for rel, point, example in zip(rels, points, examples, strict=True):
        file = TrajectoryFile(base, rel, os.path.join(base, rel), point, counts[rel], example)
        try:
            st = os.stat(file.path)
        except FileNotFoundError:
            raise missing_error(file) from None
        digest.update(f"{rel}\0{st.st_mtime_ns}\0{st.st_size}\0{st.st_ino}\n".encode())
        files[rel] = file
    return files, digest.hexdigest()[:24]


def _axes(manifest: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each label axis's values: numbers sorted, text in order of first appearance."""
    axes = {}
    for dim in LABEL_DIMS:
        values = pd.unique(manifest[dim])
        if pd.api.types.is_numeric_dtype(manifest[dim]):
            axes[dim] = np.sort(np.asarray(values))
        else:
            axes[dim] = np.asarray(values, dtype=object)
    return axes


def _lazy(
    token: str,
    sources: list[LabelSource],
    where: list[tuple[int, ...]],
    requested: np.ndarray,
    sizes: Mapping[str, int],
) -> dict[str, da.Array]:
    """A dask array per trajectory variable: one chunk per cell of the label grid.

    One task per label reads its file (:func:`label_blocks`); each variable's
    chunk of that label picks its block, and the grid's unrequested cells all
    point at one NaN block per variable. Built as a graph directly: a stack of
    10^4 small arrays would take minutes.
    """
    labels = f"qbsd-labels-{token}"
    label_keys = [(labels, k) for k in range(len(sources))]
    label_tasks = dict(zip(label_keys, [(label_blocks, src) for src in sources], strict=True))
    label_shape = requested.shape
    unrequested = list(map(tuple, np.argwhere(~requested).tolist()))
    layout = sources[0].layout
    arrays = {}
    for name, (dims, _) in layout.variables.items():
        tail = tuple(sizes[d] for d in dims)
        zeros = (0,) * len(dims)
        layer = f"qbsd-{name}-{token}"
        fill = f"{layer}-nan"
        tasks: dict = {fill: (np.full, (1,) * len(label_shape) + tail, np.nan)}
        head = (layer,)
        tasks.update(
            zip(
                [head + index + zeros for index in where],
                [(operator.getitem, key, name) for key in label_keys],
                strict=True,
            )
        )
        # an alias each: one NaN block for all the grid's unrequested cells
        tasks.update(dict.fromkeys([head + index + zeros for index in unrequested], fill))
        graph = HighLevelGraph(
            {labels: label_tasks, layer: tasks}, {labels: set(), layer: {labels}}
        )
        chunks = tuple((1,) * n for n in label_shape) + tuple((n,) for n in tail)
        meta = np.empty((0,) * len(chunks), dtype=float)
        arrays[name] = da.Array(graph, layer, chunks, dtype=float, meta=meta)
    return arrays


_AXIS_ATTRS = {
    "n_cells": {"long_name": "number of cells N"},
    "J": {"long_name": "exchange coupling J/Gamma", "units": "Gamma"},
    "gamma12": {"long_name": "collective rate Gamma_12/Gamma", "units": "Gamma"},
    "n_th": {"long_name": "mean thermal occupation of the bath", "units": "1"},
    "W": {"long_name": "local-field disorder strength", "units": "Gamma"},
    "W_J": {"long_name": "coupling disorder strength", "units": "Gamma"},
    "channel": {"long_name": "dissipative channel"},
    "geometry": {"long_name": "network geometry"},
    "state": {"long_name": "initial state"},
    "cell": {"long_name": "cell index (padded to the largest N)"},
    "link": {"long_name": "link position (padded to the most links)"},
    "realisation": {
        "long_name": "disorder realisation (a clean point: the first; padded to the most)"
    },
}


def open_results(
    path: str | os.PathLike = "results", summaries: bool = True, verify: bool = False
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
        Also read and check every trajectory now (one file at a time; slow for
        a large sweep). By default each file is checked when its data is first
        computed.

    Returns
    -------
    xarray.Dataset
        Dims ``channel, n_cells, geometry, J, gamma12, state, time, cell, link``;
        dask-backed trajectory variables, one chunk per label; ``requested``
        marks the labels present.

    Raises
    ------
    ResultsError
        The manifest or a summary table is missing or inconsistent, or a
        trajectory is missing (here), or damaged, truncated or stale (here
        with ``verify``, else when its data is computed); the message names
        the file and the command that regenerates it.
    """
    # The graph is some 10^5 small tuples for 10^4 labels: each full garbage
    # collection that their allocation triggers would walk them all again.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _open(Path(path), summaries, verify)
    finally:
        if enabled:
            gc.enable()


def _open(root: Path, summaries: bool, verify: bool) -> xr.Dataset:
    manifest, labels_sha256 = _read_manifest(root)
    if manifest.empty:
        raise ResultsError(f"{root / 'summary' / 'labels.csv'} lists no labels")
    files, token = _files(root, manifest)
    layout = _layout_from_json(root / "summary" / LAYOUT_NAME, labels_sha256)
    if layout is None:  # written before layouts, or by hand: take it from a trajectory
        layout = _layout_from_file(next(iter(files.values())), manifest)
    if "states" not in manifest:  # every label has every state
        manifest["states"] = " ".join(layout.states)

    axes = _axes(manifest)
    index = np.stack(
        [pd.Index(axes[dim]).get_indexer(manifest[dim]) for dim in LABEL_DIMS], axis=1
    )
    requested = np.zeros(tuple(len(v) for v in axes.values()), dtype=bool)
    requested[tuple(index.T)] = True
    if requested.sum() != len(manifest):
        twice = manifest[manifest.duplicated(list(LABEL_DIMS), keep=False)]
        raise ResultsError(
            f"{root / 'summary' / 'labels.csv'} lists a label more than once, e.g. "
            f"{twice.iloc[0][list(LABEL_DIMS)].to_dict()}; regenerate it: "
            + regenerate_command(root, "summary/labels.csv", True)
        )
    where = list(map(tuple, index.tolist()))
    cell_maps, link_maps = manifest["cell_map"].tolist(), manifest["link_map"].tolist()
    sizes = {
        "state": len(layout.states),
        "time": len(layout.times),
        "cell": max(len(text.split()) for text in cell_maps),
        "link": max(len(text.split()) for text in link_maps),
        **layout.sizes,
    }
    columns = zip(
        manifest["trajectory"].tolist(),
        zip(*(manifest[dim].tolist() for dim in LABEL_DIMS), strict=True),
        manifest["states"].tolist(),
        cell_maps,
        link_maps,
        strict=True,
    )
    sources = [
        LabelSource(files[rel], label, states, cells, links, layout, sizes)
        for rel, label, states, cells, links in columns
    ]
    if verify:
        verify_all(sources)
    coords = {
        **{dim: (dim, values) for dim, values in axes.items()},
        "state": ("state", np.asarray(layout.states, dtype=object)),
        "time": ("time", layout.times, dict(layout.time_attrs)),
        "cell": ("cell", np.arange(sizes["cell"])),
        "link": ("link", np.arange(sizes["link"])),
        **{dim: (dim, np.arange(size)) for dim, size in layout.sizes.items()},
    }
    result = xr.Dataset(coords=coords)
    arrays = _lazy(token, sources, where, requested, sizes)
    for name, (dims, attrs) in layout.variables.items():
        result[name] = (LABEL_DIMS + dims, arrays[name], dict(attrs))
    _add_label_maps(result, manifest, index, requested)
    for name, attrs in _AXIS_ATTRS.items():
        if name in result.coords:
            result[name].attrs.update(attrs)
    if summaries:
        result = result.merge(
            _summary_variables(root, axes, list(layout.states), manifest), join="left"
        )
    result.attrs = {
        "title": "qbsd sweep: every requested label on the grid's axes",
        "source": layout.source,
        "results": str(root.resolve()),
        "n_trajectories": len(files),
        "n_labels": len(manifest),
    }
    return result


def _add_label_maps(
    result: xr.Dataset, manifest: pd.DataFrame, index: np.ndarray, requested: np.ndarray
) -> None:
    """``requested``, ``trajectory`` and ``link_name`` from the manifest."""
    trajectory = np.full(requested.shape, "", dtype=object)
    trajectory[tuple(index.T)] = manifest["trajectory"].to_numpy(dtype=object)
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
    n_index = pd.Index(result["n_cells"].values)
    g_index = pd.Index(result["geometry"].values)
    link_name = np.full((len(n_index), len(g_index), result.sizes["link"]), "", dtype=object)
    links = manifest.drop_duplicates(["n_cells", "geometry"])
    for n, g, text in zip(links["n_cells"], links["geometry"], links["links"], strict=True):
        names = text.split()
        link_name[n_index.get_loc(n), g_index.get_loc(g), : len(names)] = names
    result["link_name"] = (
        ("n_cells", "geometry", "link"),
        link_name.astype(str),
        {"long_name": "linked cell pair n-m of each link position (empty: padding)"},
    )


def _summary_variables(
    root: Path, axes: dict, states: list[str], manifest: pd.DataFrame
) -> xr.Dataset:
    labels = manifest[list(LABEL_DIMS)].itertuples(index=False, name=None)
    wanted = pd.MultiIndex.from_tuples(
        [
            (*row, state)
            for row, own in zip(labels, manifest["states"].tolist(), strict=True)
            for state in own.split()
        ],
        names=list(POINT_COLUMNS),
    )
    frames = []
    for kind in SUMMARY_TABLES:
        path = root / "summary" / f"{kind}.csv"
        rel = f"summary/{kind}.csv"
        if not path.exists():
            raise ResultsError(
                f"{path} not found; regenerate it: " + regenerate_command(root, rel, False)
            )
        try:
            frame = pd.read_csv(path, dtype={"channel": str, "geometry": str, "state": str})
            frame = frame.set_index(list(POINT_COLUMNS))
        except Exception as exc:
            raise ResultsError(
                f"{path} cannot be read ({type(exc).__name__}: {exc}); regenerate it: "
                + regenerate_command(root, rel, True)
            ) from exc
        missing = wanted.difference(frame.index)
        if len(missing):
            raise ResultsError(
                f"{path} lacks {len(missing)} row(s) of requested labels, e.g. "
                f"{dict(zip(POINT_COLUMNS, missing[0], strict=True))} (a table from an "
                "earlier config?); regenerate it: " + regenerate_command(root, rel, True)
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
