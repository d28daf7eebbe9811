import dataclasses
from pathlib import Path

from corpora.jsonl import read_jsonl, write_jsonl
from corpora.provenance import claim_file, file_digest, retire_file
from scripts._common import start_job

start_job(snakemake)
import methods
from evaluation.toxicity import build_scorer
from modeling import read_manifest
from modeling.load import load_causal_lm, load_tokenizer
from nado.sampling import label_samples, nado_prompts, sample_continuations

settings = methods.build_method(snakemake.wildcards.method, snakemake.params.method).config.settings
seed = int(snakemake.wildcards.seed)
manifest = read_manifest(snakemake.input.manifest)
out = Path(snakemake.output[0])
# Kept until labelled: a rerun after a failure in labelling resamples nothing, if it has the same
# settings, training rows and model (a changed one resamples).
unlabelled = out.with_name("samples.unlabelled.jsonl")
model_made_by = {"model": manifest.path, "manifest": file_digest(snakemake.input.manifest)}
if not claim_file(unlabelled, {"nado": dataclasses.asdict(settings), "seed": seed, **model_made_by},
                  inputs=[snakemake.input.data]):
    prompts = nado_prompts(read_jsonl(snakemake.input.data), settings.n_prompts, seed,
                           settings.prompt_max_words, settings.prompt_domains)
    model, tokenizer = load_causal_lm(manifest.path), load_tokenizer(manifest.path)
    print(f"sampling {len(prompts)} prompts x {settings.samples_per_prompt} from {manifest.alias}/{manifest.method}")
    sample_continuations(model, tokenizer, prompts, settings, seed, unlabelled, provenance=model_made_by)
else:
    print(f"{unlabelled}: samples of an earlier run of these settings and model, labelled anew")
rows = label_samples(read_jsonl(unlabelled), build_scorer(snakemake.params.scorer), settings.label_threshold)
mean_label = sum(row["label"] for row in rows) / len(rows)
print(f"{len(rows)} samples labelled, mean label (oracle C) {mean_label:.4f}")
write_jsonl(rows, out)
retire_file(unlabelled)  # in `out` now; kept, a rerun forced by a code change would reuse them
