# Judge-LLM win rate (METHOD.md section 5; the protocol is ours: evaluation/winrate.py).
# One job per model, seed and unordered method pair judges sample 0 of both methods'
# continuations of the same prompts in both orders; the table pools seeds. One job first
# checks the judge on control pairs whose better side is known (held-out human text vs
# its shuffled words, a degenerate loop, another text's continuation; both orders).
#   results/winrate/{model}/{method_a}__vs__{method_b}/seed{seed}.jsonl   per-prompt judgements
#   results/winrate/controls.jsonl                                        the judge's control pairs
#   results/tables/winrate.csv, results/plots/winrate.png                 (judge_* columns: its control accuracy)
#   results/tables/winrate_controls.csv                                   control accuracy, position consistency
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
WINRATE_OUTPUTS = (
    ["results/tables/winrate.csv", "results/tables/winrate_controls.csv", "results/plots/winrate.png"]
    if WINRATE_JUDGE else []
)
WINRATE_CONTROLS = "results/winrate/controls.jsonl"  # judge-level: the same judge for every model
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


rule judge_controls:
    # Before the matrix is trusted: control pairs built from held-out human-written text
    # (`general` rows of heldout.jsonl, never trained on), judged in both orders with the
    # matrix's prompt and decision rule (evaluation/winrate.py: control_items).
    input:
        judge=f"resources/models/{WINRATE_JUDGE}/manifest.json",
        heldout="results/data/heldout.jsonl",
    output:
        WINRATE_CONTROLS,
    params:
        judge=WINRATE_JUDGE,
        n_controls=WINRATE["n_controls"],
        batch_size=WINRATE["batch_size"],
        decision=WINRATE["decision"],
        seed=0,
    log:
        "logs/judge_controls.log",
    benchmark:
        "benchmarks/judge_controls/controls.tsv"
    threads: 2
    resources:
        gpu=1,
        mem_mb=6000,
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/judge_controls.py"


rule winrate_table:
    input:
        judgements=WINRATE_JUDGEMENTS,
        controls=WINRATE_CONTROLS,
    output:
        table=report("results/tables/winrate.csv", caption="../report/winrate.rst", category="Win rate"),
        controls=report("results/tables/winrate_controls.csv", caption="../report/winrate_controls.rst",
                        category="Win rate"),
        plot=report("results/plots/winrate.png", caption="../report/winrate.rst", category="Win rate"),
    params:
        methods=WINRATE_METHODS,
        judge=WINRATE_JUDGE,
        decision=WINRATE["decision"],
        resamples=config["evaluation"]["toxicity"]["bootstrap_resamples"],
    log:
        "logs/winrate_table.log",
    conda:
        "../envs/suite.yaml"
    script:
        "../scripts/winrate_table.py"
