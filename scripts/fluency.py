"""Fluency of one run's generations: perplexity under the fixed reference model (evaluation/fluency.py)."""
from corpora.jsonl import read_jsonl, write_json
from scripts._common import start_job

start_job(snakemake)
from evaluation.benchmarks import json_safe
from evaluation.fluency import continuation_nll, fluency_summary
from modeling import read_manifest
from modeling.load import load_causal_lm, load_tokenizer

rows = read_jsonl(snakemake.input.generations)
manifest = read_manifest(snakemake.input.reference)
reference = snakemake.params.reference_model
print(f"fluency of {len(rows)} continuations under {reference} ({manifest.path})")
model, tokenizer = load_causal_lm(manifest.path), load_tokenizer(manifest.path)
nll, n_tokens = continuation_nll(
    model, tokenizer, [row["prompt"] for row in rows], [row["continuation"] for row in rows],
    batch_size=snakemake.params.batch_size,
)
seed = int(snakemake.wildcards.seed)
metrics = {
    **fluency_summary(nll, n_tokens, [row["id"] for row in rows], n_resamples=snakemake.params.resamples, seed=seed),
    "reference_model": reference,
    "seed": seed,
    "interval": "95% percentile bootstrap over prompts",
    "definition": "per continuation exp(mean NLL of its tokens given the prompt); fluency_ppl = mean over prompts "
                  "of the mean over the prompt's continuations; fluency_corpus_ppl = exp(total NLL / total tokens)",
}
print(metrics)
write_json(json_safe(metrics), snakemake.output[0])
