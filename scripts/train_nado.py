import dataclasses
from pathlib import Path

from corpora.jsonl import read_jsonl
from corpora.provenance import claim_state_dir, retire_state_dir
from scripts._common import start_job

start_job(snakemake)
import torch

import methods
from modeling import read_manifest, write_manifest
from modeling.load import load_causal_lm, load_tokenizer
from nado.model import build_nado, save_nado
from nado.train import NADOTrainer, build_examples, write_history

settings = methods.build_method(snakemake.wildcards.method, snakemake.params.method).config.settings
seed = int(snakemake.wildcards.seed)
base = read_manifest(snakemake.input.manifest)
model, tokenizer = load_causal_lm(base.path), load_tokenizer(base.path)
model.requires_grad_(False)
torch.manual_seed(seed)
nado = build_nado(model.config, settings).to(model.device)
examples = build_examples(tokenizer, read_jsonl(snakemake.input.samples))
trainer = NADOTrainer(nado, model, examples, settings, seed, tokenizer.pad_token_id)
claim_state_dir(snakemake.params.state_dir, {"method": snakemake.params.method, "seed": seed, "base": base.path},
                inputs=[snakemake.input.samples])
print(f"NADO: {sum(p.numel() for p in nado.parameters()) / 1e6:.1f} M parameters, "
      f"{len(examples)} samples, {trainer.total_steps} steps")
history = trainer.fit(snakemake.params.state_dir)
nado_dir = Path(snakemake.params.nado_dir)
save_nado(nado, nado_dir, extra={"settings": dataclasses.asdict(settings)})
write_history(history, nado_dir / "training_log.jsonl")
print("final", history[-1])
write_manifest(
    dataclasses.replace(base, method=snakemake.wildcards.method, seed=seed, nado_path=str(nado_dir.resolve()),
                        extra={"nado_steps": trainer.step_index, "nado_final": history[-1]}),
    snakemake.output.manifest,
)
retire_state_dir(snakemake.params.state_dir)
