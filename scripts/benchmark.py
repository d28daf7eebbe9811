import os

from corpora.jsonl import write_json, write_jsonl
from scripts._common import start_job

start_job(snakemake)
from evaluation.benchmarks import run_suite, training_overlap
from modeling import read_manifest

suite = snakemake.params.suite
manifest = read_manifest(snakemake.input.manifest)
include_path = os.path.abspath(snakemake.input.tasks[0]) if snakemake.input.tasks else None
summary = run_suite(
    manifest.path, suite["tasks"], suite["num_fewshot"], limit=suite.get("limit"), metric=suite.get("metric"),
    batch_size=snakemake.params.batch_size, include_path=include_path, seed=int(snakemake.wildcards.seed),
    nado_path=manifest.nado_path, log_samples=True,  # per-document rows: intervals here, paired comparisons later
)
summary.update(model=manifest.alias, method=snakemake.wildcards.method, suite=snakemake.wildcards.suite)
if snakemake.input.training:
    # held-out text must be in no training split: what a built-in perplexity task scored (wikitext)
    # is checked here against the training mixture (heldout_* tasks were checked when written)
    for task, count in training_overlap(summary["raw"], summary, snakemake.input.training[0]).items():
        summary["tasks"][task]["training_overlap_docs"] = count
        if count:
            print(f"WARNING: {count} of the {summary['tasks'][task]['n']} documents of {task} hold a paragraph of the "
                  f"training mixture {snakemake.input.training[0]}: not held-out text")
print({task: result["value"] for task, result in summary["tasks"].items()}, "mean", summary["mean"])
write_jsonl(summary.pop("docs"), snakemake.output.docs)
summary["raw"].pop("samples", None)  # what is kept of them is the docs file
write_json(summary, snakemake.output.metrics)
