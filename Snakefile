# qbsd: self-discharging of N-cell quantum batteries, the sweep.
#
#   snakemake --cores 8                          # the default study, config/config.yaml
#   snakemake --cores 8 --configfile other.yaml  # another study (missing keys: defaults)
#   snakemake -n                                 # one simulation job per distinct point
#
# The config is validated (JSON schema + physics checks) in common.smk by
# qbsd.config.load_study, before any job exists.
import sys
from pathlib import Path

from snakemake.utils import min_version

from qbsd.config import ConfigError, read_config_file

min_version("9.0")

# The default study, found next to this Snakefile (also with --directory DIR);
# --configfile FILE is merged on top of it. Read it once here first: a YAML
# syntax error then names the file and line (snakemake's own message names
# neither). A --configfile is read by snakemake before this file runs.
DEFAULT_CONFIG = Path(workflow.basedir, "config", "config.yaml")
if DEFAULT_CONFIG.exists():
    try:
        read_config_file(DEFAULT_CONFIG)
    except ConfigError as error:
        sys.exit(str(error))


configfile: DEFAULT_CONFIG


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/summarise.smk"
include: "workflow/rules/plots.smk"


# Ctrl-C or SIGTERM: stop the worker processes at once (qbsd.jobs), then exit.
onstart:
    qbsd_jobs.install_signal_handlers()


onsuccess:
    qbsd_jobs.shutdown_pool()


onerror:
    qbsd_jobs.shutdown_pool()


rule all:
    default_target: True
    input:
        get_final_output,
