# Every Python function of the workflow, and the study the config describes.
#
# STUDY (a qbsd.points.Study) is built once when the workflow is parsed:
# qbsd.config.load_study fills the schema's defaults into `config`, validates
# it against workflow/schemas/config.schema.yaml and runs the physics checks
# (complete positivity, memory, custom geometries). An invalid config stops
# here, before any job, with one message naming key, value and what is allowed.
# (snakemake.utils.validate is not used: its message dumps the whole schema.)
import sys

from qbsd import batches as qbsd_batches
from qbsd import jobs as qbsd_jobs
from qbsd import paths as qbsd_paths
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
SUMMARY = qbsd_workflow.summary_outputs()
# Channels of the large-N figures (config key large_n; empty when it is off).
LARGE_N_CHANNELS = STUDY.large_n_channels()


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


# The batches of distinct points, one simulate rule each (simulate.smk).
BATCHES = qbsd_batches.plan(STUDY)
BATCH_OF = {batch.name: batch for batch in BATCHES}
CODE_VERSION = qbsd_workflow.code_version()


def batch_log(batch):
    return qbsd_paths.simulate_log(batch.name)


def batch_mem_mb(batch):
    """``mem_mb`` of a batch job: its largest point, growing with the attempt."""

    def mem_mb(wildcards, attempt):
        return batch.mem_mb(attempt)

    return mem_mb


def batch_runtime(batch):
    """``runtime`` (minutes) of a batch job, growing with the attempt."""

    def runtime(wildcards, attempt):
        return batch.runtime_minutes(attempt)

    return runtime


def batch_digest(batch):
    """Digest of the batch's point settings and the code version (rerun trigger)."""
    settings = [STUDY.point_settings(p) for p in batch.points]
    return qbsd_batches.settings_digest(settings, CODE_VERSION)


def batch_job(rule_name):
    """Keyword arguments of ``qbsd.jobs.simulate_batch`` for the batch rule ``rule_name``."""
    batch = BATCH_OF[rule_name]
    return {
        "settings": [STUDY.point_settings(p) for p in batch.points],
        "point_ids": [p.id for p in batch.points],
        "code_version": CODE_VERSION,
    }


def worker_processes():
    """Worker processes for batch jobs: one per core in a local run, 0 inside a cluster job."""
    if workflow.is_main_process and workflow.local_exec:
        return max(1, int(workflow.cores))
    return 0
