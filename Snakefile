# Attribute-controlled fine-tuning for LLMs: a reproduction suite for
# T. Meng et al., "Attribute Controlled Fine-tuning for Large Language Models:
# A Case Study on Detoxification", Findings of EMNLP 2024.
#
# Output paths (wildcards: model = short alias, method = config entry, seed):
#   resources/models/{model}/manifest.json             base models (prepared or located)
#   resources/data/embedded/...                        stand-in data sets (embedded profile)
#   results/data/...                                   canonical training mixture and prompts
#   results/checkpoints/{model}/{method}/seed{seed}/   fine-tuned models (+ state/ to resume)
#   results/generations/{model}/{method}/seed{seed}/   sampled continuations
#   results/metrics/{model}/{method}/seed{seed}/       per-run metrics (JSON)
#   results/tables/*.csv, results/plots/*.png          the paper's tables (committed)
#   logs/{rule}/..., benchmarks/{rule}/...             mirror the output's wildcards

from snakemake.utils import min_version

min_version("8.0")


report: "report/workflow.rst"


# The embedded default, unless --configfile names another (which then replaces it
# rather than being merged into it: the paper config must not inherit its models).
if not config:

    configfile: "config/config.yaml"



include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/evaluate.smk"
include: "rules/winrate.smk"
include: "rules/jigsaw.smk"
include: "rules/paper.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        rules.tables.input,
