import dataclasses
from pathlib import Path

from corpora.jsonl import read_jsonl
from corpora.provenance import claim_state_dir, retire_state_dir
from scripts._common import start_job

start_job(snakemake)
import methods
from corpora.jigsaw import fit_lm_rows
from methods._trainer import TrainingConfig
from modeling import read_manifest, write_manifest
from modeling.load import load_tokenizer

wildcards, params = snakemake.wildcards, snakemake.params
method = methods.build_method(wildcards.jmethod, params.method)
base = read_manifest(snakemake.input.base)
config = TrainingConfig.from_dict(params.training)
claim_state_dir(params.state_dir, {"method": params.method, "training": params.training, "seed": int(wildcards.seed),
                                  "base": base.path, "scorer": params.scorer, "template": params.template,
                                  "label_words": params.label_words}, inputs=[snakemake.input.data])
# Cut long comments so the LM-loss text keeps its label word within max_length (corpora/jigsaw.py).
rows = fit_lm_rows(read_jsonl(snakemake.input.data), load_tokenizer(base.path), params.template, params.label_words,
                   config.max_length)
rows = method.prepare_data(rows)
print(f"jigsaw {wildcards.jmethod} ({method.name}): {len(rows)} training rows, seed {wildcards.seed}")
summary = method.fine_tune(base.path, rows, config, params.model_dir, params.state_dir, int(wildcards.seed),
                           scorer=params.scorer)
extra = {key: summary[key] for key in ("steps", "n_train_rows", "resumed_from", "classifier_path", "tokens_per_s", "peak_gpu_mb")
         if key in summary}
write_manifest(
    dataclasses.replace(base, path=str(Path(params.model_dir).resolve()), method=f"jigsaw:{wildcards.jmethod}",
                        seed=int(wildcards.seed), extra=extra),
    snakemake.output.manifest,
)
retire_state_dir(params.state_dir)
