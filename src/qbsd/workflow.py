"""The functions the Snakemake rules call: provenance, the summaries, the manifest.

Rules stay thin: ``workflow/rules/simulate.smk`` calls ``qbsd.jobs.simulate_batch``
(each point through :func:`simulate_settings`) and ``workflow/rules/summarise.smk``
calls :func:`summarise`. Everything here is plain Python and unit-tested.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shlex
import sys
import time as _time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import paths
from .dataset import HEALTH_LIMITS, atomic_path, library_versions, read_netcdf, write_netcdf
from .model.geometry import NAMED_GEOMETRIES, Geometry
from .points import LABEL_KEYS, Study
from .simulate import simulate
from .summaries import DISORDER_TABLES, table, to_xarray
from .summaries import SUMMARY_TABLES as SUMMARY_COLUMNS

SUMMARY_TABLES = tuple(SUMMARY_COLUMNS)

#: Settings of a point that only some points have (a channel parameter, disorder).
POINT_EXTRAS = ("n_th", "W", "W_J", "realisations")

# Summary columns that need links; NaN for labels without links even when
# the shared simulation has some (the all-to-all graph of uncoupled points).
LINK_COLUMNS = (
    "concurrence_mean_peak",
    "concurrence_mean_peak_time",
    "entanglement_birth_time",
    "entanglement_death_time",
)


# --------------------------------------------------------------------------
# provenance and resources


def settings_hash(settings: Mapping) -> str:
    """Short digest of the validated config that a point's trajectory depends on."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def qbsd_version() -> str:
    return library_versions()["qbsd"]


#: Subpackages whose code decides a trajectory's numbers: every module in them counts.
PHYSICS_PACKAGES = ("model", "dynamics", "observables")
#: Top-level modules that decide a trajectory's numbers (not plots or workflow glue).
PHYSICS_MODULES = ("dataset", "disorder", "linalg", "realisations", "simulate")


def physics_sources(package: Path | None = None) -> list[Path]:
    """The source files ``code_version`` digests, in a fixed order."""
    package = Path(__file__).parent if package is None else package
    sources = []
    for name in PHYSICS_PACKAGES:
        sources += sorted((package / name).rglob("*.py"))
    sources += [package / f"{name}.py" for name in PHYSICS_MODULES]
    return [path for path in sources if path.exists()]


def code_version() -> str:
    """qbsd version plus a digest of the physics sources (a rerun trigger).

    Editing any module that computes trajectories (``physics_sources``) reruns
    every point, even without a version bump; figures and workflow glue do not
    count.
    """
    digest = hashlib.sha256()
    package = Path(__file__).parent
    for path in physics_sources(package):
        name = path.relative_to(package).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes())
    return f"{qbsd_version()}+{digest.hexdigest()[:12]}"


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files (``.<name>.*.part``) a killed writer left next to ``path``.

    :func:`qbsd.dataset.write_netcdf` and the CSV writer here write to a unique
    ``.<name>.<random>.part`` sibling and rename it over ``path``; a SIGKILL
    between the two leaves the ``.part`` behind. The job that (re)makes
    ``path`` calls this first, so a resumed run (``--rerun-incomplete``) leaves
    no partial file. Only the job owning ``path`` may call it: Snakemake runs
    one job per output, and its directory lock keeps a second run out.
    """
    path = Path(path)
    removed = []
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{glob.escape(path.name)}.*.part"):
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def health_warning(ds: xr.Dataset, what: str) -> str | None:
    """A one-line warning when a trajectory's numerical-health flags tripped, else None."""
    flags = [f for f in str(ds.attrs.get("health_flags", "")).split(",") if f]
    if not flags:
        return None
    parts = []
    for name in flags:
        values = ", ".join(
            f"{state}={value:.3g}"
            for state, value in zip(ds["state"].values, ds[name].values, strict=True)
        )
        parts.append(f"{name} ({values}; limit {HEALTH_LIMITS[name]:g})")
    return (
        f"WARNING: numerical health of {what}: {'; '.join(parts)}. Tighten solver.rtol/atol "
        "or change solver.method; the summary tables mark these rows health_ok = False."
    )


# --------------------------------------------------------------------------
# one simulation job


def _geometry(settings: Mapping) -> Geometry:
    name = settings["geometry"] if settings["geometry"] in NAMED_GEOMETRIES else "custom"
    edges = tuple(sorted((int(a), int(b)) for a, b in settings["edges"]))
    return Geometry(int(settings["n_cells"]), edges, name)


def simulate_settings(settings: Mapping, progress=None) -> xr.Dataset:
    """``qbsd.simulate`` of a point given by its settings (``Study.point_settings``).

    ``progress`` is passed on to ``qbsd.simulate`` (a ``qbsd.progress.ProgressReporter``).
    """
    return simulate(
        int(settings["n_cells"]),
        _geometry(settings),
        float(settings["J"]),
        float(settings["gamma12"]),
        settings["channel"],
        list(settings["states"]),
        float(settings["t_max"]),
        int(settings["n_points"]),
        rtol=float(settings["rtol"]),
        atol=float(settings["atol"]),
        method=settings["method"],
        progress=progress,
        **{key: settings[key] for key in POINT_EXTRAS if key in settings},
    )


# --------------------------------------------------------------------------
# summaries


def point_summary(path: str | os.PathLike) -> pd.DataFrame:
    """Summary rows of one trajectory file, every state (checksum verified)."""
    from .summaries import summarize_point

    return summarize_point(read_netcdf(path))


def point_summaries(paths_: Sequence[str], processes: int = 0) -> list[pd.DataFrame]:
    """:func:`point_summary` of each path, in order.

    With ``processes > 1`` the files are read in the shared worker pool
    (``qbsd.jobs.worker_pool``): reading and checking a file costs more than
    summarising it, and a sweep of 10^4 files read in one process takes minutes.
    """
    if processes > 1 and len(paths_) > 1:
        from .jobs import worker_pool

        chunk = max(1, min(64, len(paths_) // (8 * processes)))
        return list(worker_pool(processes).map(point_summary, paths_, chunksize=chunk))
    return [point_summary(path) for path in paths_]


def label_rows(
    study: Study, results: str | os.PathLike = paths.RESULTS, processes: int = 0
) -> pd.DataFrame:
    """Summary rows (``qbsd.summaries.summarize``) of every label and state.

    Each distinct trajectory is read once (in ``processes`` worker processes,
    see :func:`point_summaries`); its rows are copied to every label it
    serves, with that label's own axes values and states.
    """
    results = Path(results)
    order = {id(a): k for k, a in enumerate(study.assignments)}
    point_ids = list(study.labels_of)
    summaries = point_summaries(
        [str(results / study.points[pid].relpath) for pid in point_ids], processes
    )
    frames = []
    for point_id, rows in zip(point_ids, summaries, strict=True):
        for a in study.labels_of[point_id]:
            frame = rows[rows["state"].isin(a.states)].copy()  # the label's own states
            for key, value in a.label.as_dict().items():
                frame[key] = value
            if not a.edges:
                for column in LINK_COLUMNS:
                    frame[column] = np.nan
            frame["_order"] = order[id(a)]
            frames.append(frame)
    if not frames:
        raise ValueError("the study has no labels to summarise")
    frame = pd.concat(frames, ignore_index=True)
    frame["_state"] = frame["state"].map({s: k for k, s in enumerate(study.states)})
    frame = frame.sort_values(["_order", "_state"], kind="stable")
    return frame.drop(columns=["_order", "_state"]).reset_index(drop=True)


def _atomic_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    # atomic_path creates the folder and turns a full disk into DiskFullError.
    path = Path(path)
    remove_stale_temporaries(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, na_rep="")


def write_manifest(study: Study, labels_csv: str | os.PathLike, skipped_csv: str | os.PathLike):
    """``labels.csv`` (label -> trajectory, cell and link maps) and ``skipped.csv``.

    Also ``layout.json`` beside ``labels.csv`` (:func:`write_layout`).
    """
    columns = list(LABEL_KEYS)
    manifest = pd.DataFrame(
        study.manifest_rows(),
        columns=[
            *columns,
            *("point", "trajectory", "links", "cell_map", "link_map", "paper", "states"),
        ],
    )
    _atomic_csv(manifest, labels_csv)
    skipped = pd.DataFrame(study.skipped_rows(), columns=[*columns, "state", "reason"])
    _atomic_csv(skipped, skipped_csv)
    write_layout(study, labels_csv)


def write_layout(study: Study, labels_csv: str | os.PathLike) -> Path:
    """``layout.json`` beside ``labels.csv``: what every trajectory of ``study`` shares.

    The states, the time grid and each variable's dims and attributes, tied to
    the manifest by its sha256: ``qbsd.open_results`` builds its lazy arrays
    from the two without opening a trajectory. With disordered points, every
    variable has a leading ``realisation`` dim as long as the most realisations
    (a clean point fills its first entry).
    """
    from .dataset import HEALTH, VARIABLES
    from .realisations import DIM
    from .results import LAYOUT_FORMAT, LAYOUT_NAME
    from .simulate import time_grid

    labels_csv = Path(labels_csv)
    variables = {
        name: {"dims": list(dims), "attrs": {"units": units, "long_name": long_name}}
        for name, (dims, units, long_name) in VARIABLES.items()
    }
    for name, (units, long_name) in HEALTH.items():
        variables[name] = {"dims": ["state"], "attrs": {"units": units, "long_name": long_name}}
    sizes = {}  # extent of any dim beyond state, time, cell and link
    realisations = max((p.realisations for p in study.points.values()), default=0)
    if realisations:  # qbsd.realisations: each variable that depends on the state gains it
        sizes[DIM] = realisations
        for spec in variables.values():
            spec["dims"] = [DIM, *spec["dims"]]
    times = time_grid(study.config["time"]["t_max"], study.config["time"]["n_points"])
    layout = {
        "format": LAYOUT_FORMAT,
        "labels_sha256": hashlib.sha256(labels_csv.read_bytes()).hexdigest(),
        "states": study.states,
        # the time coordinate as dataset.build_dataset writes it
        "time": {"values": times.tolist(), "attrs": {"units": "1/Gamma", "long_name": "time"}},
        "variables": variables,
        "sizes": sizes,
        "source": "qbsd " + qbsd_version(),
    }
    path = labels_csv.with_name(LAYOUT_NAME)
    remove_stale_temporaries(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(layout, indent=1) + "\n", encoding="utf-8")
    return path


def write_summaries(
    study: Study,
    outputs: Mapping[str, str],
    results: str | os.PathLike = paths.RESULTS,
    log: str | os.PathLike | None = None,
    command: str | None = None,
    processes: int = 0,
) -> dict[str, pd.DataFrame]:
    """Write every summary table (CSV and NetCDF), the label manifest and skipped.csv.

    ``outputs`` maps ``<table>_csv`` / ``<table>_nc`` for each of
    ``half_lives, xi0_scaling, quantumness`` and ``labels``, ``skipped`` to paths.
    Every table carries ``health_ok`` per row; rows that fail it are counted in
    the log and on stderr. The NetCDF tables carry the study's config, its
    hash, the library versions and ``command`` (default: this process's).
    The trajectories are read in ``processes`` worker processes (:func:`label_rows`).
    """
    started = _time.perf_counter()
    command = command if command is not None else shlex.join(sys.argv)
    frame = label_rows(study, results, processes)
    now = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime())
    provenance = {
        "config_hash": settings_hash(study.config),
        "config": json.dumps(study.config, sort_keys=True, default=str),
        "versions": json.dumps(library_versions(), sort_keys=True),
        "qbsd_version": qbsd_version(),
        "command": command,
        "history": f"{now} qbsd.workflow.write_summaries via: {command}",
    }
    tables = {}
    disordered = frame["n_realisations"].notna() if "n_realisations" in frame else None
    for kind in SUMMARY_TABLES:
        tables[kind] = table(frame, kind)
        if kind in DISORDER_TABLES:
            rows = disordered if disordered is not None else np.zeros(len(frame), bool)
            tables[kind] = tables[kind][rows].reset_index(drop=True)
        _atomic_csv(tables[kind], outputs[f"{kind}_csv"])
        ds = to_xarray(tables[kind])
        ds.attrs = {
            "title": f"qbsd summary table {kind}: one row per requested label and initial state",
            "source": "qbsd " + qbsd_version(),
            "Conventions": "CF-1.10",
            **provenance,
        }
        remove_stale_temporaries(outputs[f"{kind}_nc"])
        write_netcdf(ds, outputs[f"{kind}_nc"])
    write_manifest(study, outputs["labels"], outputs["skipped"])
    unhealthy = frame[~frame["health_ok"].astype(bool)]
    warning = None
    if len(unhealthy):
        shown = ", ".join(
            f"{r.channel}/N{r.n_cells}/{r.geometry}/J{r.J:g}_g{r.gamma12:g} {r.state}"
            for r in unhealthy.head(5).itertuples()
        )
        warning = (
            f"WARNING: {len(unhealthy)} of {len(frame)} summary rows failed the numerical-health "
            f"checks (health_ok = False), e.g. {shown}; see the simulate logs"
        )
        print(warning, file=sys.stderr, flush=True)
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w", encoding="utf-8") as out:
            out.write(
                f"{len(study.assignments)} labels x {len(study.states)} states from "
                f"{len(study.points)} distinct trajectories; {len(study.skipped)} labels "
                f"skipped as unphysical\n"
            )
            for kind, t in tables.items():
                out.write(f"{kind}: {len(t)} rows -> {outputs[f'{kind}_csv']}\n")
            out.write(f"health: {'OK' if warning is None else warning}\n")
            out.write(f"wall time: {_time.perf_counter() - started:.3f} s\n")
    return tables


def summary_outputs(results: str = paths.RESULTS) -> dict[str, str]:
    """The summarise rule's named outputs."""
    return paths.summary_outputs(SUMMARY_TABLES, results)


def summarise(
    study: Study,
    trajectories: Sequence[str],
    outputs: Mapping[str, str],
    log: str,
    processes: int = 0,
) -> dict[str, pd.DataFrame]:
    """The ``summarise`` rule: check its inputs are the study's trajectories, then write.

    ``trajectories`` is the rule's ``input`` (never a command line); ``outputs``
    its named outputs (see :func:`summary_outputs`); ``processes`` read the
    trajectories (:func:`label_rows`).
    """
    outputs = dict(outputs.items()) if hasattr(outputs, "items") else dict(outputs)
    results = paths.results_of_summary(outputs["labels"])
    expected = {str(results / p.relpath) for p in study.points.values()}
    given = {str(Path(t)) for t in trajectories}
    if expected - given:
        raise ValueError(
            "summarise: trajectories missing from the rule's input: "
            + ", ".join(sorted(expected - given)[:5])
        )
    return write_summaries(study, outputs, results=results, log=log, processes=processes)
