from corpora.jsonl import read_jsonl, write_jsonl
from scripts._common import start_job

start_job(snakemake)
from evaluation.winrate import collect_pairs, judge_items, uses_chat_template
from modeling import read_manifest
from modeling.load import load_causal_lm, load_tokenizer

wildcards, params = snakemake.wildcards, snakemake.params
items = collect_pairs(
    read_jsonl(snakemake.input.first), read_jsonl(snakemake.input.second), params.n_prompts,
    names=(wildcards.method_a, wildcards.method_b),
)
manifest = read_manifest(snakemake.input.judge)
judge, tokenizer = load_causal_lm(manifest.path), load_tokenizer(manifest.path)
print(f"{wildcards.model} seed {wildcards.seed}: {wildcards.method_a} vs {wildcards.method_b}, {len(items)} prompts, "
      f"judge {params.judge} ({'chat template' if uses_chat_template(tokenizer) else 'plain prompt'})")
rows = judge_items(judge, tokenizer, items, batch_size=params.batch_size, decision=params.decision)
context = {"model": wildcards.model, "seed": int(wildcards.seed), "judge": params.judge,
           "method_a": wildcards.method_a, "method_b": wildcards.method_b}
write_jsonl([{**context, **row} for row in rows], snakemake.output[0])
print(f"mean outcome of {wildcards.method_a}: {sum(row['preference'] for row in rows) / len(rows):.3f}")
