"""Figures: the paper's panels from trajectory datasets, sweep plots from summary tables.

Every drawing function takes data, never paths or a results layout:

- trajectory panels (``fig2a`` ... ``fig5b``, ``phase_damping``,
  ``depolarizing_fig4b``, ``ergotropy_split``) take one trajectory
  :class:`xarray.Dataset` (as returned by :func:`qbsd.simulate` or
  ``xarray.open_dataset``) or a collection of them (a list, or a mapping
  whose values are datasets) and draw every dataset they are given;
- table figures (``half_life_heatmap``, ``half_life_vs_n``, ``xi0_vs_n``,
  ``large_n_scaling`` and the extension figures) take a summary
  :class:`pandas.DataFrame` with the columns of ``qbsd.summaries`` (the
  README, "Analysing results") and filter it by keyword.

Each returns the :class:`matplotlib.figure.Figure` and, given ``stem``,
writes ``stem.png`` and ``stem.pdf`` (see :func:`qbsd.plots.style.save`).
Half-lives and other event times are read from the data, never recomputed
here; a half-life not reached within t_max is shown as censored, never as a
number.

Modules: :mod:`.style` (palette, sizes, deterministic files), :mod:`.data`
(selecting datasets and rows), :mod:`.paper`, :mod:`.maps`, :mod:`.sweep`,
:mod:`.extensions` (the figures), :mod:`.tables` (HTML pages of the report),
:mod:`.jobs` and :mod:`.extension_jobs` (what the workflow's rules call).
"""

from . import style
from .data import check_half_lives, grid_rows, label_datasets, large_n_rows, point, select
from .extension_jobs import (
    EXTENSION_FIGURES,
    extension_figure_job,
    extension_inputs,
    figure_labels,
)
from .extensions import (
    depolarizing_fig4b,
    disorder_half_life_vs_W,
    entangled_vs_product,
    equal_ergotropy_crossover,
    ergotropy_split,
    thermal_half_life_vs_nth,
)
from .jobs import (
    SWEEP_FIGURES,
    TEXT_FACETS,
    facet_values,
    facet_wildcards,
    large_n_figure_job,
    output_stem,
    paper_figure_job,
    sweep_facets,
    sweep_figure_job,
    table_html_job,
)
from .maps import half_life_heatmap
from .paper import (
    PANELS,
    PAPER_PANELS,
    PAPER_POINTS,
    fig2a,
    fig2b,
    fig3a,
    fig3b,
    fig4a,
    fig4b,
    fig5a,
    fig5b,
    paper_panel,
    phase_damping,
)
from .sweep import half_life_vs_n, large_n_scaling, xi0_vs_n
from .tables import table_html

__all__ = [
    "EXTENSION_FIGURES",
    "PANELS",
    "PAPER_PANELS",
    "PAPER_POINTS",
    "SWEEP_FIGURES",
    "TEXT_FACETS",
    "check_half_lives",
    "depolarizing_fig4b",
    "disorder_half_life_vs_W",
    "entangled_vs_product",
    "equal_ergotropy_crossover",
    "ergotropy_split",
    "extension_figure_job",
    "extension_inputs",
    "facet_values",
    "facet_wildcards",
    "fig2a",
    "fig2b",
    "fig3a",
    "fig3b",
    "fig4a",
    "fig4b",
    "fig5a",
    "fig5b",
    "figure_labels",
    "grid_rows",
    "half_life_heatmap",
    "half_life_vs_n",
    "label_datasets",
    "large_n_figure_job",
    "large_n_rows",
    "large_n_scaling",
    "output_stem",
    "paper_figure_job",
    "paper_panel",
    "phase_damping",
    "point",
    "select",
    "style",
    "sweep_facets",
    "sweep_figure_job",
    "table_html",
    "table_html_job",
    "thermal_half_life_vs_nth",
    "xi0_vs_n",
]
