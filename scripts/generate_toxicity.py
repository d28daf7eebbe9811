from corpora.jsonl import read_jsonl
from corpora.provenance import file_digest
from scripts._common import start_job

start_job(snakemake)
from evaluation.generate import generate_to_file
from modeling import read_manifest
from modeling.load import load_causal_lm, load_tokenizer

settings = snakemake.params.settings
manifest = read_manifest(snakemake.input.manifest)
model, tokenizer = load_causal_lm(manifest.path), load_tokenizer(manifest.path)
guide = None
if manifest.nado_path:  # NADO decoding: sample from q = softmax(log p + logsigmoid(c))
    from nado.decode import NADOGuide
    from nado.model import load_nado

    guide = NADOGuide(load_nado(manifest.nado_path, device=model.device, dtype=model.dtype))
prompts = read_jsonl(snakemake.input.prompts)
# Zero-shot: the prompt text alone, no template or few-shot examples (few-shot doubles the rate).
items = [{**prompt, "sample": k} for prompt in prompts for k in range(settings["samples_per_prompt"])]
print(f"{manifest.alias}/{manifest.method}: {len(prompts)} prompts x {settings['samples_per_prompt']} samples")
generate_to_file(
    model, tokenizer, items, snakemake.output[0], batch_size=settings["batch_size"], seed=int(snakemake.wildcards.seed),
    max_new_tokens=settings["max_new_tokens"], temperature=settings["temperature"], top_p=settings["top_p"],
    guide=guide, provenance={"model": manifest.path, "nado": manifest.nado_path, "manifest": file_digest(snakemake.input.manifest)},
)
