import os

from corpora.jsonl import write_json
from scripts._common import start_job

start_job(snakemake)
from evaluation.benchmarks import run_suite
from modeling import read_manifest

suite = snakemake.params.suite
manifest = read_manifest(snakemake.input.manifest)
include_path = os.path.abspath(snakemake.input.tasks[0]) if snakemake.input.tasks else None
summary = run_suite(
    manifest.path, suite["tasks"], suite["num_fewshot"], limit=suite.get("limit"),
    batch_size=snakemake.params.batch_size, include_path=include_path, seed=int(snakemake.wildcards.seed),
    nado_path=manifest.nado_path,
)
summary.update(model=manifest.alias, method=snakemake.wildcards.method, suite=snakemake.wildcards.suite)
print({task: result["value"] for task, result in summary["tasks"].items()}, "mean", summary["mean"])
write_json(summary, snakemake.output[0])
