from scripts._common import start_job

start_job(snakemake)
from corpora.embedded import build_all

paths = build_all(snakemake.params.out_dir, snakemake.params.options)
for name, path in paths.items():
    print(f"{name}: {path}")
