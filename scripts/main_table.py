from scripts._common import start_job

start_job(snakemake)
from evaluation.tables import main_table, read_run_metrics

runs = read_run_metrics(snakemake.input.toxicity + snakemake.input.benchmarks)
by_seed, table = main_table(runs, methods=snakemake.params.methods, models=snakemake.params.models)
by_seed.to_csv(snakemake.output.by_seed, index=False)
table.to_csv(snakemake.output.table, index=False)
print(table.to_string())
