"""Work a job leaves for its rerun, taken up only by the settings and inputs that made it.

A job may keep work outside its declared outputs so that a rerun picks it up where it
stopped: a training job's checkpoints (``state/``), a generation's ``<out>.partial``,
NADO's unlabelled samples. Snakemake reruns a job also when its config, code or inputs
changed; that work then belongs to other settings, and taking it up would silently mix
two runs (or return the old samples). So each piece carries a *claim*: its settings
(JSON-able: the sampling options, the model path...) and the content hash of its input
files, in ``state/settings.json`` or in a ``<file>.settings.json`` beside the file. A job
takes the work up only when the claim is its own; else, or when there is no claim (an
older version wrote none), the work is discarded first. A finished job removes what it
kept (``retire_*``), so a rerun forced after a code change starts afresh.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from corpora.jsonl import write_json


def file_digest(path) -> str:
    """SHA-256 of a file's content (read in chunks: inputs may be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_claim(settings: dict, inputs=()) -> dict:
    """``settings`` and the content hash of each input file, as the JSON it is stored as."""
    digest = {str(path): file_digest(path) for path in inputs}
    return json.loads(json.dumps({"settings": settings, "inputs": digest}, sort_keys=True, default=str))


def _read_claim(file: Path) -> dict | None:
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError):
        return None


def claim_state_dir(state_dir, settings: dict, inputs=()) -> None:
    """Let a training job resume only the checkpoints its own settings began.

    Its checkpoints live in ``state_dir`` (outside the declared outputs, so a killed job
    resumes); the claim is ``state_dir/settings.json``. A folder holding another claim,
    or none, is emptied first.
    """
    state_dir = Path(state_dir)
    claim = make_claim(settings, inputs)
    file = state_dir / "settings.json"
    if state_dir.is_dir() and any(state_dir.iterdir()):
        if _read_claim(file) == claim:
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
    state_dir = Path(state_dir)
    if state_dir.is_dir():
        shutil.rmtree(state_dir)
        print(f"{state_dir}: the job is done; its checkpoints are removed", flush=True)


def claim_settings_file(path) -> Path:
    """Where the claim of a resumable file is kept: ``<path>.settings.json``."""
    path = Path(path)
    return path.with_name(path.name + ".settings.json")


def claim_file(path, settings: dict, inputs=()) -> bool:
    """Claim ``path`` (a partial or reusable file) for ``settings`` and ``inputs``.

    True when ``path`` exists and was made under this very claim: take it up. Otherwise
    ``path`` (made under other settings or inputs, or by a version that kept no claim)
    is deleted, the claim written for the file about to be made, and False returned.
    Claim before the first byte of ``path`` is written.
    """
    path = Path(path)
    claim, file = make_claim(settings, inputs), claim_settings_file(path)
    if path.exists():
        if _read_claim(file) == claim:
            return True
        print(f"{path}: made by other settings or inputs (or an older version); discarded", flush=True)
        path.unlink()
    write_json(claim, file)
    return False


def retire_file(path) -> None:
    """Remove a resumable file and its claim once the job that kept it is done."""
    path = Path(path)
    path.unlink(missing_ok=True)
    claim_settings_file(path).unlink(missing_ok=True)
