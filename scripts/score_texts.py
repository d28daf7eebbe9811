from collections import defaultdict

from corpora.jsonl import read_jsonl, write_jsonl
from scripts._common import start_job

start_job(snakemake)
from evaluation.toxicity import build_scorer

rows = read_jsonl(snakemake.input[0])
scorer = build_scorer(snakemake.params.scorer)
scores = scorer.score([row["text"] for row in rows])
threshold = snakemake.params.scorer["threshold"]
flagged = defaultdict(lambda: [0, 0])
for row, score in zip(rows, scores):
    row["toxicity"] = float(score)
    flagged[row.get("domain", "all")][0] += int(score >= threshold)
    flagged[row.get("domain", "all")][1] += 1
for domain, (hits, total) in sorted(flagged.items()):
    print(f"{scorer.name}: {hits}/{total} {domain} rows flagged at threshold {threshold}")
write_jsonl(rows, snakemake.output[0])
