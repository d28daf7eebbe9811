# Configuration, the grid, and input helpers. No rules here, and no torch import:
# the paper config's DAG must build in seconds on a laptop.
import os
import re
import sys

from snakemake.utils import validate

validate(config, "../schemas/config.schema.yaml")

# Library code (methods/, corpora/, modeling/, evaluation/) is importable by the
# workflow and by every job's script.
sys.path.insert(0, workflow.basedir)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# glibc hands every allocation above its mmap threshold (at most 32 MB, dynamically) a
# fresh mapping, page-faulted and zeroed again on every use; vocabulary-wide CPU tensors
# ([positions, 49152] floats) are that size, so a training step spends much of its time
# in page faults. Keeping freed memory in the heap (as PyTorch's CPU tuning guides do
# with jemalloc/tcmalloc) makes a log_softmax/exp loop on [240, 49152] ~3x faster here
# (bench/cpu_allocator.py). Jobs inherit it; a value already in the environment wins.
os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(2**32))
os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(2**32))
if config["offline"]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
if config.get("hf_home"):
    os.environ.setdefault("HF_HOME", os.path.abspath(config["hf_home"]))

import methods as method_registry
from evaluation.benchmarks import HELDOUT_PREFIX, PAPER_PERPLEXITY_TASKS, PAPER_TASK_FOLDERS
from methods._trainer import TrainingConfig

# Building every method object here makes a bad entry (unknown method, unknown
# option) fail before any job runs, with the list of what is known.
METHODS = {name: method_registry.build_method(name, entry) for name, entry in config["methods"].items()}
MODELS = list(config["models"])
JUDGES = list(config["judges"])  # models used only as win-rate judges: prepared, never evaluated
if set(JUDGES) & set(MODELS):
    raise ValueError(
        f"aliases {sorted(set(JUDGES) & set(MODELS))} are under both `models:` and `judges:`: keep each in one "
        "block (a `models:` alias can be the win-rate judge as it is)"
    )
SEEDS = [str(seed) for seed in config["seeds"]]
TRAINED = [name for name, method in METHODS.items() if method.trains]
GUIDED = [name for name, method in METHODS.items() if method.guided and not method.trains]
SUITES = [name for name, suite in config["evaluation"]["benchmarks"].items() if isinstance(suite, dict)]
def entry_training(name):
    """The training options of ``methods.<name>``: the shared ``training:`` block, the entry's overrides on top."""
    return {**config["training"], **METHODS[name].config.training}


TrainingConfig.from_dict(config["training"])  # the shared block first, so an error below is in an entry's overrides
for _name, _method in METHODS.items():  # e.g. regularized's iterations <= max_steps: fails here, naming the entry
    _method.check_training(TrainingConfig.from_dict(entry_training(_name),
                                                    where=f"methods.{_name}.training"),
                           where=f"methods.{_name}")

# Phase 1 shared with another entry (rl's `sft_from`): that entry's checkpoint is phase 1's
# model only when it is the same fine-tuning; anything else would reuse a model made under
# other settings, so it fails here and says which options differ.
for _name, _method in METHODS.items():
    _source = getattr(_method.config, "sft_from", None)
    if _source is None:
        continue
    if _source not in METHODS or METHODS[_source].config.type != "sft":
        raise ValueError(f"methods.{_name}.sft_from: {_source!r} is not an entry of type sft under methods: "
                         f"(entries of type sft: {sorted(n for n, m in METHODS.items() if m.config.type == 'sft')})")
    _wanted = _method.phase1_training(entry_training(_name))
    _given = entry_training(_source)
    _differ = sorted(k for k in set(_wanted) | set(_given) if _wanted.get(k) != _given.get(k))
    if _differ:
        raise ValueError(f"methods.{_name}.sft_from: {_source!r} trains with other options than {_name}'s phase 1 "
                         f"({', '.join(f'{k}: {_given.get(k)!r} vs {_wanted.get(k)!r}' for k in _differ)}); make them "
                         f"equal (sft_steps, the entries' training: overrides) or set sft_from: null")


def _alternatives(values):
    return "|".join(re.escape(value) for value in values) or "(?!)"


wildcard_constraints:
    model=_alternatives(MODELS),
    method=_alternatives(METHODS),
    seed=r"\d+",
    suite=_alternatives(SUITES),


EMBEDDED = "resources/data/embedded"
EMBEDDED_FILES = {
    "toxigen_train": f"{EMBEDDED}/toxigen_train.jsonl",
    "safenlp_toxigen": f"{EMBEDDED}/safenlp_toxigen.json",
    "wikitext_train": f"{EMBEDDED}/wikitext_train.jsonl",
    "web_corpus": f"{EMBEDDED}/web_corpus.jsonl",
    "jigsaw_train": f"{EMBEDDED}/jigsaw/train.csv",
    "jigsaw_test": f"{EMBEDDED}/jigsaw/test.csv",
    "jigsaw_test_labels": f"{EMBEDDED}/jigsaw/test_labels.csv",
    "mmlu_dev": f"{EMBEDDED}/mmlu/dev.jsonl",
    "mmlu_test": f"{EMBEDDED}/mmlu/test.jsonl",
    "commonsense_physical": f"{EMBEDDED}/commonsense/physical.jsonl",
    "commonsense_science": f"{EMBEDDED}/commonsense/science.jsonl",
    "commonsense_everyday": f"{EMBEDDED}/commonsense/everyday.jsonl",
}


def get_data_source(name):
    """Input file of a `data:` entry when it is local (so the DAG links it), else []."""
    path = config["data"][name]["source"].get("path")
    return [path] if path else []


def get_model_spec(alias):
    """The config entry of a base model or a judge."""
    return config["models"][alias] if alias in config["models"] else config["judges"][alias]


def base_manifest(model):
    """The manifest of the base every method of ``model`` starts from: the prepared model, or, when
    its entry has a ``continued_pretraining`` block, that model after the stage (rule pretrain_base).
    Judges and the fluency reference use the prepared model itself."""
    if (config["models"].get(model) or {}).get("continued_pretraining"):
        return f"resources/models/{model}/base/manifest.json"
    return f"resources/models/{model}/manifest.json"


def get_base_manifest(wildcards):
    return base_manifest(wildcards.model)


def get_model_manifest(wildcards):
    """The manifest a run evaluates: the base model's, or its checkpoint's (fine-tuned or NADO)."""
    if wildcards.method in TRAINED or wildcards.method in GUIDED:
        return f"results/checkpoints/{wildcards.model}/{wildcards.method}/seed{wildcards.seed}/manifest.json"
    return base_manifest(wildcards.model)


def get_phase1_manifest(wildcards):
    """The checkpoint manifest an entry's phase 1 comes from (rl's ``sft_from``), else []."""
    source = getattr(METHODS[wildcards.method].config, "sft_from", None)
    return [f"results/checkpoints/{wildcards.model}/{source}/seed{wildcards.seed}/manifest.json"] if source else []


def get_training_config(wildcards):
    return entry_training(wildcards.method)


def get_method_entry(wildcards):
    return config["methods"][wildcards.method]


# lm-eval tasks the workflow writes (in the lm_eval_tasks rule) are embedded_* from the embedded stand-in data,
# heldout_<domain> from results/data/heldout.jsonl (evaluation/benchmarks.py).
BENCHMARK_TASKS = [task for suite in SUITES for task in config["evaluation"]["benchmarks"][suite]["tasks"]]
USES_EMBEDDED_TASKS = any(task.startswith("embedded_") for task in BENCHMARK_TASKS)
HELDOUT_TASK_DOMAINS = sorted({task.removeprefix(HELDOUT_PREFIX) for task in BENCHMARK_TASKS if task.startswith(HELDOUT_PREFIX)})


def get_benchmark_tasks(wildcards):
    """The task-YAML folder when a suite has a task that is not one of lm-eval's built-in paper
    tasks (PAPER_TASK_FOLDERS): the workflow's embedded_* and heldout_* tasks."""
    tasks = config["evaluation"]["benchmarks"][wildcards.suite]["tasks"]
    return ["results/lm_eval_tasks"] if any(task not in PAPER_TASK_FOLDERS for task in tasks) else []


def get_benchmark_training(wildcards):
    """The training mixture when a suite scores held-out text (heldout_*, wikitext): its documents
    are checked against it (evaluation.benchmarks.training_overlap)."""
    tasks = config["evaluation"]["benchmarks"][wildcards.suite]["tasks"]
    held_out = any(task.startswith(HELDOUT_PREFIX) or task in PAPER_PERPLEXITY_TASKS for task in tasks)
    return ["results/data/train_mixture.jsonl"] if held_out else []


def grid(pattern, **extra):
    """Expand a path over models x methods x seeds."""
    return expand(pattern, model=MODELS, method=list(METHODS), seed=SEEDS, **extra)


def get_cost_inputs(wildcards):
    """Benchmark files of every job that trains, generates or evaluates."""
    files = grid("benchmarks/generate_toxicity/{model}/{method}/seed{seed}.tsv")
    files += grid("benchmarks/fluency/{model}/{method}/seed{seed}.tsv")
    files += [f"benchmarks/pretrain_base/{model}.tsv" for model in MODELS if config["models"][model].get("continued_pretraining")]
    files += grid("benchmarks/benchmark/{model}/{method}/seed{seed}.{suite}.tsv", suite=SUITES)
    files += expand("benchmarks/train/{model}/{method}/seed{seed}.tsv", model=MODELS, method=TRAINED, seed=SEEDS)
    files += [f.replace("results/winrate/", "benchmarks/judge_pair/").replace(".jsonl", ".tsv") for f in WINRATE_JUDGEMENTS]
    files += ["benchmarks/judge_controls/controls.tsv"] if WINRATE_JUDGE else []
    files += JIGSAW_BENCHMARKS
    for rule_name in ("nado_samples", "train_nado"):
        files += expand(f"benchmarks/{rule_name}/{{model}}/{{method}}/seed{{seed}}.tsv", model=MODELS, method=GUIDED, seed=SEEDS)
    return files


def get_training_manifests(wildcards):
    """Manifests of the fine-tuning jobs (main grid and Jigsaw): the tokens/s and peak GPU memory they measured."""
    files = expand("results/checkpoints/{model}/{method}/seed{seed}/manifest.json", model=MODELS, method=TRAINED, seed=SEEDS)
    return files + expand(JIGSAW_CHECKPOINT, model=MODELS, jmethod=JIGSAW_TRAINED, seed=SEEDS)
