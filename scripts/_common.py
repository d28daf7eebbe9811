"""What every rule script does first: log to the rule's log file, respect threads, claim its GPUs."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from modeling.gpus import claim as claim_gpus


def start_job(snakemake) -> None:
    """Send stdout/stderr to the rule's ``log:``, pin CPU threads to ``threads:``, and
    give the job the GPUs it asks for (``resources: gpu=k``; modeling/gpus.py): k free
    device ids claimed for this process and set in ``CUDA_VISIBLE_DEVICES`` before torch
    initialises CUDA, none to a job that asks for none (left as they are under SLURM)."""
    if snakemake.log:
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        stream = open(snakemake.log[0], "w", buffering=1)
        sys.stdout = sys.stderr = stream
    threads = str(max(1, snakemake.threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))
    gpus = int((getattr(snakemake, "resources", None) or {}).get("gpu", 0) or 0)
    claim_gpus(gpus, holder=f"{getattr(snakemake, 'rule', 'job')}{', log ' + snakemake.log[0] if snakemake.log else ''}")

