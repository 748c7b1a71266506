# Figures and the HTML report (`snakemake --report report.html` after a run).
#
# Every figure is drawn by qbsd.plots from data (trajectories or summary
# tables); each rule calls one of its *_job functions from a short run: block
# (in the snakemake process: no interpreter start-up per figure; qbsd.plots.style
# serialises matplotlib's global state between threads). Each PNG is a
# report(...) output with a caption in workflow/report/ and labels from its
# wildcards; its PDF twin sits next to it. All rules here are local: on a
# cluster they run on the submitting machine. The lists of figures live in
# qbsd.plots: the paper's panels, the sweep's facets (one per channel, and one
# per n_th of a channel with a bath occupation) and the figures beyond the
# paper (config key extension_figures).
import re

from qbsd import plots as qbsd_plots
from qbsd.points import format_number


report: "../report/workflow.rst"


PAPER_PANELS = list(qbsd_plots.PAPER_PANELS)
SUMMARY_TABLES = list(qbsd_workflow.SUMMARY_TABLES)
SWEEP_FACETS = qbsd_plots.sweep_facets(config["grid"])
EXTENSION_FIGURES = (
    list(qbsd_plots.EXTENSION_FIGURES) if config["extension_figures"] else []
)
FIGURE_FORMATS = ["png", "pdf"]


rule figures:
    input:
        paper=expand(
            qbsd_paths.figure("paper", "{panel}", "{ext}"),
            panel=PAPER_PANELS if config["paper_figures"] else [],
            ext=FIGURE_FORMATS,
        ),
        maps=expand(
            qbsd_paths.figure("sweep", "{facet}/half_life_map_N{n_cells}", "{ext}"),
            facet=SWEEP_FACETS,
            n_cells=config["grid"]["n_cells"],
            ext=FIGURE_FORMATS,
        ),
        versus_n=expand(
            qbsd_paths.figure("sweep", "{facet}/half_life_vs_n_J{J}", "{ext}"),
            facet=SWEEP_FACETS,
            J=[format_number(j) for j in config["grid"]["J"]],
            ext=FIGURE_FORMATS,
        ),
        xi0=expand(qbsd_paths.figure("sweep", "xi0_vs_n", "{ext}"), ext=FIGURE_FORMATS),
        large_n=expand(
            qbsd_paths.figure("sweep", "{channel}/large_n_scaling", "{ext}"),
            channel=LARGE_N_CHANNELS,
            ext=FIGURE_FORMATS,
        ),
        extensions=expand(
            qbsd_paths.figure("extensions", "{figure}", "{ext}"),
            figure=EXTENSION_FIGURES,
            ext=FIGURE_FORMATS,
        ),
        tables=expand(qbsd_paths.report_table("{table}"), table=SUMMARY_TABLES),
    localrule: True


rule paper_figure:
    input:
        trajectories=sorted({a.point.path for a in STUDY.assignments if a.paper}),
        labels=SUMMARY["labels"],
        half_lives=SUMMARY["half_lives_csv"],
    output:
        png=report(
            qbsd_paths.figure("paper", "{panel}", "png"),
            caption="../report/paper_figure.rst",
            category="Paper figures",
            labels={"panel": "{panel}"},
        ),
        pdf=qbsd_paths.figure("paper", "{panel}", "pdf"),
    log:
        qbsd_paths.figure_log("paper", "{panel}"),
    wildcard_constraints:
        panel="|".join(PAPER_PANELS),
    localrule: True
    run:
        qbsd_plots.paper_figure_job(wildcards.panel, **input, **output, log=log[0])


rule half_life_map:
    input:
        table=SUMMARY["half_lives_csv"],
    output:
        png=report(
            qbsd_paths.figure("sweep", "{facet}/half_life_map_N{n_cells}", "png"),
            caption="../report/half_life_map.rst",
            category="Half-life maps",
            subcategory="{facet}",
            labels={"facet": "{facet}", "N": "{n_cells}"},
        ),
        pdf=qbsd_paths.figure("sweep", "{facet}/half_life_map_N{n_cells}", "pdf"),
    log:
        qbsd_paths.figure_log("sweep", "{facet}/half_life_map_N{n_cells}"),
    wildcard_constraints:
        facet="|".join(re.escape(facet) for facet in SWEEP_FACETS),
        n_cells=r"\d+",
    localrule: True
    params:
        grid=config["grid"],
    run:
        qbsd_plots.sweep_figure_job(
            "half_life_map",
            input.table,
            **output,
            log=log[0],
            grid=params.grid,
            **wildcards,
        )


rule half_life_vs_n:
    input:
        table=SUMMARY["half_lives_csv"],
    output:
        png=report(
            qbsd_paths.figure("sweep", "{facet}/half_life_vs_n_J{J}", "png"),
            caption="../report/half_life_vs_n.rst",
            category="Half-life versus N",
            subcategory="{facet}",
            labels={"facet": "{facet}", "J": "{J}"},
        ),
        pdf=qbsd_paths.figure("sweep", "{facet}/half_life_vs_n_J{J}", "pdf"),
    log:
        qbsd_paths.figure_log("sweep", "{facet}/half_life_vs_n_J{J}"),
    wildcard_constraints:
        facet="|".join(re.escape(facet) for facet in SWEEP_FACETS),
        J=r"[-+0-9.e]+",
    localrule: True
    params:
        grid=config["grid"],
    run:
        qbsd_plots.sweep_figure_job(
            "half_life_vs_n",
            input.table,
            **output,
            log=log[0],
            grid=params.grid,
            **wildcards,
        )


rule xi0_vs_n:
    input:
        table=SUMMARY["xi0_scaling_csv"],
    output:
        png=report(
            qbsd_paths.figure("sweep", "xi0_vs_n", "png"),
            caption="../report/xi0_vs_n.rst",
            category="Initial efficiency",
            labels={"figure": "xi(0) and dead energy versus N"},
        ),
        pdf=qbsd_paths.figure("sweep", "xi0_vs_n", "pdf"),
    log:
        qbsd_paths.figure_log("sweep", "xi0_vs_n"),
    localrule: True
    params:
        grid=config["grid"],
    run:
        qbsd_plots.sweep_figure_job(
            "xi0_vs_n", input.table, **output, log=log[0], grid=params.grid
        )


# The figures beyond the paper (qbsd.plots.EXTENSION_FIGURES), one rule each,
# named after the figure: their inputs are the summary tables they read, or
# the label manifest and the trajectories of their labels. Targets of the
# collector rule only with extension_figures: true; a figure whose labels the
# study lacks stops with an error naming them.
for figure in qbsd_plots.EXTENSION_FIGURES:

    rule:
        name:
            figure
        input:
            **qbsd_plots.extension_inputs(figure, STUDY, SUMMARY),
        output:
            png=report(
                qbsd_paths.figure("extensions", figure, "png"),
                caption=f"../report/{figure}.rst",
                category="Beyond the paper",
                labels={"figure": figure},
            ),
            pdf=qbsd_paths.figure("extensions", figure, "pdf"),
        log:
            qbsd_paths.figure_log("extensions", figure),
        localrule: True
        params:
            figure=figure,
        run:
            qbsd_plots.extension_figure_job(
                params.figure, **input, **output, log=log[0]
            )


# The symmetric battery up to large N (config key large_n): its labels and the
# grid's symmetric labels at the same couplings, on a log N axis.
rule large_n_scaling:
    input:
        table=SUMMARY["half_lives_csv"],
    output:
        png=report(
            qbsd_paths.figure("sweep", "{channel}/large_n_scaling", "png"),
            caption="../report/large_n_scaling.rst",
            category="Large N (symmetric)",
            labels={"channel": "{channel}", "figure": "half-life and xi(0) versus N"},
        ),
        pdf=qbsd_paths.figure("sweep", "{channel}/large_n_scaling", "pdf"),
    log:
        qbsd_paths.figure_log("sweep", "{channel}/large_n_scaling"),
    wildcard_constraints:
        channel="|".join(LARGE_N_CHANNELS) or "none",
    localrule: True
    params:
        large_n=config["large_n"],
    run:
        qbsd_plots.large_n_figure_job(
            input.table,
            **output,
            log=log[0],
            large_n=params.large_n,
            channel=wildcards.channel,
        )


rule summary_table_html:
    input:
        table=qbsd_paths.summary("{table}.csv"),
    output:
        report(
            qbsd_paths.report_table("{table}"),
            caption="../report/summary_table.rst",
            category="Summary tables",
            labels={"table": "{table}"},
        ),
    log:
        qbsd_paths.report_log("{table}"),
    wildcard_constraints:
        table="|".join(SUMMARY_TABLES),
    localrule: True
    run:
        qbsd_plots.table_html_job(input.table, output[0], log[0], title=input.table)
