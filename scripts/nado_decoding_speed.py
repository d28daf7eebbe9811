from scripts._common import start_job

start_job(snakemake)
from bench.nado_decoding import main
from modeling import read_manifest

manifest = read_manifest(snakemake.input.manifest)
settings = snakemake.params.settings
main(["--model", manifest.path, "--nado", manifest.nado_path, "--batch-size", str(settings["batch_size"]),
      "--max-new-tokens", str(settings["max_new_tokens"]), "--threads", str(snakemake.threads), "--out", snakemake.output[0]])
