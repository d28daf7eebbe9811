import dataclasses
from pathlib import Path

from scripts._common import read_jsonl, start_job

start_job(snakemake)
import methods
from methods._trainer import TrainingConfig
from modeling import read_manifest, write_manifest

wildcards = snakemake.wildcards
method = methods.build_method(wildcards.method, snakemake.params.method)
base = read_manifest(snakemake.input.base)
rows = method.prepare_data(read_jsonl(snakemake.input.data))
print(f"{wildcards.method} ({method.name}): {len(rows)} training rows, seed {wildcards.seed}")
config = TrainingConfig.from_dict(snakemake.params.training)
summary = method.fine_tune(base.path, rows, config, snakemake.params.model_dir, snakemake.params.state_dir,
                           int(wildcards.seed), scorer=snakemake.params.scorer)
write_manifest(
    dataclasses.replace(
        base, path=str(Path(snakemake.params.model_dir).resolve()), method=wildcards.method, seed=int(wildcards.seed),
        extra={"steps": summary["steps"], "n_train_rows": summary["n_train_rows"], "resumed_from": summary["resumed_from"]},
    ),
    snakemake.output.manifest,
)
