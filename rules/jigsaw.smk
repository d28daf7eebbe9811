# The Jigsaw classification variant (METHOD.md section 5; the paper's Jigsaw table):
# fine-tune on labelled comments with the LM loss on comment-plus-label text (sft,
# regularized: the usual methods, unchanged) or a classification head (sft_cls), then
# report generation toxicity (mean score) and classification ROC AUC.
#   results/jigsaw/data/{train,test}.jsonl, stats.json              comments (+ LM-loss text), counts
#   results/jigsaw/checkpoints/{model}/{jmethod}/seed{seed}/        model/ (+ classifier/), state/, manifest.json
#   results/jigsaw/generations/{model}/{jmethod}/seed{seed}/        toxicity.jsonl, toxicity.scored.jsonl
#   results/jigsaw/metrics/{model}/{jmethod}/seed{seed}/            toxicity.json, auc.json
#   results/tables/jigsaw.csv, results/plots/jigsaw.png
# `jmethod` is an entry of `jigsaw.methods` (its own wildcard: these names may repeat the
# main grid's). With jigsaw.enabled false, nothing here is requested (JIGSAW_OUTPUTS is empty).
import dataclasses
import os

from corpora.loaders import JIGSAW_FILES

JIGSAW = config.get("jigsaw") or {}
JIGSAW_ENABLED = bool(JIGSAW.get("enabled", False))
JIGSAW_METHODS = {}
JIGSAW_TRAINING = {}
if JIGSAW_ENABLED:
    if not JIGSAW.get("data"):
        raise ValueError("jigsaw.enabled is true but jigsaw.data is not set: e.g. {loader: jigsaw, source: {path: FOLDER}}")
    if not JIGSAW.get("methods"):
        raise ValueError("jigsaw.enabled is true but jigsaw.methods is empty: e.g. {base: {}, sft_lm: {type: sft}, sft_cls: {type: sft_cls}}")
    for _name, _entry in JIGSAW["methods"].items():
        try:
            JIGSAW_METHODS[_name] = method_registry.build_method(_name, _entry)
            JIGSAW_TRAINING[_name] = TrainingConfig.from_dict(
                {**config["training"], **JIGSAW.get("training", {}), **JIGSAW_METHODS[_name].config.training}
            )
            JIGSAW_METHODS[_name].check_training(JIGSAW_TRAINING[_name], where=f"methods.{_name}")
        except ValueError as _err:  # name the entry as it is written in the config
            _message = str(_err)
            raise ValueError(("jigsaw." if _message.startswith("methods.") else f"jigsaw.methods.{_name}: ") + _message) from None
        if JIGSAW_METHODS[_name].guided:
            raise ValueError(
                f"jigsaw.methods.{_name}: method type '{JIGSAW_METHODS[_name].name}' decodes under a NADO, which the "
                f"Jigsaw variant does not run; use base, sft, regularized or sft_cls"
            )
JIGSAW_TRAINED = [name for name, method in JIGSAW_METHODS.items() if method.trains]
JIGSAW_SCORER = JIGSAW.get("scorer") or EVAL_SCORER  # generation toxicity ("API toxicity"): the evaluation scorer (rules/evaluate.smk)
JIGSAW_OUTPUTS = ["results/tables/jigsaw.csv", "results/plots/jigsaw.png"] if JIGSAW_ENABLED else []


wildcard_constraints:
    jmethod=_alternatives(JIGSAW_METHODS),


# Inputs, as lists built here (no helper functions: they would belong in common.smk).
JIGSAW_SOURCE_PATH = ((JIGSAW.get("data") or {}).get("source") or {}).get("path")
JIGSAW_SOURCE_FILES = [f"{JIGSAW_SOURCE_PATH}/{name}" for name in JIGSAW_FILES] if JIGSAW_SOURCE_PATH else []
# A folder other than the stand-in's (which build_embedded_data writes) is fetched by download_jigsaw.
JIGSAW_DOWNLOADED = bool(JIGSAW_SOURCE_PATH) and os.path.normpath(JIGSAW_SOURCE_PATH) != os.path.normpath(os.path.join(EMBEDDED, "jigsaw"))
JIGSAW_CHECKPOINT = "results/jigsaw/checkpoints/{model}/{jmethod}/seed{seed}/manifest.json"
JIGSAW_METRICS = {
    name: expand(f"results/jigsaw/metrics/{{model}}/{{jmethod}}/seed{{seed}}/{name}.json", model=MODELS, jmethod=list(JIGSAW_METHODS), seed=SEEDS)
    for name in ("toxicity", "auc")
}
# Benchmark files of the Jigsaw jobs, for cost.csv.
JIGSAW_BENCHMARKS = [
    f"benchmarks/{job}/{model}/{jmethod}/seed{seed}.tsv"
    for job, jmethods in (("jigsaw_train", JIGSAW_TRAINED), ("jigsaw_generate", list(JIGSAW_METHODS)), ("jigsaw_auc", list(JIGSAW_METHODS)))
    for model in MODELS
    for jmethod in jmethods
    for seed in SEEDS
]


# The rules exist only when the variant is enabled (a disabled one cannot be requested by accident).
if JIGSAW_ENABLED:

    rule jigsaw_data:
        input:
            csv=JIGSAW_SOURCE_FILES,  # the Kaggle-layout CSVs of a local folder (so the DAG links the stand-in's)
        output:
            train="results/jigsaw/data/train.jsonl",  # no comment of the test split (corpora/overlap.py)
            test="results/jigsaw/data/test.jsonl",
            stats="results/jigsaw/data/stats.json",  # comments read, left out as repeats of a test comment, drawn
        params:
            data=JIGSAW.get("data"),
            n_train=JIGSAW.get("n_train"),
            n_test=JIGSAW.get("n_test"),
            template=lambda wildcards: JIGSAW["prompt_template"],  # a function: "{text}" is not a wildcard
            label_words=JIGSAW.get("label_words"),
        log:
            "logs/jigsaw_data.log",
        conda:
            "../envs/suite.yaml"
        script:
            "../scripts/jigsaw_data.py"


    if JIGSAW_DOWNLOADED:

        rule download_jigsaw:
            # The Kaggle competition files (paper profile). Without the kaggle CLI and an account
            # that accepted the competition's rules, it fails saying what to download where.
            output:
                JIGSAW_SOURCE_FILES,
            log:
                "logs/download_jigsaw.log",
            conda:
                "../envs/suite.yaml"
            script:
                "../scripts/download_jigsaw.py"


    rule jigsaw_train:
        input:
            base=get_base_manifest,
            data="results/jigsaw/data/train.jsonl",
        output:
            manifest=JIGSAW_CHECKPOINT,
        params:
            method=lambda wildcards: JIGSAW["methods"][wildcards.jmethod],
            training=lambda wildcards: dataclasses.asdict(JIGSAW_TRAINING[wildcards.jmethod]),
            scorer=config["scorer"],  # the training oracle (regularized's NADO labels), as in the main grid
            template=lambda wildcards: JIGSAW["prompt_template"],  # a function: "{text}" is not a wildcard
            label_words=JIGSAW.get("label_words"),
            model_dir=lambda wildcards: f"results/jigsaw/checkpoints/{wildcards.model}/{wildcards.jmethod}/seed{wildcards.seed}/model",
            # Kept out of the declared outputs on purpose: a failed job's checkpoints survive, and a rerun resumes.
            state_dir=lambda wildcards: f"results/jigsaw/checkpoints/{wildcards.model}/{wildcards.jmethod}/seed{wildcards.seed}/state",
        wildcard_constraints:
            jmethod=_alternatives(JIGSAW_TRAINED),
        log:
            "logs/jigsaw_train/{model}/{jmethod}/seed{seed}.log",
        benchmark:
            "benchmarks/jigsaw_train/{model}/{jmethod}/seed{seed}.tsv"
        threads: 2
        resources:
            gpu=1,
            mem_mb=8000,
        conda:
            "../envs/suite.yaml"
        script:
            "../scripts/jigsaw_train.py"


    rule jigsaw_generate:
        # The main table's generation: same prompts, settings and script.
        input:
            # the run's checkpoint, or the base model for a method that does not train (`base`)
            manifest=lambda wildcards: (JIGSAW_CHECKPOINT if wildcards.jmethod in JIGSAW_TRAINED else base_manifest(wildcards.model)).format(**wildcards),
            prompts="results/data/toxicity_prompts.jsonl",
        output:
            "results/jigsaw/generations/{model}/{jmethod}/seed{seed}/toxicity.jsonl",
        params:
            settings=config["evaluation"]["toxicity"],
        log:
            "logs/jigsaw_generate/{model}/{jmethod}/seed{seed}.log",
        benchmark:
            "benchmarks/jigsaw_generate/{model}/{jmethod}/seed{seed}.tsv"
        threads: 2
        resources:
            gpu=1,
            mem_mb=6000,
        conda:
            "../envs/suite.yaml"
        script:
            "../scripts/generate_toxicity.py"


    rule jigsaw_score_toxicity:
        input:
            "results/jigsaw/generations/{model}/{jmethod}/seed{seed}/toxicity.jsonl",
        output:
            scored="results/jigsaw/generations/{model}/{jmethod}/seed{seed}/toxicity.scored.jsonl",
            metrics="results/jigsaw/metrics/{model}/{jmethod}/seed{seed}/toxicity.json",
        params:
            scorer=JIGSAW_SCORER,
            resamples=config["evaluation"]["toxicity"]["bootstrap_resamples"],
        log:
            "logs/jigsaw_score_toxicity/{model}/{jmethod}/seed{seed}.log",
        threads: 2
        resources:
            gpu=1,  # the scorer uses a GPU when its job has one (modeling/gpus.py)
        conda:
            "../envs/suite.yaml"
        script:
            "../scripts/jigsaw_score_toxicity.py"


    rule jigsaw_auc:
        input:
            # the run's checkpoint, or the base model for a method that does not train (`base`)
            manifest=lambda wildcards: (JIGSAW_CHECKPOINT if wildcards.jmethod in JIGSAW_TRAINED else base_manifest(wildcards.model)).format(**wildcards),
            test="results/jigsaw/data/test.jsonl",
        output:
            "results/jigsaw/metrics/{model}/{jmethod}/seed{seed}/auc.json",
        params:
            template=lambda wildcards: JIGSAW["prompt_template"],  # a function: "{text}" is not a wildcard
            label_words=JIGSAW.get("label_words"),
            max_length=lambda wildcards: JIGSAW_TRAINING[wildcards.jmethod].max_length,  # comments cut as in training
            batch_size=config["evaluation"]["benchmarks"]["batch_size"],  # one forward per comment, like lm-eval's scoring
            resamples=config["evaluation"]["toxicity"]["bootstrap_resamples"],
        log:
            "logs/jigsaw_auc/{model}/{jmethod}/seed{seed}.log",
        benchmark:
            "benchmarks/jigsaw_auc/{model}/{jmethod}/seed{seed}.tsv"
        threads: 2
        resources:
            gpu=1,
            mem_mb=6000,
        conda:
            "../envs/suite.yaml"
        script:
            "../scripts/jigsaw_auc.py"


    rule jigsaw_table:
        input:
            toxicity=JIGSAW_METRICS["toxicity"],
            auc=JIGSAW_METRICS["auc"],
        output:
            report("results/tables/jigsaw.csv", caption="../report/jigsaw.rst", category="Jigsaw"),
        params:
            methods=list(JIGSAW_METHODS),
            models=MODELS,
        log:
            "logs/jigsaw_table.log",
        conda:
            "../envs/suite.yaml"
        script:
            "../scripts/jigsaw_table.py"


    rule jigsaw_plot:
        input:
            "results/tables/jigsaw.csv",
        output:
            report("results/plots/jigsaw.png", caption="../report/jigsaw.rst", category="Jigsaw"),
        log:
            "logs/jigsaw_plot.log",
        conda:
            "../envs/suite.yaml"
        script:
            "../scripts/jigsaw_plot.py"
