"""NADO's training data: prompts -> samples of the current LM -> oracle labels.

Samples are drawn by ancestral sampling (T=1, top_p=1, top_k=0 by default: Hugging
Face's default top_k=50 would silently truncate p and bias R), batched and seeded,
and written to a JSONL file with their token ids, so a later step or a rerun reuses
them (a rerun of the same settings and model only: corpora/provenance.py). Labels
are ``1 - toxicity`` from the configured scorer, or
``1[toxicity < threshold]`` when a threshold is set.
"""
from __future__ import annotations

import random
import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def nado_prompts(rows: list[dict], n_prompts: int, seed: int, max_words: int = 24,
                 domains=("toxicity", "general")) -> list[dict]:
    """Prompts from training rows: each row's first sentence, cut to ``max_words``."""
    pool = [row for row in rows if row.get("domain", "general") in domains]
    if not pool:
        raise ValueError(f"no training rows in domains {list(domains)} to draw NADO prompts from")
    rng = random.Random(seed)
    picked = rng.sample(pool, min(n_prompts, len(pool)))
    prompts = []
    for index, row in enumerate(picked):
        first = _SENTENCE_END.split(row["text"].strip(), maxsplit=1)[0]
        prompts.append({"id": index, "prompt": " ".join(first.split()[:max_words]), "domain": row.get("domain", "general")})
    return prompts


def sample_continuations(model, tokenizer, prompts: list[dict], settings, seed: int, out_file, progress=True,
                         hidden_out: dict | None = None, provenance: dict | None = None):
    """Ancestral samples of ``model`` for each prompt, with token ids, to ``out_file``.

    ``hidden_out``: receives the model's last hidden states per sample (by row index of
    ``out_file``), for a ``BaseOutputCache`` of the same model. ``provenance``: what made
    ``model``, so that a partial file of another model is not resumed (``generate_to_file``)."""
    from evaluation.generate import generate_to_file

    items = [{**prompt, "sample": k} for prompt in prompts for k in range(settings.samples_per_prompt)]
    return generate_to_file(
        model, tokenizer, items, out_file, batch_size=settings.sample_batch_size, seed=seed,
        max_new_tokens=settings.max_new_tokens, temperature=settings.temperature, top_p=settings.top_p,
        top_k=settings.top_k, keep_token_ids=True, progress=progress, hidden_out=hidden_out, provenance=provenance,
    )


def label_samples(rows: list[dict], scorer, threshold: float | None = None) -> list[dict]:
    """Add ``toxicity`` and the oracle ``label`` (``1 - toxicity``, or thresholded)."""
    scores = scorer.score([row["continuation"] for row in rows])
    for row, score in zip(rows, scores):
        row["toxicity"] = float(score)
        row["label"] = float(score < threshold) if threshold is not None else 1.0 - float(score)
    return rows
