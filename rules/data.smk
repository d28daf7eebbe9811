# Data: stand-ins for the embedded profile, then the canonical training mixture and
# evaluation prompts that every method and evaluation shares.
from corpora.loaders import SAFENLP_TOXIGEN_URL


rule build_embedded_data:
    output:
        **EMBEDDED_FILES,
    params:
        options=config["data"].get("embedded", {}),
        out_dir=EMBEDDED,
    log:
        "logs/build_embedded_data.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/build_embedded_data.py"


rule prepare_mixture:
    # Training rows that repeat an evaluation prompt are left out before drawing, then held-out rows are set
    # aside (with every duplicate of them) (corpora/overlap.py); the stats file counts both per domain.
    input:
        toxicity=get_data_source("toxicity_train"),
        general=get_data_source("general_train"),
        prompts=get_data_source("toxicity_prompts"),
    output:
        mixture="results/data/train_mixture.jsonl",
        stats="results/data/train_mixture.stats.json",
        heldout="results/data/heldout.jsonl",  # data.mixture.heldout_per_domain rows per domain, set aside before the draw
    params:
        toxicity=config["data"]["toxicity_train"],
        general=config["data"]["general_train"],
        prompts=config["data"]["toxicity_prompts"],
        mixture=config["data"]["mixture"],
    log:
        "logs/prepare_mixture.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/prepare_mixture.py"


rule score_mixture:
    input:
        "results/data/train_mixture.jsonl",
    output:
        "results/data/train_mixture.scored.jsonl",
    params:
        scorer=config["scorer"],
    log:
        "logs/score_mixture.log",
    benchmark:
        "benchmarks/score_mixture.tsv"
    threads: 2
    resources:
        gpu=1,  # the scorer uses a GPU when its job has one (modeling/gpus.py); 40,000 training rows: minutes there, hours on CPU cores
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/score_texts.py"


rule prepare_prompts:
    input:
        get_data_source("toxicity_prompts"),
    output:
        "results/data/toxicity_prompts.jsonl",
    params:
        dataset=config["data"]["toxicity_prompts"],
        n_prompts=config["evaluation"]["toxicity"]["n_prompts"],
    log:
        "logs/prepare_prompts.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/prepare_prompts.py"


rule download_safenlp_prompts:
    # The SafeNLP ToxiGen prompts are a file in the microsoft/SafeNLP repository,
    # not a hub data set. Machines without a network: copy the file to this path.
    output:
        "resources/data/safenlp/toxiGen.json",
    params:
        url=SAFENLP_TOXIGEN_URL,
    log:
        "logs/download_safenlp_prompts.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/download.py"
