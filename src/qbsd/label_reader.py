"""One label's data from its trajectory file, for :func:`qbsd.results.open_results`.

A label's chunk of the lazy arrays reads its file once per version of it
(path, modification time, size, inode) through :func:`qbsd.dataset.read_netcdf`,
which checks the checksum of the whole content; the decoded file is kept in a
small per-process cache, so the other variables and labels of one file reuse
it. The file must be the manifest's point, on the study's time grid, with the
label's states; anything else raises :class:`ResultsError` naming the file and
the command that regenerates it. The label's data are then its own states,
cells and links (the point's, mapped back), NaN-padded to the study's.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import paths
from .dataset import read_netcdf
from .summaries import POINT_COLUMNS

#: The label axes, in order: the label columns of the manifest and the summary
#: tables, so a new label key is a new axis here too. Numeric axes are sorted,
#: text axes keep the manifest's order of first appearance.
LABEL_DIMS = tuple(column for column in POINT_COLUMNS if column != "state")

#: Name and format of the sidecar of ``labels.csv`` (written by
#: ``qbsd.workflow.write_manifest``).
LAYOUT_NAME = paths.LAYOUT
LAYOUT_FORMAT = 1

#: Decoded trajectories kept per process (least recently used goes first).
CACHE_FILES = 64
CACHE_BYTES = 512 * 2**20


class ResultsError(OSError):
    """A results file is missing, unreadable or inconsistent with the manifest."""


def regenerate_command(root: Path, relpath: str, force: bool) -> str:
    """The snakemake command that (re)makes ``results/<relpath>`` under ``root``.

    ``force`` for a file that exists but is wrong (snakemake would see it done).
    """
    where = root.resolve().parent
    target = f"results/{relpath}"
    flag = " --force" if force else ""
    return f"run in {where}: snakemake --cores 2{flag} {target}"


@dataclass(frozen=True, eq=False)
class Layout:
    """What every trajectory of the study shares: states, time grid, variables."""

    states: tuple[str, ...]
    times: np.ndarray
    time_attrs: dict
    variables: dict  # name -> (dims, attrs)
    sizes: dict  # extent of dims other than state, time, cell and link
    source: str


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def _show_label(label: Sequence) -> str:
    return ", ".join(f"{dim}={_show(value)}" for dim, value in zip(LABEL_DIMS, label, strict=True))


@dataclass(frozen=True, eq=False)
class TrajectoryFile:
    """A trajectory file and what an error about it must say."""

    root: str
    rel: str
    path: str
    point: str  # the manifest's point id ("" if it has none)
    n_labels: int  # how many labels it serves
    example: tuple  # the first of them, over LABEL_DIMS

    @property
    def who(self) -> str:
        return f"it serves {self.n_labels} requested label(s), e.g. {_show_label(self.example)}"

    def error(self, problem: str, force: bool = True, note: str = "") -> ResultsError:
        return ResultsError(
            f"{self.path} {problem}; regenerate it: "
            + regenerate_command(Path(self.root), self.rel, force)
            + note
        )


@dataclass(frozen=True, eq=False)
class Decoded:
    """A trajectory file read whole (and checksum-verified)."""

    variables: dict  # name -> (dims, values, attrs), every variable of the file
    attrs: dict
    states: list
    times: np.ndarray
    nbytes: int


_CACHE: OrderedDict[tuple, Decoded] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every decoded trajectory (the next compute reads its files again)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def missing_error(file: TrajectoryFile) -> ResultsError:
    """The error for a file that is not there."""
    return file.error(f"is missing ({file.who})", force=False)


def read_trajectory(file: TrajectoryFile) -> Decoded:
    """The whole content of ``file``, read and checksum-verified once per version of it.

    Raises
    ------
    ResultsError
        The file is missing, fails to read or its checksum (damaged, truncated),
        or is no trajectory; the message names it and the regenerate command.
    """
    try:
        st = os.stat(file.path)
    except FileNotFoundError:
        raise missing_error(file) from None
    key = (file.path, st.st_mtime_ns, st.st_size, st.st_ino)
    # One lock around lookup and read: threads asking for one file read it once,
    # and reads are serialised by dataset.NETCDF_LOCK anyway.
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
        try:
            ds = read_netcdf(file.path)
        except FileNotFoundError:
            raise missing_error(file) from None
        except Exception as exc:
            raise file.error(
                f"cannot be read: {type(exc).__name__}: {exc} (the file is damaged or "
                f"truncated; {file.who})"
            ) from exc
        variables = {
            str(name): (tuple(var.dims), var.values, dict(var.attrs))
            for name, var in ds.variables.items()
        }
        if "state" not in variables or "time" not in variables:
            raise file.error("has no state or time coordinate (not a trajectory file)")
        decoded = Decoded(
            variables=variables,
            attrs=dict(ds.attrs),
            states=[str(s) for s in variables["state"][1]],
            times=np.asarray(variables["time"][1], dtype=float),
            nbytes=sum(v[1].nbytes for v in variables.values()),
        )
        _CACHE[key] = decoded
        while len(_CACHE) > CACHE_FILES or (
            len(_CACHE) > 1 and sum(d.nbytes for d in _CACHE.values()) > CACHE_BYTES
        ):
            _CACHE.popitem(last=False)
    return decoded


@dataclass(frozen=True, eq=False)
class LabelSource:
    """One label's chunk: its file, its states, cell and link maps, the study's layout."""

    file: TrajectoryFile
    label: tuple  # its values over LABEL_DIMS
    states: str  # the manifest's text: the label's own states (the others are NaN)
    cell_map: str  # the manifest's text: cell k of the label is this entry of the point
    link_map: str
    layout: Layout
    sizes: Mapping[str, int]  # padded extent of every non-label dim


def check_file(decoded: Decoded, file: TrajectoryFile, layout: Layout) -> None:
    """Raise unless the file is the manifest's point, on the study's time grid and states."""
    recorded = str(decoded.attrs.get("point_id", ""))
    if recorded and file.point and recorded != file.point:
        raise file.error(
            f"holds the point {recorded}, not {file.point} as the manifest says (a file "
            "copied or moved by hand?)"
        )
    lacking = [name for name in layout.variables if name not in decoded.variables]
    if lacking:
        raise file.error(f"lacks the variables {lacking}")
    if not set(decoded.states) <= set(layout.states) or not np.array_equal(
        decoded.times, layout.times
    ):
        raise file.error(
            f"has another time grid or other states than summary/{LAYOUT_NAME} (a stale "
            f"file from an earlier config?; {file.who})",
            note=" (or, if the config changed since the summaries were written, "
            "`snakemake --cores 2` there, to bring them all in line)",
        )
    for name, (dims, _) in layout.variables.items():
        have = decoded.variables[name][0]
        if have != dims and have != tuple(d for d in dims if d not in layout.sizes):
            raise file.error(f"has {name} over {have}, not {dims}")


def _state_order(decoded: Decoded, src: LabelSource) -> np.ndarray:
    """Where in the file each of the study's states is for this label (-1: not its state)."""
    own = src.states.split()
    lacking = [s for s in own if s not in decoded.states]
    if lacking:
        raise src.file.error(
            f"lacks the states {lacking} of the label {_show_label(src.label)} (a stale file "
            "from an earlier config?)"
        )
    return np.array([decoded.states.index(s) if s in own else -1 for s in src.layout.states])


def _states_taken(values: np.ndarray, axis: int, order: np.ndarray) -> np.ndarray:
    """``values`` at ``order`` along ``axis`` (a copy), NaN where ``order`` is -1."""
    out = np.take(values, np.maximum(order, 0), axis=axis)
    if (order < 0).any():
        where = [slice(None)] * out.ndim
        where[axis] = order < 0
        out[tuple(where)] = np.nan
    return out


def _mapped(values: np.ndarray, axis: int, index: Sequence[int], size: int) -> np.ndarray:
    """``values`` at ``index`` along ``axis``, NaN-padded to ``size`` there."""
    shape = list(values.shape)
    shape[axis] = size
    out = np.full(shape, np.nan)
    where = [slice(None)] * values.ndim
    where[axis] = slice(0, len(index))
    out[tuple(where)] = np.take(values, list(index), axis=axis)
    return out


def label_blocks(src: LabelSource) -> dict[str, np.ndarray]:
    """Every trajectory variable of one label, on the study's states, cells and links.

    Always fresh arrays (the cached file is never handed out).
    """
    decoded = read_trajectory(src.file)
    check_file(decoded, src.file, src.layout)
    order = _state_order(decoded, src)
    cell_map, link_map = _ints(src.cell_map), _ints(src.link_map)
    blocks = {}
    for name, (dims, _) in src.layout.variables.items():
        values = np.asarray(decoded.variables[name][1], dtype=float)
        if values.ndim < len(dims):  # a point without an extra dim (one realisation): one entry
            values = np.expand_dims(
                values, [k for k, d in enumerate(dims) if d in src.layout.sizes]
            )
        for axis, dim in enumerate(dims):
            if dim == "state":
                values = _states_taken(values, axis, order)
            elif dim == "cell":
                values = _mapped(values, axis, cell_map, src.sizes["cell"])
            elif dim == "link":
                values = _mapped(values, axis, link_map, src.sizes["link"])
            elif dim != "time" and values.shape[axis] != src.sizes[dim]:
                if values.shape[axis] > src.sizes[dim]:
                    raise src.file.error(
                        f"has {values.shape[axis]} entries along {dim}, more than the "
                        f"study's {src.sizes[dim]} (a stale file from an earlier config?)"
                    )
                values = _mapped(values, axis, range(values.shape[axis]), src.sizes[dim])
        blocks[name] = np.array(values, dtype=float, copy=True)
    n_links = len(decoded.variables["link"][1]) if "link" in decoded.variables else 0
    if "concurrence_mean" in blocks and len(link_map) != n_links:
        # the label sees part of the point's links: the mean over its own
        if link_map and "concurrence" in blocks:
            link_axis = src.layout.variables["concurrence"][0].index("link")
            own = np.take(blocks["concurrence"], range(len(link_map)), axis=link_axis)
            blocks["concurrence_mean"] = own.mean(axis=link_axis)
        else:
            blocks["concurrence_mean"] = np.full(blocks["concurrence_mean"].shape, np.nan)
    ones = (1,) * len(LABEL_DIMS)  # a chunk spans one cell of the label grid
    return {name: values.reshape(ones + values.shape) for name, values in blocks.items()}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split()]


def verify_all(sources: list[LabelSource]) -> None:
    """Read and check the file of every label now, one file at a time (the cache keeps
    the last few); raise :class:`ResultsError` at the first that fails."""
    served: dict[str, list[LabelSource]] = {}
    for src in sources:
        served.setdefault(src.file.rel, []).append(src)
    for labels in served.values():
        decoded = read_trajectory(labels[0].file)
        check_file(decoded, labels[0].file, labels[0].layout)
        for src in labels:
            _state_order(decoded, src)
