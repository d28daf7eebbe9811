from pathlib import Path

from scripts._common import start_job

start_job(snakemake)
from evaluation.claims import claims_table, plot_claims, read_tables, summary

folder = Path(snakemake.input.main).parent
tables = read_tables(folder, names=[Path(file).stem for file in snakemake.input])
table = claims_table(tables, models=snakemake.params.models, roles=snakemake.params.roles,
                     margins=snakemake.params.margins)
table.to_csv(snakemake.output.table, index=False)
plot_claims(table, snakemake.output.plot)
print(summary(table).to_string())
