# Tables and plots, from per-run metrics only: editing a plot never re-trains.
# `make tables` reruns just these rules on the metrics already on disk.


rule tables:
    input:
        "results/tables/main.csv",
        "results/tables/main_by_seed.csv",
        "results/plots/main.png",
        "results/tables/cost.csv",
        "results/tables/cost_training.csv",
        WINRATE_OUTPUTS,  # empty when evaluation.winrate.judge is null
        JIGSAW_OUTPUTS,  # empty when jigsaw.enabled is false
        expand("results/tables/nado_decoding_speed/{model}.{method}.seed{seed}.csv", model=MODELS[:1], method=GUIDED[:1], seed=SEEDS[:1]),



rule main_table:
    input:
        toxicity=grid("results/metrics/{model}/{method}/seed{seed}/toxicity.json"),
        benchmarks=grid("results/metrics/{model}/{method}/seed{seed}/{suite}.json", suite=SUITES),
    output:
        table="results/tables/main.csv",
        by_seed="results/tables/main_by_seed.csv",
    params:
        methods=list(METHODS),
        models=MODELS,
    log:
        "logs/main_table.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/main_table.py"


rule main_plot:
    input:
        "results/tables/main.csv",
    output:
        "results/plots/main.png",
    log:
        "logs/main_plot.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/main_plot.py"


rule cost_table:
    input:
        get_cost_inputs,
    output:
        jobs="results/tables/cost.csv",
        training="results/tables/cost_training.csv",
    log:
        "logs/cost_table.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/cost_table.py"
