# Evaluation: generation toxicity (Llama 2's ToxiGen protocol) and utility
# benchmarks (MMLU 5-shot, commonsense 0-shot) through lm-evaluation-harness.


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
        scorer=config["scorer"],
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


rule lm_eval_tasks:
    input:
        mmlu_dev=EMBEDDED_FILES["mmlu_dev"],
        mmlu_test=EMBEDDED_FILES["mmlu_test"],
        commonsense=[EMBEDDED_FILES[f"commonsense_{name}"] for name in ("physical", "science", "everyday")],
    output:
        directory("results/lm_eval_tasks"),
    params:
        data_dir=EMBEDDED,
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
    output:
        "results/metrics/{model}/{method}/seed{seed}/{suite}.json",
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
