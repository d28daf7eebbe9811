from scripts._common import start_job

start_job(snakemake)
from evaluation.benchmarks import write_embedded_tasks

print(write_embedded_tasks(snakemake.params.data_dir, snakemake.output[0]))
