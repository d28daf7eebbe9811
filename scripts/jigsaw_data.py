from corpora.jsonl import write_json, write_jsonl
from scripts._common import start_job

start_job(snakemake)
from corpora.jigsaw import build_splits
from corpora.loaders import load

data, params = snakemake.params.data, snakemake.params
splits = load(data["loader"], data["source"], limit=data.get("limit"))
train, test, stats = build_splits(splits, n_train=params.n_train, n_test=params.n_test, template=params.template,
                                  label_words=params.label_words)
print(f"train: {stats['train']['removed_evaluation_duplicates']} of {len(splits['train'])} comments left out as repeats of a test comment")
for name, rows in (("train", train), ("test", test)):
    toxic = sum(row["label"] for row in rows)
    print(f"{name}: {len(rows)} comments ({toxic} toxic) of {len(splits[name])} read")
write_jsonl(train, snakemake.output.train)
write_jsonl(test, snakemake.output.test)
write_json(stats, snakemake.output.stats)
