# Figures and the HTML report (`snakemake --report report.html` after a run).
#
# Every figure is drawn by qbsd.plots from data (trajectories or summary
# tables); each rule calls one of its *_job functions from a short run: block
# (in the snakemake process: no interpreter start-up per figure; qbsd.style
# serialises matplotlib's global state between threads). Each PNG is a
# report(...) output with a caption in workflow/report/ and labels from its
# wildcards; its PDF twin sits next to it. All rules here are local: on a
# cluster they run on the submitting machine.
from qbsd import plots as qbsd_plots
from qbsd.points import format_number


report: "../report/workflow.rst"


# The paper's panels (qbsd.plots.PANELS); phase_damping is its Sec. II C.
PAPER_PANELS = [
    "fig2a",
    "fig2b",
    "fig3a",
    "fig3b",
    "fig4a",
    "fig4b",
    "fig5a",
    "fig5b",
    "phase_damping",
]
SUMMARY_TABLES = ["half_lives", "xi0_scaling", "quantumness"]
FIGURE_FORMATS = ["png", "pdf"]


rule figures:
    input:
        paper=expand(
            "results/figures/paper/{panel}.{ext}",
            panel=PAPER_PANELS if config["paper_figures"] else [],
            ext=FIGURE_FORMATS,
        ),
        maps=expand(
            "results/figures/sweep/{channel}/half_life_map_N{n_cells}.{ext}",
            channel=config["grid"]["channel"],
            n_cells=config["grid"]["n_cells"],
            ext=FIGURE_FORMATS,
        ),
        versus_n=expand(
            "results/figures/sweep/{channel}/half_life_vs_n_J{J}.{ext}",
            channel=config["grid"]["channel"],
            J=[format_number(j) for j in config["grid"]["J"]],
            ext=FIGURE_FORMATS,
        ),
        xi0=expand("results/figures/sweep/xi0_vs_n.{ext}", ext=FIGURE_FORMATS),
        large_n=expand(
            "results/figures/sweep/{channel}/large_n_scaling.{ext}",
            channel=LARGE_N_CHANNELS,
            ext=FIGURE_FORMATS,
        ),
        tables=expand("results/report/tables/{table}.html", table=SUMMARY_TABLES),
    localrule: True


rule paper_figure:
    input:
        trajectories=sorted({a.point.path for a in STUDY.assignments if a.paper}),
        labels=SUMMARY["labels"],
        half_lives=SUMMARY["half_lives_csv"],
    output:
        png=report(
            "results/figures/paper/{panel}.png",
            caption="../report/paper_figure.rst",
            category="Paper figures",
            labels={"panel": "{panel}"},
        ),
        pdf="results/figures/paper/{panel}.pdf",
    log:
        "results/logs/figures/paper/{panel}.log",
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
            "results/figures/sweep/{channel}/half_life_map_N{n_cells}.png",
            caption="../report/half_life_map.rst",
            category="Half-life maps",
            subcategory="{channel}",
            labels={"channel": "{channel}", "N": "{n_cells}"},
        ),
        pdf="results/figures/sweep/{channel}/half_life_map_N{n_cells}.pdf",
    log:
        "results/logs/figures/sweep/{channel}/half_life_map_N{n_cells}.log",
    wildcard_constraints:
        channel="|".join(config["grid"]["channel"]),
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
            "results/figures/sweep/{channel}/half_life_vs_n_J{J}.png",
            caption="../report/half_life_vs_n.rst",
            category="Half-life versus N",
            subcategory="{channel}",
            labels={"channel": "{channel}", "J": "{J}"},
        ),
        pdf="results/figures/sweep/{channel}/half_life_vs_n_J{J}.pdf",
    log:
        "results/logs/figures/sweep/{channel}/half_life_vs_n_J{J}.log",
    wildcard_constraints:
        channel="|".join(config["grid"]["channel"]),
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
            "results/figures/sweep/xi0_vs_n.png",
            caption="../report/xi0_vs_n.rst",
            category="Initial efficiency",
            labels={"figure": "xi(0) and dead energy versus N"},
        ),
        pdf="results/figures/sweep/xi0_vs_n.pdf",
    log:
        "results/logs/figures/sweep/xi0_vs_n.log",
    localrule: True
    params:
        grid=config["grid"],
    run:
        qbsd_plots.sweep_figure_job(
            "xi0_vs_n", input.table, **output, log=log[0], grid=params.grid
        )


# The symmetric battery up to large N (config key large_n): its labels and the
# grid's symmetric labels at the same couplings, on a log N axis.
rule large_n_scaling:
    input:
        table=SUMMARY["half_lives_csv"],
    output:
        png=report(
            "results/figures/sweep/{channel}/large_n_scaling.png",
            caption="../report/large_n_scaling.rst",
            category="Large N (symmetric)",
            labels={"channel": "{channel}", "figure": "half-life and xi(0) versus N"},
        ),
        pdf="results/figures/sweep/{channel}/large_n_scaling.pdf",
    log:
        "results/logs/figures/sweep/{channel}/large_n_scaling.log",
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
        table="results/summary/{table}.csv",
    output:
        report(
            "results/report/tables/{table}.html",
            caption="../report/summary_table.rst",
            category="Summary tables",
            labels={"table": "{table}"},
        ),
    log:
        "results/logs/report/{table}.log",
    wildcard_constraints:
        table="|".join(SUMMARY_TABLES),
    localrule: True
    run:
        qbsd_plots.table_html_job(input.table, output[0], log[0], title=input.table)
