# Evaluation: generation toxicity (Llama 2's ToxiGen protocol) and utility
# benchmarks (MMLU 5-shot, commonsense 0-shot, held-out perplexity) through lm-evaluation-harness.
from evaluation.detox_metrics import same_scorer, scorer_label

# The training-time oracle (`scorer:`: filtering, RL's reward, NADO's labels) and the
# evaluation scorer (`evaluation.scorer`, null = the oracle) are set apart; toxicity.json
# names both and says whether they are the same.
EVAL_SCORER = config["evaluation"].get("scorer") or config["scorer"]
if config["evaluation"].get("scorer"):  # backend and options checked now (a registry look-up: nothing is loaded)
    from evaluation.toxicity import get_scorer_class, scorer_options

    get_scorer_class(EVAL_SCORER["backend"])
    _unknown = sorted(set(EVAL_SCORER) - {"backend", *scorer_options(EVAL_SCORER["backend"])})
    if _unknown:
        raise ValueError(f"evaluation.scorer: unknown option(s) {_unknown} of backend '{EVAL_SCORER['backend']}'; "
                         f"known options: {scorer_options(EVAL_SCORER['backend'])}")
ORACLE_NAME = scorer_label(config["scorer"])
SCORER_IS_ORACLE = same_scorer(EVAL_SCORER, config["scorer"])
# Fluency's fixed reference LM (one for every method): evaluation.fluency.model, null = the first `models:` alias.
FLUENCY = config["evaluation"].get("fluency") or {}
FLUENCY_MODEL = FLUENCY.get("model") or MODELS[0]
if FLUENCY_MODEL not in MODELS + JUDGES:
    raise ValueError(
        f"evaluation.fluency.model: '{FLUENCY_MODEL}' is not an alias under `models:` or `judges:`; "
        f"known aliases: {', '.join(MODELS + JUDGES)}"
    )


rule generate_toxicity:
    input:
        manifest=get_model_manifest,
        prompts="results/data/toxicity_prompts.jsonl",
    output:
        "results/generations/{model}/{method}/seed{seed}/toxicity.jsonl",
    params:
        settings=config["evaluation"]["toxicity"],
    log:
        "logs/generate_toxicity/{model}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/generate_toxicity/{model}/{method}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/generate_toxicity.py"


rule score_toxicity:
    input:
        "results/generations/{model}/{method}/seed{seed}/toxicity.jsonl",
    output:
        scored="results/generations/{model}/{method}/seed{seed}/toxicity.scored.jsonl",
        metrics="results/metrics/{model}/{method}/seed{seed}/toxicity.json",
    params:
        scorer=EVAL_SCORER,  # the evaluation scorer, not necessarily the training-time oracle
        oracle=ORACLE_NAME,
        scorer_is_oracle=SCORER_IS_ORACLE,
        resamples=config["evaluation"]["toxicity"]["bootstrap_resamples"],
    log:
        "logs/score_toxicity/{model}/{method}/seed{seed}.log",
    threads: 2
    resources:
        gpu=1,  # the scorer uses a GPU when its job has one (modeling/gpus.py)
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/score_toxicity.py"


rule fluency:
    # Perplexity of the continuations under one fixed reference model (DExperts; evaluation/fluency.py).
    input:
        generations="results/generations/{model}/{method}/seed{seed}/toxicity.jsonl",
        reference=f"resources/models/{FLUENCY_MODEL}/manifest.json",
    output:
        "results/metrics/{model}/{method}/seed{seed}/fluency.json",
    params:
        reference_model=FLUENCY_MODEL,
        batch_size=FLUENCY.get("batch_size", 16),
        resamples=config["evaluation"]["toxicity"]["bootstrap_resamples"],
    log:
        "logs/fluency/{model}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/fluency/{model}/{method}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/fluency.py"


rule lm_eval_tasks:
    # Task YAMLs lm-eval reads with include_path: embedded_* (the embedded stand-in MMLU and
    # commonsense files) when a suite uses them, and heldout_<domain> (rolling log-likelihood of
    # results/data/heldout.jsonl's text, checked against the training mixture) when a suite uses them.
    input:
        embedded=[EMBEDDED_FILES[name] for name in ("mmlu_dev", "mmlu_test", "commonsense_physical",
                                                    "commonsense_science", "commonsense_everyday")
                  if USES_EMBEDDED_TASKS],
        heldout="results/data/heldout.jsonl" if HELDOUT_TASK_DOMAINS else [],
        mixture="results/data/train_mixture.jsonl" if HELDOUT_TASK_DOMAINS else [],
    output:
        directory("results/lm_eval_tasks"),
    params:
        data_dir=EMBEDDED if USES_EMBEDDED_TASKS else None,
        heldout_domains=HELDOUT_TASK_DOMAINS,
    log:
        "logs/lm_eval_tasks.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/lm_eval_tasks.py"


rule benchmark:
    input:
        manifest=get_model_manifest,
        tasks=get_benchmark_tasks,
        training=get_benchmark_training,
    output:
        metrics="results/metrics/{model}/{method}/seed{seed}/{suite}.json",
        # one row per document (evaluation.benchmarks.document_rows): paired comparisons between methods
        docs="results/metrics/{model}/{method}/seed{seed}/{suite}.docs.jsonl",
    params:
        suite=lambda wildcards: config["evaluation"]["benchmarks"][wildcards.suite],
        batch_size=config["evaluation"]["benchmarks"]["batch_size"],
    log:
        "logs/benchmark/{model}/{method}/seed{seed}.{suite}.log",
    benchmark:
        "benchmarks/benchmark/{model}/{method}/seed{seed}.{suite}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/benchmark.py"


rule nado_decoding_speed:
    # Tokens per second of NADO decoding vs plain decoding: same model, prompts, batch.
    input:
        manifest="results/checkpoints/{model}/{method}/seed{seed}/manifest.json",
    output:
        "results/tables/nado_decoding_speed/{model}.{method}.seed{seed}.csv",
    params:
        settings=config["evaluation"]["toxicity"],
    wildcard_constraints:
        method=_alternatives(GUIDED),
    log:
        "logs/nado_decoding_speed/{model}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/nado_decoding_speed/{model}/{method}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/nado_decoding_speed.py"
