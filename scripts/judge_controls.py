"""Rule judge_controls: the judge answers control pairs whose better side is known
(held-out human text against its corruptions, evaluation/winrate.py) in both orders."""
from corpora.jsonl import read_jsonl, write_jsonl
from scripts._common import start_job

start_job(snakemake)
from evaluation.winrate import control_items, judge_items, uses_chat_template
from modeling import read_manifest
from modeling.load import load_causal_lm, load_tokenizer

params = snakemake.params
texts = [row for row in read_jsonl(snakemake.input.heldout) if row.get("domain") == "general"]
items = control_items(texts, params.n_controls, seed=params.seed)
manifest = read_manifest(snakemake.input.judge)
judge, tokenizer = load_causal_lm(manifest.path), load_tokenizer(manifest.path)
print(f"judge controls: {len(items)} pairs from {params.n_controls} of {len(texts)} held-out general texts, "
      f"judge {params.judge} ({'chat template' if uses_chat_template(tokenizer) else 'plain prompt'})")
rows = judge_items(judge, tokenizer, items, batch_size=params.batch_size, decision=params.decision)
write_jsonl([{"judge": params.judge, "decision": params.decision, **row} for row in rows], snakemake.output[0])
for kind in dict.fromkeys(row["kind"] for row in rows):
    mine = [row for row in rows if row["kind"] == kind]
    single = sum(row["vote_ab"] + row["vote_ba"] for row in mine) / (2 * len(mine))
    print(f"{kind}: human side picked in {100 * single:.1f}% of single-order answers, "
          f"{params.decision} outcome {100 * sum(row['preference'] for row in mine) / len(mine):.1f}%")
