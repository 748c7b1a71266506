"""Where every result of the workflow lives: one function or constant per kind of file.

The rules, ``qbsd.open_results``, the summaries and the tests all build paths
here, so a change of layout is one edit. Paths are relative to the
workflow's working directory (``RESULTS`` at its top), or to a results
directory where a function takes ``results``::

    results/
      trajectories/<channel>/N<n>/<geometry>/J<J>_g<gamma12>[_nth<n_th>][_W<W>_WJ<W_J>].nc
      summary/<table>.csv, <table>.nc, labels.csv, layout.json, skipped.csv
      figures/paper/<panel>.{png,pdf}, figures/sweep/..., figures/extensions/...
      report/tables/<table>.html
      logs/simulate/<batch rule>.log, logs/summarise.log, logs/figures/...

Every number in a path is written by ``qbsd.points.format_number`` (``2``,
``0.5``, ``1e-07``), never with a trailing ``.0`` or binary round-off.
"""

from __future__ import annotations

from pathlib import Path

#: The results directory, relative to the workflow's working directory.
RESULTS = "results"

#: A trajectory file, relative to the results directory.
TRAJECTORY_PATTERN = "trajectories/{channel}/N{n_cells}/{geometry}/J{J}_g{gamma12}{extra}.nc"

SUMMARY = "summary"
LABELS = "labels.csv"
SKIPPED = "skipped.csv"
LAYOUT = "layout.json"
FIGURES = "figures"
LOGS = "logs"


def trajectory(results: str | Path = RESULTS, **parts: str) -> str:
    """A trajectory's path from the text of its parts (``DistinctPoint.wildcards``)."""
    return f"{results}/{TRAJECTORY_PATTERN.format(**parts)}"


def summary(name: str, results: str | Path = RESULTS) -> str:
    """A file of the summary folder: ``summary("half_lives.csv")``, ``summary(LABELS)``."""
    return f"{results}/{SUMMARY}/{name}"


def summary_outputs(tables, results: str | Path = RESULTS) -> dict[str, str]:
    """The summarise rule's named outputs: ``<table>_csv``, ``<table>_nc``, labels, skipped."""
    out = {}
    for kind in tables:
        out[f"{kind}_csv"] = summary(f"{kind}.csv", results)
        out[f"{kind}_nc"] = summary(f"{kind}.nc", results)
    out["labels"] = summary(LABELS, results)
    out["layout"] = summary(LAYOUT, results)
    out["skipped"] = summary(SKIPPED, results)
    return out


def results_of_summary(path: str | Path) -> Path:
    """The results directory that holds the summary file ``path``."""
    return Path(path).parent.parent


def simulate_log(batch: str, results: str | Path = RESULTS) -> str:
    """The log of the batch rule ``batch``."""
    return f"{results}/{LOGS}/simulate/{batch}.log"


def summarise_log(results: str | Path = RESULTS) -> str:
    return f"{results}/{LOGS}/summarise.log"


def figure(kind: str, name: str, ext: str, results: str | Path = RESULTS) -> str:
    """A figure: ``figure("paper", "fig2a", "png")``, ``figure("sweep", "xi0_vs_n", "pdf")``."""
    return f"{results}/{FIGURES}/{kind}/{name}.{ext}"


def figure_log(kind: str, name: str, results: str | Path = RESULTS) -> str:
    return f"{results}/{LOGS}/{FIGURES}/{kind}/{name}.log"


def report_table(table: str, results: str | Path = RESULTS) -> str:
    """The HTML page of a summary table in the report."""
    return f"{results}/report/tables/{table}.html"


def report_log(table: str, results: str | Path = RESULTS) -> str:
    """The log of the job that writes :func:`report_table`."""
    return f"{results}/{LOGS}/report/{table}.log"
