"""One process of a fine-tuning job launched on several GPUs; scripts/train.py starts them:

    accelerate launch [--config_file config/accelerate/fsdp.yaml] --num_processes N -m methods.launch JOB.json

JOB.json holds what scripts/train.py would pass to ``method.fine_tune``. Every process
trains (its shard, under FSDP or ZeRO-3); the main one writes the run's summary to
``JOB["summary"]`` for the parent job, which writes the manifest.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(job_file: str) -> None:
    import methods
    from methods._trainer import TrainingConfig
    from corpora.jsonl import read_jsonl

    job = json.loads(Path(job_file).read_text())
    method = methods.build_method(job["method"], job["entry"])
    summary = method.fine_tune(job["base_path"], method.prepare_data(read_jsonl(job["data"])), TrainingConfig.from_dict(job["training"]),
                               job["model_dir"], job["state_dir"], job["seed"], scorer=job["scorer"])
    if int(os.environ.get("RANK", "0")) == 0:
        tmp = Path(job["summary"] + ".tmp")
        tmp.write_text(json.dumps(summary, default=str))
        tmp.replace(job["summary"])


if __name__ == "__main__":
    main(sys.argv[1])
