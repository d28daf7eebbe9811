"""Hugging Face hub files: which ones a model needs, and what to tell a user who lacks them.

Every "not in the local cache" error of the suite (models, data sets, scorers) names
the same two ways out, built here so that they stay consistent:

- the suite's prefetch, ``make prefetch CONFIG=<config>`` (scripts/prefetch.py), which
  fetches everything a config needs into the Hugging Face cache the workflow reads;
- the one-off ``hf download ...`` (huggingface_hub >= 1.0 ships ``hf``; the old
  ``huggingface-cli`` is gone).

Nothing here imports huggingface_hub: the workflow imports this while it parses.
"""
from __future__ import annotations

import fnmatch
import os
from typing import Iterable

PREFETCH_COMMAND = "make prefetch CONFIG=<your config>"

# A model folder without its weights: config, generation config, tokenizer (json,
# sentencepiece .model, BPE vocab/merges .txt) and any remote code.
MODEL_FILE_PATTERNS = ("*.json", "*.model", "*.txt", "*.py", "*.tiktoken", "*.jinja")  # .jinja: transformers 5 chat templates
WEIGHT_FORMATS = ("*.safetensors", "*.bin")  # preferred first; repos often carry both


def hub_allow_patterns(repo_files: Iterable[str], weights: bool = True) -> list[str]:
    """``allow_patterns`` for ``snapshot_download`` of a model repository.

    Weights in one format only: safetensors where the repository has them, else
    PyTorch ``.bin`` (older repositories, e.g. facebook/opt-*), never both (a 7B
    repository with both formats is twice the download). ``weights=False``: config
    and tokenizer only.
    """
    patterns = list(MODEL_FILE_PATTERNS)
    if weights:
        files = list(repo_files)
        for pattern in WEIGHT_FORMATS:
            if any(fnmatch.fnmatch(name, pattern) for name in files):
                patterns.append(pattern)
                break
    return patterns


def hf_download_command(repo_id: str, repo_type: str = "model", revision: str | None = None,
                        local_dir: str | os.PathLike | None = None) -> str:
    """The ``hf download`` command line that fetches one repository."""
    parts = ["hf download", repo_id]
    if repo_type != "model":
        parts += ["--repo-type", repo_type]
    if revision:
        parts += ["--revision", revision]
    if local_dir:
        parts += ["--local-dir", str(local_dir)]
    return " ".join(parts)


def fetch_hint(repo_id: str, repo_type: str = "model", revision: str | None = None,
               local_dir: str | os.PathLike | None = None) -> str:
    """What an offline error tells the user to run (on a machine with a network)."""
    where = "" if local_dir else ", with the same HF_HOME as the workflow"
    return (
        f"on a machine with a network run `{PREFETCH_COMMAND}` (scripts/prefetch.py: everything the "
        f"config needs) or `{hf_download_command(repo_id, repo_type, revision, local_dir)}`{where}"
    )

