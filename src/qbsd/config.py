"""Validation of a study's configuration, in one place.

:func:`load_study` is what the workflow calls (``workflow/rules/common.smk``)
before any job exists: it fills the JSON schema's defaults into the config,
checks it against ``workflow/schemas/config.schema.yaml`` (``qbsd.schema``)
and then runs the checks a schema cannot express:

- values equal after rounding to 10 significant digits (they would share a
  path), non-finite numbers;
- custom geometries (``custom_geometries: {name: [[0, 1], [1, 2]]}``): valid
  edge lists, names that do not shadow the named geometries, their N listed
  in ``grid.n_cells``; every ``grid.geometry`` entry known;
- complete positivity of every label (``unphysical: error`` stops, ``skip``
  drops and records the label with the reason);
- the memory one simulation needs against this machine's memory, with the
  estimate of the solver that will run it (``qbsd.resources``; the backends
  decide which runs a point, e.g. the Dicke basis for the symmetric geometry
  above ``FULL_SPACE_MAX_CELLS`` cells);
- ``large_n`` (optional): the symmetric battery at large N, expanded into
  labels of geometry ``symmetric`` that join the grid's; every problem of
  its labels names a ``large_n.*`` key;
- ``paper_figures: true`` needs the paper's states.

Every problem found becomes one line of a single :class:`ConfigError` that
names the key, the value and what is allowed.

``python -m qbsd.config [FILE ...]`` checks config files the way
``snakemake --configfile FILE`` would read them (``config/config.yaml`` first,
then each FILE on top) and names the file of a YAML syntax error.
"""

from __future__ import annotations

import argparse
import copy
import functools
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from .dynamics.dicke import FULL_SPACE_MAX_CELLS
from .extensions import REALISATIONS as EXTENSION_REALISATIONS
from .extensions import label_sets
from .model.channels import channel_parameters
from .model.geometry import NAMED_GEOMETRIES, Geometry
from .model.point import Point, UnphysicalPointError
from .model.states import check_state, parse_state
from .points import (
    LARGE_N_GEOMETRY,
    PAPER_STATES,
    Label,
    Study,
    assign,
    format_number,
    grid_labels,
    normalise,
    paper_labels,
    state_defined,
    unique_labels,
)
from .resources import (
    available_memory,
    backend_of,
    memory_estimate,
    point_memory_bytes,
    representative_point,
    settings_point,
)
from .schema import schema_problems, show, suggest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "config" / "config.yaml"


class ConfigError(ValueError):
    """An invalid study configuration; the message names key, value and what is allowed."""

    def __init__(self, problems: Sequence[str], sources: Sequence[str] = ()):
        self.problems = list(problems)
        where = f" ({', '.join(map(str, sources))})" if sources else ""
        lines = [f"invalid configuration{where}:"]
        lines += [f"  - {p}" for p in self.problems]
        lines.append("Nothing was run. Fix the config and start again.")
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------
# reading


def read_config_file(path: str | Path) -> dict:
    """Read one YAML (or JSON) config file; a syntax error names the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"config file {path} cannot be read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            [f"config file {path} is not valid YAML{where}: {problem}"], [str(path)]
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"config file {path} must hold a mapping of keys (grid:, states:, ...)"], [str(path)]
        )
    return data


def merge(base: dict, update: Mapping) -> dict:
    """Deep-merge ``update`` into ``base`` the way snakemake merges config files."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


# --------------------------------------------------------------------------
# validation (the schema itself: qbsd.schema)


def validate_config(
    config: dict, schema: str | Path | Mapping | None = None, sources: Sequence[str] = ()
) -> dict:
    """Fill the schema's defaults into ``config`` (in place) and check it against the schema.

    Also rejects non-finite numbers and values of ``grid.J`` / ``grid.gamma12``
    that are equal after rounding. Returns ``config``; raises ``ConfigError``.
    """
    if not isinstance(config, dict):
        raise ConfigError([f"the config must be a mapping of keys, got {show(config)}"], sources)
    if config.get("large_n") is False:  # `large_n: false` switches it off, as null does
        config["large_n"] = None
    problems = schema_problems(config, schema)
    if not problems:
        problems += _finite_and_distinct(config)
    if problems:
        raise ConfigError(_dedupe(problems), sources)
    return config


def _dedupe(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))


def large_n_section(config: Mapping) -> dict | None:
    """The config's ``large_n`` mapping, or None when the large-N study is off."""
    section = config.get("large_n")
    return section if isinstance(section, dict) else None


def _axes(config: Mapping) -> list[tuple[str, Mapping]]:
    """The sections that hold numeric label axes: ``grid``, ``large_n`` and ``disorder``."""
    sections = [("grid", config["grid"])]
    if large_n_section(config) is not None:
        sections.append(("large_n", config["large_n"]))
    if config.get("disorder"):
        sections.append(("disorder", config["disorder"]))
    return sections


#: The numeric label axes and the section that may hold each.
NUMERIC_AXES = ("J", "gamma12", "n_th", "W", "W_J")


def _finite_and_distinct(config: dict) -> list[str]:
    problems = []
    numbers = [("time.t_max", config["time"]["t_max"])]
    numbers += [(f"solver.{k}", config["solver"][k]) for k in ("rtol", "atol")]
    for section, axes in _axes(config):
        for axis in NUMERIC_AXES:
            values = axes.get(axis, [])
            numbers += [(f"{section}.{axis}[{i}]", v) for i, v in enumerate(values)]
    for key, value in numbers:
        if not math.isfinite(value):
            problems.append(f"{key} = {show(value)}: must be a finite number")
    if problems:
        return problems
    for section, axes in _axes(config):
        for axis in NUMERIC_AXES:
            values = axes.get(axis, [])
            first: dict[float, float] = {}
            for v in values:
                r = normalise(v)
                if r in first:
                    problems.append(
                        f"{section}.{axis} = {show(values)}: values {first[r]!r} and {v!r} are "
                        f"equal to 10 significant digits ({format_number(v)}); list each value "
                        "once"
                    )
                else:
                    first[r] = v
    return problems


# --------------------------------------------------------------------------
# physics


def custom_geometries(config: Mapping) -> tuple[dict[str, Geometry], list[str]]:
    """The config's custom geometries as ``Geometry`` objects, and the problems found."""
    result, problems = {}, []
    for name, spec in config.get("custom_geometries", {}).items():
        key = f"custom_geometries.{name}"
        if name in NAMED_GEOMETRIES:
            problems.append(
                f"{key}: the name {name!r} is a built-in geometry; choose another name "
                f"(built-in: {', '.join(NAMED_GEOMETRIES)})"
            )
            continue
        if isinstance(spec, dict):
            n_cells, edges = spec["n_cells"], spec["edges"]
        else:
            edges = spec
            if not edges:
                problems.append(
                    f"{key} = []: an empty edge list has no cells; "
                    "write {n_cells: N, edges: []} for N cells without links"
                )
                continue
            n_cells = 1 + max(max(pair) for pair in edges)
        try:
            result[name] = Geometry.make(edges, n_cells)
        except ValueError as exc:
            problems.append(
                f"{key} = {show(spec)}: {exc}; allowed: links [n, m] between two distinct "
                f"cells in 0..{n_cells - 1}, each link listed once"
            )
    return result, problems


def _check_geometry_names(config, custom: Mapping[str, Geometry], bad_custom) -> list[str]:
    problems = []
    grid = config["grid"]
    allowed = list(NAMED_GEOMETRIES) + list(config["custom_geometries"])
    for i, name in enumerate(grid["geometry"]):
        key = f"grid.geometry[{i}]"
        if name in NAMED_GEOMETRIES or name in bad_custom:
            continue
        if name not in custom:
            problems.append(
                f"{key} = {name!r}: unknown geometry; allowed: {', '.join(allowed)} "
                "(or a name defined under custom_geometries)" + suggest(name, allowed)
            )
        elif custom[name].n_cells not in grid["n_cells"]:
            problems.append(
                f"{key} = {name!r}: this custom geometry has {custom[name].n_cells} cells but "
                f"grid.n_cells = {show(grid['n_cells'])} does not list "
                f"{custom[name].n_cells}; add it to grid.n_cells"
            )
    return problems


def _largest_fitting(settings: Mapping, have: int) -> int:
    """The largest N below the point's whose simulation fits ``have`` bytes (0 if none).

    The point's geometry at smaller N (its name; an edge list as a graph
    without symmetry), channel, couplings, states and solver method. Bisection:
    the estimate grows with N for a given backend (the switch to the Dicke
    basis above ``FULL_SPACE_MAX_CELLS`` cells only lowers it).
    """
    name = settings.get("geometry")
    states = list(settings["states"])
    method = settings.get("method", "auto")

    def fits(m: int) -> bool:
        point = representative_point(
            m,
            name if name in NAMED_GEOMETRIES else None,
            settings.get("channel", "relaxation"),
            settings.get("J", 0.0),
            settings.get("gamma12", 0.0),
            settings.get("n_th"),
        )
        estimate = memory_estimate(
            point, states, method, n_points=int(settings.get("n_points", 1001))
        )
        return estimate <= have

    lo, hi = 0, int(settings["n_cells"]) - 1  # the largest m <= hi that fits (or 0)
    if hi >= 1 and fits(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _check_memory(
    study: Study, section_of: Mapping[str, str], memory_bytes: int | None
) -> list[str]:
    """One problem per N whose largest simulation (over its points) exceeds the memory.

    Every distinct point is estimated as it will run (``resources.point_memory_bytes``
    on its settings: its backend, states, time grid and realisations);
    ``section_of`` maps a point's id to the config section (``grid`` or
    ``large_n``) whose key the message names.
    """
    have = available_memory() if memory_bytes is None else memory_bytes
    need: dict[int, tuple[int, dict, str]] = {}
    for pid, point in sorted(study.points.items()):
        settings = study.point_settings(point)
        bytes_ = point_memory_bytes(settings)
        n = point.n_cells
        if n not in need or bytes_ > need[n][0]:
            need[n] = (bytes_, settings, section_of[pid])
    problems = []
    for n in sorted(need):
        bytes_, settings, section = need[n]
        if bytes_ <= have:
            continue
        largest = _largest_fitting(settings, have)
        method = settings.get("method", "auto")
        backend, solver = backend_of(settings_point(settings), settings["states"], method)
        hint = ""
        if section == "large_n" and backend != "dicke":
            hint = (
                f"; with solver.method: auto the symmetric geometry above "
                f"{FULL_SPACE_MAX_CELLS} cells runs on the permutation-invariant solver"
            )
        if backend == "dicke":
            solver = "piqs (permutation-invariant)"
        n_states = len(settings["states"])
        problems.append(
            f"{section}.n_cells = {n}: one simulation at n_cells={n} "
            f"({settings['geometry']} geometry) needs about {bytes_ / 2**30:.1f} GiB "
            f"({n_states} states, solver method {solver}) but this machine has "
            f"{have / 2**30:.1f} GiB; allowed here: n_cells <= {largest}{hint}"
        )
    return problems


def load_study(
    config: dict,
    schema: str | Path | Mapping | None = None,
    sources: Sequence[str] = (),
    memory_bytes: int | None = None,
) -> Study:
    """Validate ``config`` (filling defaults in place) and expand it into a ``Study``.

    Parameters
    ----------
    config
        The study's config mapping (as snakemake holds it).
    schema
        The JSON schema (path or mapping); ``workflow/schemas/config.schema.yaml``
        by default.
    sources
        Config file names, quoted in the error message.
    memory_bytes
        Memory available to one simulation; this machine's by default.

    Raises
    ------
    ConfigError
        One message listing every problem, each naming key, value and what is allowed.
    """
    validate_config(config, schema, sources)
    custom, problems = custom_geometries(config)
    bad_custom = set(config["custom_geometries"]) - set(custom)
    problems += _check_geometry_names(config, custom, bad_custom)
    problems += _check_axes(config)
    if config["paper_figures"]:
        missing = [s for s in PAPER_STATES if s not in config["states"]]
        if missing:
            problems.append(
                f"states = {show(config['states'])}: paper_figures: true needs the states "
                f"{', '.join(PAPER_STATES)} (missing {', '.join(missing)}); add them or set "
                "paper_figures: false"
            )
    if problems:
        raise ConfigError(_dedupe(problems), sources)

    requested = _requested_labels(config, custom)
    section = requested.section
    assignments, skipped, unphysical = _assign_labels(config, custom, requested)
    if config["unphysical"] == "error":
        sizes = {a.label.n_cells for a in assignments if a.label in requested.in_grid}
        problems += _undefined_states(config, sizes)
        problems += _unphysical_problems(unphysical)
    study = Study(assignments, skipped if config["unphysical"] == "skip" else [], config)
    section_of: dict[str, str] = {}
    for a in assignments:  # a point asked for by the grid is named by the grid's key
        if section_of.get(a.point.id) != "grid":
            section_of[a.point.id] = section(a.label)
    problems += _check_memory(study, section_of, memory_bytes)
    if problems:
        raise ConfigError(_dedupe(problems), sources)
    return study


@dataclass
class _Requested:
    """Every label a config asks for, with its states and where it was asked for."""

    states_of: dict[Label, list[str]]  # in request order
    in_grid: set[Label]
    large_n: set[Label]
    paper: set[Label]

    def section(self, label: Label) -> str:
        """The config key a label's problems name."""
        return "large_n" if label in self.large_n and label not in self.in_grid else "grid"


def _requested_labels(config: Mapping, custom: Mapping[str, Geometry]) -> _Requested:
    """The grid's labels, then large_n's, the paper's and the extension sets'."""
    cells = {name: g.n_cells for name, g in custom.items()}
    labels = grid_labels(config["grid"], cells, config.get("disorder") or {})
    large_n = large_n_labels(config)
    paper = set(paper_labels()) if config["paper_figures"] else set()
    in_grid = set(labels)
    labels = unique_labels(labels + large_n)
    labels = unique_labels(labels + sorted(paper - set(labels), key=_paper_order))
    states_of = {label: list(config["states"]) for label in labels}
    if config.get("extension_figures"):
        for extension in label_sets():
            for label in extension.labels:
                states = states_of.setdefault(label, [])
                states += [s for s in extension.states if s not in states]
    return _Requested(states_of, in_grid, set(large_n), paper)


def _assign_labels(config: Mapping, custom: Mapping[str, Geometry], requested: _Requested):
    """Assignments of the physical labels, the skipped ones, and the unphysical cases."""
    disorder = config.get("disorder") or {}
    realisations = int(disorder.get("realisations", 0) or 0) or EXTENSION_REALISATIONS
    assignments, skipped, unphysical = [], [], {}
    geometries: dict[tuple[str, int], Geometry] = {}
    for label, states in requested.states_of.items():
        key = (label.geometry, label.n_cells)
        if key not in geometries:
            geometries[key] = custom.get(label.geometry) or Geometry.make(*key)
        geometry = geometries[key]
        parameters = tuple((k, getattr(label, k)) for k in channel_parameters(label.channel))
        problem = _complete_positivity(geometry, label.gamma12, label.channel, parameters)
        if problem is not None:
            skipped.append((label, problem))
            key = (requested.section(label), label.n_cells, label.geometry, label.gamma12)
            unphysical.setdefault(key, geometry)
            continue
        assignments.append(
            assign(
                label,
                geometry,
                paper=label in requested.paper,
                large_n=label in requested.large_n,
                states=states,
                realisations=realisations,
            )
        )
    return assignments, skipped, unphysical


def _unphysical_problems(unphysical: Mapping[tuple, Geometry]) -> list[str]:
    """One line per key, geometry, value and bound (the bound of symmetric is 1 at any N)."""
    problems = []
    cases: dict[tuple, list[int]] = {}
    for (where, n, name, gamma12), geometry in unphysical.items():
        bound = (normalise(geometry.gamma12_bound()), normalise(geometry.lambda_min))
        cases.setdefault((where, name, gamma12, *bound), []).append(n)
    for (where, name, gamma12, bound, lambda_min), sizes in cases.items():
        problems.append(
            f"{where}.gamma12 = {format_number(gamma12)} with geometry {name} and "
            f"n_cells = {', '.join(map(str, sizes))} "
            f"breaks complete positivity: allowed gamma12 <= "
            f"{bound:.10g} (= Gamma/|lambda_min(A)|, "
            f"lambda_min(A) = {lambda_min:.6g}); remove the value or set "
            "unphysical: skip (skipped points are listed in results/summary/skipped.csv)"
        )
    return problems


@functools.lru_cache(maxsize=4096)
def _complete_positivity(geometry: Geometry, gamma12: float, channel: str, parameters):
    """The complete-positivity error of a point (None if it is physical); the bound is
    the same for every J, so one check serves a whole row of a sweep."""
    try:
        Point(geometry, 0.0, gamma12, channel, parameters=dict(parameters))
    except UnphysicalPointError as exc:
        return str(exc)
    return None


def _check_axes(config: Mapping) -> list[str]:
    """Problems of the axes beyond the paper: n_th without a channel that has it, states."""
    problems = []
    grid = config["grid"]
    n_th = [float(v) for v in grid.get("n_th", [0.0])]
    with_n_th = [c for c in grid["channel"] if "n_th" in channel_parameters(c)]
    if n_th != [0.0] and not with_n_th:
        problems.append(
            f"grid.n_th = {show(grid['n_th'])}: none of grid.channel "
            f"({', '.join(grid['channel'])}) has a bath occupation; add a channel that has "
            "one (thermal) or remove grid.n_th"
        )
    for k, label in enumerate(config["states"]):
        try:
            parse_state(label)
        except ValueError as exc:
            reason = str(exc).removeprefix("states: ")
            problems.append(f"states[{k}] = {label!r}: {reason}")
    return problems


def _undefined_states(config: Mapping, sizes: Iterable[int]) -> list[str]:
    """One problem per state undefined at some N of the study (``unphysical: error``)."""
    problems = []
    for label in config["states"]:
        bad = sorted(n for n in sizes if not state_defined(label, n))
        if bad:
            try:
                check_state(label, bad[0])
            except ValueError as exc:
                reason = str(exc)
            problems.append(
                f"states: {label} is undefined for n_cells = {', '.join(map(str, bad))} "
                f"({reason}); remove those N or the state, or set unphysical: skip (the "
                "state's rows are then listed in results/summary/skipped.csv)"
            )
    return problems


def large_n_labels(config: Mapping) -> list[Label]:
    """The labels of the ``large_n`` section (geometry ``symmetric``), in config order."""
    section = large_n_section(config)
    if section is None:
        return []
    return grid_labels({**section, "geometry": [LARGE_N_GEOMETRY]})


def _paper_order(label: Label):
    return paper_labels().index(label)


# --------------------------------------------------------------------------
# command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qbsd.config",
        description="Check study config files the way `snakemake --configfile FILE` reads them.",
    )
    parser.add_argument("files", nargs="*", help="config files, merged in order")
    parser.add_argument(
        "--no-default",
        action="store_true",
        help=f"do not start from {DEFAULT_CONFIG.relative_to(REPO_ROOT)}",
    )
    args = parser.parse_args(argv)
    sources = [] if args.no_default or not DEFAULT_CONFIG.exists() else [str(DEFAULT_CONFIG)]
    sources += list(args.files)
    try:
        config: dict = {}
        for path in sources:
            merge(config, read_config_file(path))
        study = load_study(config, sources=sources)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"config OK: {len(study.assignments)} labels served by {len(study.points)} distinct "
        f"points; {len(study.skipped)} labels skipped as unphysical"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
