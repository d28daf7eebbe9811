from scripts._common import start_job

start_job(snakemake)
from evaluation.tables import cost_table

table = cost_table(snakemake.input)
table.to_csv(snakemake.output[0], index=False)
print(table.to_string())
