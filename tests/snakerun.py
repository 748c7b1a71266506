"""Running the study's snakemake from tests: one helper every workflow test shares."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_command(workdir: Path, configfile: Path, *args: str) -> list[str]:
    """``snakemake`` on the repository's Snakefile, results under ``workdir``."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *args,
    ]


def run_snakemake(
    workdir: Path, configfile: Path, *args: str, timeout: int = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run it to completion, capturing output (warnings silenced, ``env`` added)."""
    environment = {**os.environ, "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        snakemake_command(workdir, configfile, *args),
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    """Jobs per rule from snakemake's "Job stats" table; ``simulate``: all batch rules."""
    table = output.split("Job stats:")[1]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    batches = sum(v for k, v in counts.items() if k.startswith("simulate_"))
    if batches:
        counts["simulate"] = batches
    return counts
