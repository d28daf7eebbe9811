from scripts._common import start_job, write_jsonl

start_job(snakemake)
from corpora.loaders import load, mix_domains

toxicity, general = snakemake.params.toxicity, snakemake.params.general
toxicity_rows = load(toxicity["loader"], toxicity["source"], limit=toxicity.get("limit"))
general_rows = load(general["loader"], general["source"], limit=general.get("limit"))
mixture = snakemake.params.mixture
rows = mix_domains(toxicity_rows, general_rows, mixture["n_per_domain"], mixture["seed"])
print(f"{len(toxicity_rows)} toxicity-domain and {len(general_rows)} general rows -> mixture of {len(rows)}")
write_jsonl(rows, snakemake.output[0])
