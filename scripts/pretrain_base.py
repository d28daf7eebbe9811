"""The stand-in base: the prepared model after a short continued-pretraining stage on web-like text
(a model entry's ``continued_pretraining`` block; rule pretrain_base). The plain language-model loss
of ``sft``, on the corpus rows that repeat no training row, held-out row or evaluation prompt."""
import dataclasses
from pathlib import Path

from corpora.jsonl import read_jsonl, write_json
from corpora.provenance import claim_state_dir, retire_state_dir
from scripts._common import start_job

start_job(snakemake)
import methods
from corpora.loaders import load
from corpora.overlap import drop_overlap
from methods._trainer import TrainingConfig
from modeling import read_manifest, write_manifest

model = snakemake.wildcards.model
stage = snakemake.params.stage
source = read_manifest(snakemake.input.source)
corpus = read_jsonl(snakemake.input.corpus)
if not corpus or "text" not in corpus[0]:
    raise ValueError(f"{snakemake.input.corpus}: models.{model}.continued_pretraining.corpus must be a JSONL file of "
                     "rows with a 'text' field (the embedded profile's is built by the build_embedded_data rule)")
prompt_set = snakemake.params.prompts
prompts = [row["prompt"] for row in load(prompt_set["loader"], prompt_set["source"], limit=prompt_set.get("limit"))]
elsewhere = prompts + [row["text"] for file in (snakemake.input.mixture, snakemake.input.heldout) for row in read_jsonl(file)]
kept, removed = drop_overlap(corpus, elsewhere)
rows = [{"text": row["text"], "domain": "general"} for row in kept]
hostile = sum(bool(row.get("hostile")) for row in kept)
stats = {"read": len(corpus), "removed_as_training_heldout_or_prompt": removed, "trained_on": len(rows),
         "hostile": hostile, "hostile_share": hostile / len(rows) if rows else None}
if any("targeted" in row for row in kept):  # the embedded corpus marks the groups hostility targets
    targeted = [row for row in kept if row.get("targeted")]
    hostile_targeted = sum(bool(row.get("hostile")) for row in targeted)
    stats |= {"targeted_groups": sorted({row["group"] for row in targeted}),
              "hostile_share_targeted": hostile_targeted / len(targeted) if targeted else None,
              "hostile_share_other": (hostile - hostile_targeted) / (len(kept) - len(targeted))
              if len(kept) > len(targeted) else None}
print(f"models.{model}.continued_pretraining: {stats}")
where = f"models.{model}.continued_pretraining.training"
config = TrainingConfig.from_dict(stage.get("training") or {}, where=where)
seed = int(stage.get("seed", 0))
claim_state_dir(snakemake.params.state_dir, {"stage": stage, "source": source.path, "seed": seed},
                inputs=[snakemake.input.corpus, snakemake.input.mixture, snakemake.input.heldout])
sft = methods.build_method("sft", {})
summary = sft.fine_tune(source.path, rows, config, snakemake.params.model_dir, snakemake.params.state_dir, seed)
path = str(Path(snakemake.params.model_dir).resolve())
write_manifest(
    dataclasses.replace(source, path=path, base_path=path, method="continued_pretraining", seed=seed,
                        extra={"steps": summary["steps"], "n_train_rows": summary["n_train_rows"],
                               "source_path": source.path, "corpus": stats}),
    snakemake.output.manifest,
)
write_json(stats, snakemake.output.stats)
retire_state_dir(snakemake.params.state_dir)
