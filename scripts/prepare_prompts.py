from corpora.jsonl import write_jsonl
from scripts._common import start_job

start_job(snakemake)
from corpora.loaders import load

dataset = snakemake.params.dataset
prompts = load(dataset["loader"], dataset["source"], limit=dataset.get("limit"))
n_prompts = snakemake.params.n_prompts
if n_prompts is not None:
    if n_prompts > len(prompts):
        raise ValueError(f"evaluation.toxicity.n_prompts={n_prompts} but the prompt set has only {len(prompts)}")
    prompts = prompts[:n_prompts]
print(f"{len(prompts)} prompts")
write_jsonl(prompts, snakemake.output[0])
