# Models: prepare (or locate) each base model, and fine-tune one checkpoint per
# training method and seed.


rule prepare_model:
    output:
        manifest="resources/models/{model}/manifest.json",
    params:
        spec=lambda wildcards: get_model_spec(wildcards.model),
        out_dir=lambda wildcards: f"resources/models/{wildcards.model}/hf",
    wildcard_constraints:
        model=_alternatives(MODELS + JUDGES),
    log:
        "logs/prepare_model/{model}.log",
    benchmark:
        "benchmarks/prepare_model/{model}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/prepare_model.py"


rule pretrain_base:
    # The stand-in base (embedded profile): the prepared model after a short continued-pretraining stage on
    # web-like text with hostile posts (a model entry's `continued_pretraining` block; README "What the
    # embedded default stands in for"). Every method of the model starts from it.
    input:
        source="resources/models/{model}/manifest.json",
        corpus=lambda wildcards: config["models"][wildcards.model]["continued_pretraining"]["corpus"],
        mixture="results/data/train_mixture.jsonl",
        heldout="results/data/heldout.jsonl",
        prompts=get_data_source("toxicity_prompts"),
    output:
        manifest="resources/models/{model}/base/manifest.json",
        stats="resources/models/{model}/base/corpus_stats.json",
    params:
        stage=lambda wildcards: config["models"][wildcards.model]["continued_pretraining"],
        prompts=config["data"]["toxicity_prompts"],
        model_dir=lambda wildcards: f"resources/models/{wildcards.model}/base/hf",
        state_dir=lambda wildcards: f"resources/models/{wildcards.model}/base/state",
    wildcard_constraints:
        model=_alternatives([model for model in MODELS if config["models"][model].get("continued_pretraining")]),
    log:
        "logs/pretrain_base/{model}.log",
    benchmark:
        "benchmarks/pretrain_base/{model}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/pretrain_base.py"


rule train:
    input:
        base=get_base_manifest,
        data="results/data/train_mixture.scored.jsonl",
        phase1=get_phase1_manifest,  # rl's sft_from: the sft entry's checkpoint, trained once
    output:
        manifest="results/checkpoints/{model}/{method}/seed{seed}/manifest.json",
    params:
        method=get_method_entry,
        training=get_training_config,
        scorer=config["scorer"],
        model_dir=lambda wildcards: f"results/checkpoints/{wildcards.model}/{wildcards.method}/seed{wildcards.seed}/model",
        # Kept out of the declared outputs on purpose: a failed job's checkpoints survive, and a rerun resumes.
        state_dir=lambda wildcards: f"results/checkpoints/{wildcards.model}/{wildcards.method}/seed{wildcards.seed}/state",
    wildcard_constraints:
        method=_alternatives(TRAINED),
    log:
        "logs/train/{model}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{model}/{method}/seed{seed}.tsv"
    threads: 2
    resources:
        # one per process; a one-process regularized job with parallel_device: cuda:1 asks for 2
        gpu=lambda wildcards: METHODS[wildcards.method].training_gpus(get_training_config(wildcards).get("num_processes", 1)),
        mem_mb=8000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/train.py"


rule nado_samples:
    # Samples of the base model on prompts from the training mixture, labelled by the scorer.
    input:
        manifest=get_base_manifest,
        data="results/data/train_mixture.scored.jsonl",
    output:
        "results/nado/{model}/{method}/seed{seed}/samples.jsonl",
    params:
        method=get_method_entry,
        scorer=config["scorer"],
    wildcard_constraints:
        method=_alternatives(GUIDED),
    log:
        "logs/nado_samples/{model}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/nado_samples/{model}/{method}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/nado_samples.py"


rule train_nado:
    input:
        manifest=get_base_manifest,
        samples="results/nado/{model}/{method}/seed{seed}/samples.jsonl",
    output:
        manifest="results/checkpoints/{model}/{method}/seed{seed}/manifest.json",
    params:
        method=get_method_entry,
        nado_dir=lambda wildcards: f"results/checkpoints/{wildcards.model}/{wildcards.method}/seed{wildcards.seed}/nado",
        state_dir=lambda wildcards: f"results/checkpoints/{wildcards.model}/{wildcards.method}/seed{wildcards.seed}/nado_state",
    wildcard_constraints:
        method=_alternatives(GUIDED),
    log:
        "logs/train_nado/{model}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/train_nado/{model}/{method}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=8000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/train_nado.py"
