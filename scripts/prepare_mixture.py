from corpora.jsonl import write_json, write_jsonl
from scripts._common import start_job

start_job(snakemake)
from corpora.loaders import load
from corpora.overlap import build_mixture

params = snakemake.params
toxicity, general, prompt_set = params.toxicity, params.general, params.prompts
toxicity_rows = load(toxicity["loader"], toxicity["source"], limit=toxicity.get("limit"))
general_rows = load(general["loader"], general["source"], limit=general.get("limit"))
# Every prompt of the set (as prepare_prompts reads it, before its n_prompts cut): changing
# evaluation.toxicity.n_prompts does not change the training data.
prompts = [row["prompt"] for row in load(prompt_set["loader"], prompt_set["source"], limit=prompt_set.get("limit"))]
rows, stats, heldout = build_mixture(toxicity_rows, general_rows, prompts, params.mixture["n_per_domain"],
                                     params.mixture["seed"], params.mixture.get("heldout_per_domain", 0))
for name in ("toxicity", "general"):
    print(f"{name}: {stats[name]['read']} rows read, {stats[name]['removed_evaluation_duplicates']} left out as "
          f"repeats of one of the {len(prompts)} evaluation prompts, {stats[name]['heldout']} held out "
          f"(+{stats[name]['removed_heldout_duplicates']} duplicates of them left out), {stats[name]['drawn']} drawn")
write_jsonl(rows, snakemake.output.mixture)
write_jsonl(heldout, snakemake.output.heldout)
write_json(stats, snakemake.output.stats)
