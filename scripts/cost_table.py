from scripts._common import start_job

start_job(snakemake)
from evaluation.tables import cost_table, training_cost_summary

table = cost_table(snakemake.input.benchmarks, snakemake.input.manifests)
table.to_csv(snakemake.output.jobs, index=False)
summary = training_cost_summary(table)
summary.to_csv(snakemake.output.training, index=False)
print(table.to_string())
print(summary.to_string())
