"""The trajectory dataset of one point: one builder shared by every solver path.

Layout and names follow the README ("Using the package"); CF-style ``units``
and ``long_name`` on every variable, provenance in the global attributes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from importlib import metadata
from pathlib import Path

import numpy as np
import xarray as xr

from .model.channels import declared_parameters
from .observables.events import EVENT_SAMPLES, EVENTS
from .observables.measures import MEASURES
from .storage import DiskFullError, atomic_path  # noqa: F401 (part of this module's API)

#: Time series derived here from the measures, the same way for every solver path.
DERIVED = {
    "efficiency": (("state", "time"), "1", "efficiency xi = E/U"),
    "concurrence_mean": (("state", "time"), "1", "link-averaged concurrence"),
}

#: Every time series: name -> (dims, units, long_name); the measures as declared
#: in ``measures.MEASURES``.
VARIABLES = {
    **{m.name: (("state", *m.per, "time"), m.units, m.long_name) for m in MEASURES},
    **DERIVED,
}

HEALTH = {
    "max_trace_error": ("1", "largest |tr(rho) - 1| over the trajectory"),
    "min_eigenvalue": ("1", "most negative eigenvalue of rho over the trajectory"),
    "max_hermiticity_error": ("1", "largest |rho - rho^dagger| entry over the trajectory"),
}

# Thresholds of the numerical-health flags: past them a run warns, never silently wrong.
HEALTH_LIMITS = {"max_trace_error": 1e-8, "min_eigenvalue": -1e-8, "max_hermiticity_error": 1e-8}

#: zlib compression, and a Fletcher-32 checksum per chunk (HDF5 filter): a
#: corrupted chunk fails to read instead of returning wrong numbers.
ENCODING = {"zlib": True, "complevel": 4, "fletcher32": True}

#: Bytes of HDF5 metadata (superblock, headers, attributes) a file needs beyond its data.
NETCDF_OVERHEAD = 64 * 1024

#: HDF5 (under netCDF4) is not thread-safe and xarray's own locks do not cover
#: a whole ``to_netcdf``: jobs that run as threads of one snakemake process
#: (profiles/default sets ``force-use-threads``) crash it when two of them
#: touch NetCDF files at once. Every eager read and write here holds this lock.
NETCDF_LOCK = threading.RLock()


def library_versions() -> dict[str, str]:
    """Installed versions of qbsd and the libraries its numbers depend on."""
    return dict(_installed_versions())


# Looked up once per process: each lookup scans site-packages (~7 ms), and a
# small point's file needs three of them; installs do not change under a run.
@functools.cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    versions = []
    for name in ("qbsd", "qutip", "numpy", "scipy", "xarray", "netCDF4"):
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "unknown"))
    return tuple(versions)


def build_dataset(
    *,
    point,
    states: list[str],
    times: np.ndarray,
    series: dict[str, np.ndarray],
    events: dict[str, np.ndarray],
    peaks: dict[str, np.ndarray],
    health: dict[str, np.ndarray],
    settings: dict,
    solver_stats: dict,
) -> xr.Dataset:
    """Assemble the labelled trajectory dataset.

    ``series`` holds every measure of ``measures.MEASURES``, (S, T) or
    (S, N, T) per cell or (S, L, T) per link; efficiency and the link mean are
    derived here so every path computes them the same way. ``events`` holds
    every event time of ``events.EVENTS`` and every sample of
    ``events.EVENT_SAMPLES``, per state.
    """
    geometry = point.geometry
    energy = series["energy"]
    with np.errstate(divide="ignore", invalid="ignore"):
        efficiency = np.where(energy > 0, series["ergotropy"] / energy, np.nan)
    concurrence = series["concurrence"]
    if concurrence.shape[1]:
        concurrence_mean = concurrence.mean(axis=1)
    else:
        concurrence_mean = np.full(energy.shape, np.nan)
    data = {m.name: series[m.name] for m in MEASURES}
    data.update(efficiency=efficiency, concurrence_mean=concurrence_mean)
    coords = {
        "time": ("time", np.asarray(times, float), {"units": "1/Gamma", "long_name": "time"}),
        "state": ("state", np.array(states, dtype=object), {"long_name": "initial state"}),
        "cell": ("cell", np.arange(point.n_cells), {"long_name": "cell index"}),
        "link": (
            "link",
            np.array(geometry.link_labels, dtype=object),
            {"long_name": "linked cell pair n-m"},
        ),
    }
    # Variables are collected first and the dataset is built once: adding them
    # one by one aligns the whole dataset each time (~0.1 s for a small point).
    variables = {}
    for name, (dims, units, long_name) in VARIABLES.items():
        attrs = {"units": units, "long_name": long_name}
        if name == "concurrence_mean" and not geometry.edges:
            attrs["comment"] = "undefined without links (N = 1)"
        variables[name] = (dims, np.asarray(data[name], float), attrs)
    for spec in EVENTS:
        variables[spec.name] = (
            ("state",),
            np.asarray(events[spec.name], float),
            {"units": "1/Gamma", "long_name": spec.long_name + " (NaN: not reached by t_max)"},
        )
    for sample in EVENT_SAMPLES:
        variables[sample.name] = (
            ("state",),
            np.asarray(events[sample.name], float),
            {"units": sample.units, "long_name": sample.long_name},
        )
    variables["concurrence_mean_peak"] = (
        ("state",),
        np.asarray(peaks["value"], float),
        {"units": "1", "long_name": "largest link-mean concurrence"},
    )
    variables["concurrence_mean_peak_time"] = (
        ("state",),
        np.asarray(peaks["time"], float),
        {"units": "1/Gamma", "long_name": "time of the largest link-mean concurrence"},
    )
    for name, (units, long_name) in HEALTH.items():
        variables[name] = (
            ("state",),
            np.asarray(health[name], float),
            {"units": units, "long_name": long_name},
        )
    variables["edge_n"] = (
        "link",
        np.array([e[0] for e in geometry.edges], dtype=np.int64),
        {"long_name": "first cell of the link"},
    )
    variables["edge_m"] = (
        "link",
        np.array([e[1] for e in geometry.edges], dtype=np.int64),
        {"long_name": "second cell of the link"},
    )
    for key, value, long_name, units in (
        ("n_cells", point.n_cells, "number of cells N", "1"),
        ("J", float(point.J), "exchange coupling J/Gamma", "Gamma"),
        ("gamma12", float(point.gamma12), "collective rate Gamma_12/Gamma", "Gamma"),
    ):
        coords[key] = ((), value, {"long_name": long_name, "units": units})
    coords["geometry"] = ((), geometry.label, {"long_name": "network geometry"})
    coords["channel"] = ((), point.channel, {"long_name": "dissipative channel"})
    # every channel parameter of the study (n_th), NaN where the channel has none
    for name, parameter in declared_parameters().items():
        attrs = {"long_name": parameter.long_name, "units": parameter.units}
        coords[name] = ((), float(point.parameter(name)), attrs)
    ds = xr.Dataset(variables, coords=coords)
    flags = health_flags(ds)
    versions = library_versions()
    ds.attrs = {
        "Conventions": "CF-1.10",
        "title": "Self-discharging of an N-cell quantum battery: one parameter point",
        "source": "qbsd " + versions["qbsd"],
        "channel_definition": point.spec.description,
        "frame": "rotating with H0 (omega0 drops out of every stored quantity)",
        "versions": json.dumps(versions, sort_keys=True),
        "settings": json.dumps(settings, sort_keys=True, default=str),
        "solver_stats": json.dumps(solver_stats, sort_keys=True, default=str),
        "health_flags": ",".join(flags),
        "health_ok": int(not flags),
    }
    for key in ("rtol", "atol", "method"):
        if key in settings:
            ds.attrs[f"solver_{key}"] = settings[key]
    return ds


def health_flags(ds: xr.Dataset) -> list[str]:
    """The health diagnostics of ``ds`` (every state, or one selected) past HEALTH_LIMITS.

    A diagnostic that is NaN counts as past its limit: unknown is not healthy.
    """
    flags = []
    for name, limit in HEALTH_LIMITS.items():
        values = np.asarray(ds[name].values, float)
        if name == "min_eigenvalue":
            healthy = np.all(values >= limit)
        else:
            healthy = np.all(values <= limit)
        if not healthy:
            flags.append(name)
    return flags


#: Global attribute holding :func:`content_checksum` of the rest of the file.
CHECKSUM_ATTR = "checksum"


class DamagedFileError(OSError):
    """A NetCDF file whose content no longer matches the checksum it was written with."""


def _plain(value):
    if isinstance(value, str):
        return value
    return np.atleast_1d(np.asarray(value)).ravel().tolist()


def content_checksum(ds: xr.Dataset) -> str:
    """``sha256:<hex>`` of every variable (name, dims, values, attributes) and the global
    attributes but :data:`CHECKSUM_ATTR`, as they read back from a NetCDF file.

    Catches what HDF5 does not: a damaged chunk index reads back as fill values,
    a damaged attribute as other text, without any error.
    """
    digest = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        values = np.asarray(ds.variables[name].values)
        if values.size == 0:  # an empty text coordinate reads back as float
            data, kind = b"", "empty"
        elif values.dtype.kind in "fiub":
            if values.dtype.kind == "f":
                values = np.where(np.isnan(values), np.nan, values)
            data = np.ascontiguousarray(values).tobytes()
            kind = values.dtype.str
        else:  # text: object, str or bytes, as NetCDF characters come back
            data = "\x1f".join(map(str, values.ravel())).encode()
            kind = "text"
        attrs = {k: _plain(v) for k, v in ds.variables[name].attrs.items()}
        digest.update(repr((name, ds.variables[name].dims, values.shape, kind)).encode())
        digest.update(data)
        digest.update(json.dumps(attrs, sort_keys=True, default=str).encode())
    attrs = {k: _plain(v) for k, v in ds.attrs.items() if k != CHECKSUM_ATTR}
    digest.update(json.dumps(attrs, sort_keys=True, default=str).encode())
    return "sha256:" + digest.hexdigest()


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` compressed and atomically: a unique temporary file, then rename.

    Records :func:`content_checksum` as the ``checksum`` attribute (also in
    ``ds.attrs``); :func:`read_netcdf` checks it. A write that fails for lack
    of space raises :class:`DiskFullError` and leaves nothing behind.
    """
    path = Path(path)
    ds.attrs[CHECKSUM_ATTR] = content_checksum(ds)
    encoding = {
        name: dict(ENCODING)
        for name, var in ds.variables.items()
        if var.dtype.kind in "fiu" and var.ndim > 0
    }
    # Text as fixed-width characters, not HDF5 variable-length strings: with
    # those, reopening a file that another handle holds open crashes
    # netCDF-C/HDF5 (Unidata/netcdf4-python#1444, pydata/xarray#8289), which
    # a second qbsd.open_results of the same sweep would do. Reads back as str.
    encoding.update(
        {name: {"dtype": "S1"} for name, var in ds.variables.items() if var.dtype.kind in "OUS"}
    )
    # A full disk surfaces from netCDF4 as "Permission denied" or "HDF error";
    # atomic_path reports it as DiskFullError when less than the uncompressed
    # size (plus HDF5 metadata) was free.
    with atomic_path(path, needed=int(ds.nbytes) + NETCDF_OVERHEAD) as tmp, NETCDF_LOCK:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


def read_netcdf(path: str | os.PathLike) -> xr.Dataset:
    """Load a whole NetCDF file into memory (thread-safe; the file is closed after).

    Raises :class:`DamagedFileError` when the file has a ``checksum`` attribute
    and its content no longer matches it.
    """
    with NETCDF_LOCK, xr.open_dataset(path, engine="netcdf4") as ds:
        loaded = ds.load()
    recorded = loaded.attrs.get(CHECKSUM_ATTR)
    if recorded is not None and content_checksum(loaded) != recorded:
        raise DamagedFileError(
            f"{path}: the content does not match the checksum it was written with "
            "(the file is damaged)"
        )
    return loaded
