# Two entry points for a fresh machine with only python3:
#   make run   - set up .venv and run the default study (snakemake, all cores)
#   make test  - set up .venv, lint, and run every test (the command CI runs)
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= all
PYTEST_ARGS ?=
# The unit tests run on every core (pytest-xdist); the end-to-end runs, which
# use every core themselves, time their own signals or start a SLURM cluster,
# run one at a time.
TEST_WORKERS ?= auto

.PHONY: setup run test lint format report clean-results

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

run: setup
	$(VENV)/bin/snakemake --cores $(CORES)

report: setup
	$(VENV)/bin/snakemake --report report.html

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(VENV)/bin/snakemake --lint --cores 1

test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not workflow and not slurm" $(PYTEST_ARGS)
	$(PY) -m pytest -m "workflow or slurm" $(PYTEST_ARGS)

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .
	$(VENV)/bin/snakefmt Snakefile workflow/rules

clean-results:
	rm -rf results .snakemake report.html
