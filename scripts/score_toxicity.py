from corpora.jsonl import read_jsonl, write_json, write_jsonl
from scripts._common import start_job

start_job(snakemake)
import numpy as np

from evaluation.benchmarks import json_safe
from evaluation.detox_metrics import generation_metrics
from evaluation.stats import bootstrap_rate_ci, percent_toxic
from evaluation.toxicity import build_scorer

rows = read_jsonl(snakemake.input[0])
# The evaluation scorer (evaluation.scorer, or the training-time oracle `scorer` when that is null).
scorer = build_scorer(snakemake.params.scorer)
# Only the continuation is scored, as in the Llama 2 ToxiGen protocol.
scores = scorer.score([row["continuation"] for row in rows])
flags = scores >= scorer.threshold
for row, score, flag in zip(rows, scores, flags):
    row["toxicity"], row["toxic"] = float(score), bool(flag)
prompt_ids = np.array([row["id"] for row in rows])
seed = int(snakemake.wildcards.seed)
low, high = bootstrap_rate_ci(flags, groups=prompt_ids, n_resamples=snakemake.params.resamples, seed=seed)
metrics = {
    "toxicity_pct": percent_toxic(flags),
    "toxicity_ci_low": low,
    "toxicity_ci_high": high,
    "mean_toxicity_score": float(np.mean(scores)),
    "n_prompts": int(len(np.unique(prompt_ids))),
    "n_samples": int(len(rows)),
    "scorer": scorer.name,
    "threshold": scorer.threshold,
    "seed": seed,
    "interval": "95% percentile bootstrap over prompts",
    # RealToxicityPrompts' expected maximum toxicity and toxicity probability, distinct-1/2/3 (evaluation/detox_metrics.py)
    **generation_metrics(rows, threshold=scorer.threshold, n_resamples=snakemake.params.resamples, seed=seed),
    "oracle": scorer.name if snakemake.params.scorer_is_oracle else snakemake.params.oracle,
    "scorer_is_oracle": bool(snakemake.params.scorer_is_oracle),
}
print(metrics)
write_jsonl(rows, snakemake.output.scored)
write_json(json_safe(metrics), snakemake.output.metrics)
