from scripts._common import start_job

start_job(snakemake)
from evaluation.jigsaw import jigsaw_table, read_jigsaw_metrics

runs = read_jigsaw_metrics(snakemake.input.toxicity + snakemake.input.auc)
table = jigsaw_table(runs, methods=snakemake.params.methods, models=snakemake.params.models)
table.to_csv(snakemake.output[0], index=False)
print(table.to_string())
