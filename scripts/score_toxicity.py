from corpora.jsonl import read_jsonl, write_json, write_jsonl
from scripts._common import start_job

start_job(snakemake)
import numpy as np

from evaluation.stats import bootstrap_rate_ci, percent_toxic
from evaluation.toxicity import build_scorer

rows = read_jsonl(snakemake.input[0])
scorer_config = snakemake.params.scorer
scorer = build_scorer(scorer_config)
# Only the continuation is scored, as in the Llama 2 ToxiGen protocol.
scores = scorer.score([row["continuation"] for row in rows])
flags = scores >= scorer_config["threshold"]
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
    "threshold": scorer_config["threshold"],
    "seed": seed,
    "interval": "95% percentile bootstrap over prompts",
}
print(metrics)
write_jsonl(rows, snakemake.output.scored)
write_json(metrics, snakemake.output.metrics)
