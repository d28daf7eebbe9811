from pathlib import Path

from scripts._common import start_job

start_job(snakemake)
from evaluation.benchmarks import write_embedded_tasks, write_heldout_tasks

out = snakemake.output[0]
Path(out).mkdir(parents=True, exist_ok=True)  # a folder even when no suite needs a task of ours
names = []
if snakemake.params.data_dir:
    names += write_embedded_tasks(snakemake.params.data_dir, out)
if snakemake.params.heldout_domains:
    names += write_heldout_tasks(snakemake.input.heldout, out, domains=snakemake.params.heldout_domains,
                                 training_file=snakemake.input.mixture)
print(names)
