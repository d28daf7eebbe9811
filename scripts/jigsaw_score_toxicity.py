from corpora.jsonl import read_jsonl, write_json, write_jsonl
from scripts._common import start_job

start_job(snakemake)
import numpy as np

from evaluation.classification import build_generation_scorer, mean_score_summary
from evaluation.stats import percent_toxic

rows = read_jsonl(snakemake.input[0])
scorer = build_generation_scorer(snakemake.params.scorer)
scores = scorer.score([row["continuation"] for row in rows])  # the continuation only, as in the main table
flags = scores >= scorer.threshold
for row, score, flag in zip(rows, scores, flags):
    row["toxicity"], row["toxic"] = float(score), bool(flag)
seed = int(snakemake.wildcards.seed)
metrics = {
    **mean_score_summary(scores, [row["id"] for row in rows], n_resamples=snakemake.params.resamples, seed=seed),
    "toxicity_pct": percent_toxic(flags),
    "scorer": scorer.name,
    "threshold": scorer.threshold,
    "seed": seed,
}
print(metrics)
write_jsonl(rows, snakemake.output.scored)
write_json(metrics, snakemake.output.metrics)
