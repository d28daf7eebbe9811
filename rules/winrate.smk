# Judge-LLM win rate (METHOD.md section 5; the protocol is ours: evaluation/winrate.py).
# One job per model, seed and unordered method pair judges sample 0 of both methods'
# continuations of the same prompts in both orders; the table pools seeds.
#   results/winrate/{model}/{method_a}__vs__{method_b}/seed{seed}.jsonl   per-prompt judgements
#   results/tables/winrate.csv, results/plots/winrate.png
# With evaluation.winrate.judge null, nothing here is requested (WINRATE_OUTPUTS is empty).
from evaluation.winrate import method_pairs, resolve_judge, winrate_methods

WINRATE = config["evaluation"]["winrate"]
WINRATE_JUDGE = WINRATE["judge"]
if WINRATE_JUDGE:
    resolve_judge(WINRATE_JUDGE, config["models"], config.get("judges"))  # fails early, naming the known aliases
    WINRATE_METHODS = winrate_methods(WINRATE["methods"], list(METHODS))
else:
    WINRATE_METHODS = []
WINRATE_PAIRS = method_pairs(WINRATE_METHODS)
WINRATE_OUTPUTS = ["results/tables/winrate.csv", "results/plots/winrate.png"] if WINRATE_JUDGE else []
# Every model x seed x method pair (none without a judge).
WINRATE_JUDGEMENTS = [
    f"results/winrate/{model}/{method_a}__vs__{method_b}/seed{seed}.jsonl"
    for model in MODELS
    for method_a, method_b in WINRATE_PAIRS
    for seed in SEEDS
]


rule judge_pair:
    input:
        # The judge's manifest, made by prepare_model (a `models:` or `judges:` alias). Without
        # a judge, WINRATE_METHODS is empty and the method constraints match nothing.
        judge=f"resources/models/{WINRATE_JUDGE}/manifest.json",
        first="results/generations/{model}/{method_a}/seed{seed}/toxicity.jsonl",
        second="results/generations/{model}/{method_b}/seed{seed}/toxicity.jsonl",
    output:
        "results/winrate/{model}/{method_a}__vs__{method_b}/seed{seed}.jsonl",
    params:
        judge=WINRATE_JUDGE,
        n_prompts=WINRATE["n_prompts"],
        batch_size=WINRATE["batch_size"],
        decision=WINRATE["decision"],
    wildcard_constraints:
        method_a=_alternatives(WINRATE_METHODS),
        method_b=_alternatives(WINRATE_METHODS),
    log:
        "logs/judge_pair/{model}/{method_a}__vs__{method_b}/seed{seed}.log",
    benchmark:
        "benchmarks/judge_pair/{model}/{method_a}__vs__{method_b}/seed{seed}.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/judge_pair.py"


rule winrate_table:
    input:
        WINRATE_JUDGEMENTS,
    output:
        table=report("results/tables/winrate.csv", caption="../report/winrate.rst", category="Win rate"),
        plot=report("results/plots/winrate.png", caption="../report/winrate.rst", category="Win rate"),
    params:
        methods=WINRATE_METHODS,
        judge=WINRATE_JUDGE,
        resamples=config["evaluation"]["toxicity"]["bootstrap_resamples"],
    log:
        "logs/winrate_table.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/winrate_table.py"
