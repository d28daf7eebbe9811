import dataclasses
from pathlib import Path

from corpora.jsonl import read_jsonl
from corpora.provenance import claim_state_dir, retire_state_dir
from scripts._common import start_job

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
claim_state_dir(snakemake.params.state_dir, {"method": snakemake.params.method, "training": snakemake.params.training,
                                             "seed": int(wildcards.seed), "base": base.path, "scorer": snakemake.params.scorer},
                inputs=[snakemake.input.data, *snakemake.input.phase1])
phase1 = read_manifest(snakemake.input.phase1[0]) if snakemake.input.phase1 else None
if phase1:  # rl's sft_from: phase 1 is that entry's checkpoint, not trained again here
    print(f"phase 1: {phase1.method} seed {phase1.seed} ({phase1.path})", flush=True)
    method.use_phase1(phase1.path, snakemake.params.state_dir)
if config.num_processes > 1:  # one process per GPU, through accelerate (methods/launch.py)
    import json
    import subprocess
    import sys

    state_dir = Path(snakemake.params.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    job = {"method": wildcards.method, "entry": snakemake.params.method, "training": snakemake.params.training,
           "base_path": base.path, "data": str(Path(snakemake.input.data).resolve()),
           "model_dir": str(Path(snakemake.params.model_dir).resolve()), "state_dir": str(state_dir),
           "seed": int(wildcards.seed), "scorer": snakemake.params.scorer, "summary": str(state_dir / "launch_summary.json")}
    (state_dir / "launch_job.json").write_text(json.dumps(job, indent=2))
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(config.num_processes)]
    launch += ["--config_file", config.accelerate_config] if config.accelerate_config else ["--multi_gpu"]
    command = launch + ["-m", "methods.launch", str(state_dir / "launch_job.json")]
    print(" ".join(command), flush=True)
    done = subprocess.run(command, stdout=sys.stdout, stderr=sys.stderr)
    if done.returncode != 0:
        raise SystemExit(f"the {config.num_processes}-process launch failed (exit {done.returncode}); see the log above")
    summary = json.loads((state_dir / "launch_summary.json").read_text())
else:
    summary = method.fine_tune(base.path, rows, config, snakemake.params.model_dir, snakemake.params.state_dir,
                               int(wildcards.seed), scorer=snakemake.params.scorer)
write_manifest(
    dataclasses.replace(
        base, path=str(Path(snakemake.params.model_dir).resolve()), method=wildcards.method, seed=int(wildcards.seed),
        extra={"steps": summary["steps"], "n_train_rows": summary["n_train_rows"], "resumed_from": summary["resumed_from"],
               # throughput and peak GPU memory (methods/_trainer.py throughput_meter), for results/tables/cost.csv
               "tokens_per_s": summary.get("tokens_per_s"), "peak_gpu_mb": summary.get("peak_gpu_mb"),
               # the entry whose training this model continues (rl's sft_from): cost tables add its time
               "builds_on": phase1.method if phase1 else None},
    ),
    snakemake.output.manifest,
)
retire_state_dir(snakemake.params.state_dir)
