"""One figure style for every qbsd plot: palette, fonts, sizes, deterministic files.

Figures are built as :class:`matplotlib.figure.Figure` objects, never
through ``pyplot``, so plotting is headless on any machine (PNG through Agg,
PDF through matplotlib's PDF backend) and leaves no global figure state.

Colours are the Okabe-Ito palette (distinguishable under the common forms of
colour blindness) for categories, ``viridis`` for ordered quantities and for
half-life maps, and ColorBrewer's ``RdBu`` (colour-blind safe) for ratios
centred at 1. Lines also differ by dash pattern, so a greyscale print still
separates them.

Figures are drawn and saved inside :func:`context` (the decorator
:func:`styled`), which holds a lock: rcParams are process-global, and the
workflow draws figures in threads.

Saved files are byte-for-byte reproducible: the PNG carries no ``Software``
text chunk (Agg writes no timestamp), the PDF no ``CreationDate``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure

from ..storage import atomic_path

__all__ = [
    "COLUMN_WIDTH",
    "CENSORED_EDGE",
    "CENSORED_FACE",
    "CENSORED_HATCH",
    "DIVERGING_CMAP",
    "FORMATS",
    "GEOMETRY_COLORS",
    "GEOMETRY_LINESTYLES",
    "GEOMETRY_ORDER",
    "OKABE_ITO",
    "PAGE_WIDTH",
    "RC_PARAMS",
    "SEQUENTIAL_CMAP",
    "SPLIT_STYLES",
    "STATE_COLORS",
    "STATE_LINESTYLES",
    "STATE_MARKERS",
    "context",
    "figure_path",
    "figure_stem",
    "geometry_color",
    "geometry_linestyle",
    "new_figure",
    "ordinal_colors",
    "save",
    "state_color",
    "state_linestyle",
    "state_marker",
    "styled",
]

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}

STATE_COLORS = {
    "classical": OKABE_ITO["vermillion"],
    "quantum": OKABE_ITO["blue"],
    "full": OKABE_ITO["black"],
    "ghz": OKABE_ITO["bluish_green"],
    "dicke": OKABE_ITO["orange"],
    "singlet_pairs": OKABE_ITO["reddish_purple"],
}
STATE_LINESTYLES = {
    "classical": "--",
    "quantum": "-",
    "full": ":",
    "ghz": "-.",
    "dicke": (0, (3, 1, 1, 1, 1, 1)),
    "singlet_pairs": (0, (1.5, 1.2)),
}
STATE_MARKERS = {
    "classical": "s",
    "quantum": "o",
    "full": "^",
    "ghz": "D",
    "dicke": "v",
    "singlet_pairs": "P",
}

# E, E_i and E_c of the ergotropy split: (colour, dashes, mathtext label).
# Incoherent in the classical state's colour, coherent in the quantum state's.
SPLIT_STYLES = {
    "ergotropy": (OKABE_ITO["black"], "-", r"$\mathcal{E}$"),
    "ergotropy_incoherent": (OKABE_ITO["vermillion"], (0, (5, 1.5)), r"$\mathcal{E}_i$"),
    "ergotropy_coherent": (OKABE_ITO["blue"], (0, (1.5, 1.2)), r"$\mathcal{E}_c$"),
}

# The paper's legend order for Fig. 4 (top to bottom).
GEOMETRY_ORDER = ("central", "linear", "circular", "symmetric")
GEOMETRY_COLORS = {
    "central": OKABE_ITO["orange"],
    "linear": OKABE_ITO["sky_blue"],
    "circular": OKABE_ITO["bluish_green"],
    "symmetric": OKABE_ITO["reddish_purple"],
}
GEOMETRY_LINESTYLES = {
    "central": "-",
    "linear": (0, (5, 1.5)),
    "circular": (0, (6, 1.5, 1.5, 1.5)),
    "symmetric": (0, (1.5, 1.2)),
}
FALLBACK_COLORS = (OKABE_ITO["black"], OKABE_ITO["yellow"], OKABE_ITO["vermillion"])

SEQUENTIAL_CMAP = "viridis"
DIVERGING_CMAP = "RdBu"
CENSORED_HATCH = "xxx"
CENSORED_FACE = "#DDDDDD"
CENSORED_EDGE = "#777777"

# Figure widths in inches: one journal column and the full page width.
COLUMN_WIDTH = 3.4
PAGE_WIDTH = 7.0

RC_PARAMS = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "mathtext.fontset": "dejavusans",
    "font.size": 8.5,
    "axes.titlesize": 8.5,
    "axes.labelsize": 8.5,
    "legend.fontsize": 7.5,
    "legend.title_fontsize": 7.5,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "axes.linewidth": 0.7,
    "lines.linewidth": 1.4,
    "lines.markersize": 4.0,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "xtick.major.width": 0.7,
    "ytick.major.width": 0.7,
    "xtick.minor.visible": True,
    "ytick.minor.visible": True,
    "legend.frameon": False,
    "legend.handlelength": 2.4,
    "axes.prop_cycle": mpl.cycler(color=list(OKABE_ITO.values())[1:] + ["#000000"]),
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.03,
    "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
    "ps.fonttype": 42,
    "svg.hashsalt": "qbsd",
    "image.cmap": SEQUENTIAL_CMAP,
    "hatch.linewidth": 0.6,
}

PNG_METADATA = {"Software": None}
PDF_METADATA = {"CreationDate": None, "ModDate": None}
FORMATS = ("png", "pdf")


# rcParams are global to the process; figures built in threads (Snakemake
# runs local ``run:`` jobs in threads) take turns under this lock.
_LOCK = threading.RLock()


@contextlib.contextmanager
def context() -> Iterator[None]:
    """The qbsd rcParams as a context (nothing changes outside it; one thread at a time)."""
    with _LOCK, mpl.rc_context(RC_PARAMS):
        yield


def styled(func: Callable) -> Callable:
    """Decorator: run a figure-building function inside :func:`context`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with context():
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float = COLUMN_WIDTH, height: float | None = None, **kwargs) -> Figure:
    """A headless figure (no pyplot) of ``width`` x ``height`` inches."""
    if height is None:
        height = 0.88 * width
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def save(fig: Figure, stem: str | os.PathLike, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write ``fig`` as ``stem.png`` and ``stem.pdf`` (deterministic bytes).

    A suffix on ``stem`` that names one of ``formats`` is dropped, so
    ``save(fig, "fig2a.png")`` also writes both files. Parent folders are
    created. Either every file is written or none is changed; a full disk
    raises :class:`qbsd.storage.DiskFullError`. Returns the written paths.
    """
    stem = figure_stem(stem, formats)
    paths = [figure_path(stem, fmt) for fmt in formats]
    # Every format goes to a temporary file first and all are renamed at the
    # end: a failure (a full disk) leaves neither a truncated file nor a new
    # PNG next to an old PDF.
    with context(), contextlib.ExitStack() as stack:
        for fmt, path in zip(formats, paths, strict=True):
            tmp = stack.enter_context(atomic_path(path))
            metadata = {"png": PNG_METADATA, "pdf": PDF_METADATA}.get(fmt)
            fig.savefig(tmp, format=fmt, metadata=metadata)
    return paths


def figure_stem(path: str | os.PathLike, formats: tuple[str, ...] = FORMATS) -> Path:
    """``path`` without a trailing ``.png``/``.pdf`` (one of ``formats``), else unchanged.

    Only a known format counts as a suffix: ``half_life_vs_n_J3.6`` keeps its
    ``.6`` (``Path.with_suffix`` would drop it), so any grid value in a file
    name survives.
    """
    path = Path(path)
    for fmt in formats:
        ending = f".{fmt}"
        if path.name.endswith(ending) and len(path.name) > len(ending):
            return path.with_name(path.name[: -len(ending)])
    return path


def figure_path(stem: str | os.PathLike, fmt: str) -> Path:
    """The file of ``stem`` in format ``fmt``: ``stem`` plus ``.fmt`` (never ``with_suffix``)."""
    stem = Path(stem)
    return stem.with_name(f"{stem.name}.{fmt}")


def geometry_color(geometry: str, index: int = 0) -> str:
    """Colour of a geometry (a custom edge list gets a fallback colour)."""
    return GEOMETRY_COLORS.get(geometry, FALLBACK_COLORS[index % len(FALLBACK_COLORS)])


def geometry_linestyle(geometry: str):
    """Dash pattern of a geometry (solid for a custom one)."""
    return GEOMETRY_LINESTYLES.get(geometry, "-")


def state_color(state: str) -> str:
    """Colour of an initial state (any other state: a fallback colour)."""
    return STATE_COLORS.get(state, OKABE_ITO["sky_blue"])


def state_linestyle(state: str):
    """Dash pattern of an initial state (solid for any other state)."""
    return STATE_LINESTYLES.get(state, "-")


def state_marker(state: str) -> str:
    """Marker of an initial state (a circle for any other state)."""
    return STATE_MARKERS.get(state, "o")


def ordinal_colors(n: int) -> list:
    """``n`` colours along viridis (stopping short of its pale yellow end)."""
    cmap = mpl.colormaps[SEQUENTIAL_CMAP]
    if n == 1:
        return [cmap(0.0)]
    return [cmap(0.85 * i / (n - 1)) for i in range(n)]
