"""What every rule script does first: log to the rule's log file, respect threads."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def start_job(snakemake) -> None:
    """Send stdout/stderr to the rule's ``log:`` and pin CPU threads to ``threads:``."""
    if snakemake.log:
        Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
        stream = open(snakemake.log[0], "w", buffering=1)
        sys.stdout = sys.stderr = stream
    threads = str(max(1, snakemake.threads))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(threads))


def read_jsonl(path) -> list[dict]:
    rows = []
    with open(path) as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}, line {number}: not valid JSON ({err.msg}); delete the file and rerun its rule") from None
    return rows


def write_jsonl(rows, path) -> None:
    """Atomic: the file appears complete or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    tmp.replace(path)


def write_json(data, path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def claim_state_dir(state_dir, settings: dict, inputs=()) -> None:
    """Let a job resume only what the same settings began.

    A training job keeps its checkpoints in ``state_dir`` (outside its declared outputs,
    so a killed job resumes). When Snakemake reruns the job because its config, code or
    input changed, those checkpoints belong to other settings: resuming them would
    silently mix two runs. ``settings`` (JSON-able) and the content hash of ``inputs``
    are written to ``state_dir/settings.json``; a folder holding different ones, or none
    (left by an older version), is emptied first.
    """
    import hashlib
    import shutil

    state_dir = Path(state_dir)
    digest = {str(path): hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in inputs}
    claim = json.loads(json.dumps({"settings": settings, "inputs": digest}, sort_keys=True, default=str))
    file = state_dir / "settings.json"
    if state_dir.is_dir() and any(state_dir.iterdir()):
        try:
            previous = json.loads(file.read_text())
        except (OSError, ValueError):
            previous = None
        if previous == claim:
            return
        print(f"{state_dir}: checkpoints from other settings (or an older version); starting over", flush=True)
        shutil.rmtree(state_dir)
    write_json(claim, file)


def retire_state_dir(state_dir) -> None:
    """Remove a finished job's checkpoints (call once its outputs are written).

    They served only to resume this job; kept, a later rerun forced for a code change
    (same settings, so ``claim_state_dir`` keeps them) would resume the finished run's
    last checkpoint and return the old model. They are also the largest files a run
    leaves (weights and optimizer states).
    """
    import shutil

    state_dir = Path(state_dir)
    if state_dir.is_dir():
        shutil.rmtree(state_dir)
        print(f"{state_dir}: the job is done; its checkpoints are removed", flush=True)
