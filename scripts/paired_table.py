from scripts._common import start_job

start_job(snakemake)
from evaluation.paired import document_cells, generation_cells, paired_table, write

params = snakemake.params
table = paired_table(
    generation_cells(snakemake.input.scored), document_cells(snakemake.input.documents), methods=params.methods,
    models=params.models, suites=params.suites, n_resamples=params.resamples,
)
write(table, snakemake.output[0])
shown = table[table["reference"].isin(["base", "sft"])]
print(shown.to_string())
