# qbsd: self-discharging of N-cell quantum batteries, the sweep.
#
#   snakemake --cores 8                          # the default study, config/config.yaml
#   snakemake --cores 8 --configfile other.yaml  # another study (missing keys: defaults)
#   snakemake -n                                 # one simulation job per distinct point
#
# The config is validated (JSON schema + physics checks) in common.smk by
# qbsd.config.load_study, before any job exists.
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")


# The default study, found next to this Snakefile (also with --directory DIR);
# --configfile FILE is merged on top of it.
configfile: Path(workflow.basedir, "config", "config.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/summarise.smk"
include: "workflow/rules/plots.smk"


rule all:
    default_target: True
    input:
        get_final_output,
