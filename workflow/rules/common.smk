# Every Python function of the workflow, and the study the config describes.
#
# STUDY (a qbsd.points.Study) is built once when the workflow is parsed:
# qbsd.config.load_study fills the schema's defaults into `config`, validates
# it against workflow/schemas/config.schema.yaml and runs the physics checks
# (complete positivity, memory, custom geometries). An invalid config stops
# here, before any job, with one message naming key, value and what is allowed.
# (snakemake.utils.validate is not used: its message dumps the whole schema.)
import re
import sys

from qbsd import workflow as qbsd_workflow
from qbsd.config import ConfigError, load_study

try:
    STUDY = load_study(
        config,
        schema=workflow.source_path("../schemas/config.schema.yaml"),
        sources=[str(f) for f in workflow.configfiles],
    )
except ConfigError as error:
    sys.exit(str(error))

N_STATES = len(config["states"])
SUMMARY = qbsd_workflow.summary_outputs("results")
# Channels of the large-N figures (config key large_n; empty when it is off).
LARGE_N_CHANNELS = STUDY.large_n_channels()


def _alternatives(values):
    return "|".join(re.escape(v) for v in sorted(set(values), key=len, reverse=True))


def _wildcard_values(name):
    return [p.wildcards[name] for p in STUDY.points.values()] or ["none"]


def point_constraint(name):
    """Regex of the values a trajectory path's wildcard takes in this study."""
    return _alternatives(_wildcard_values(name))


def get_final_output(wildcards):
    """Targets of the default target (all): the summary tables, the label manifest,
    skipped.csv and every figure (the inputs of the collector rule `figures`).
    """
    return list(SUMMARY.values()) + list(rules.figures.input)


def get_trajectories():
    """One trajectory file per distinct point (every requested label maps to one)."""
    return STUDY.trajectory_paths()


def labels_digest():
    """Changes whenever the set of labels or their mapping changes (rerun trigger)."""
    return qbsd_workflow.settings_hash(STUDY.manifest_rows())


def _point(wildcards):
    return STUDY.point(**{k: wildcards[k] for k in STUDY_WILDCARDS})


STUDY_WILDCARDS = ("channel", "n_cells", "geometry", "J", "gamma12")


def point_settings(wildcards):
    """The full parameter set of a point: a change reruns it (params rerun trigger)."""
    return STUDY.point_settings(_point(wildcards))


def point_identifier(wildcards):
    return _point(wildcards).id


def simulate_mem_mb(wildcards, attempt):
    return qbsd_workflow.memory_mb(
        int(wildcards.n_cells),
        N_STATES,
        config["solver"]["method"],
        attempt,
        # the solver (full space, or permutation-invariant for symmetric) sets the memory
        geometry=_point(wildcards).geometry.name,
    )


def simulate_runtime(wildcards, attempt):
    return qbsd_workflow.runtime_minutes(
        int(wildcards.n_cells),
        N_STATES,
        config["time"]["t_max"],
        config["time"]["n_points"],
        attempt,
        geometry=_point(wildcards).geometry.name,
        method=config["solver"]["method"],
    )


def simulate_group(wildcards):
    """Small points share the group `simulate_small` (batched on a cluster); large go alone."""
    return qbsd_workflow.group(int(wildcards.n_cells))
