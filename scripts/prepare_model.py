from scripts._common import start_job

start_job(snakemake)
from modeling import write_manifest
from modeling.prepare import prepare_model

manifest = prepare_model(snakemake.wildcards.model, snakemake.params.spec, snakemake.params.out_dir)
print(f"{manifest.alias}: {manifest.path}")
write_manifest(manifest, snakemake.output.manifest)
