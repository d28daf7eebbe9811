"""Training rows that repeat an evaluation item are left out of training.

A model fine-tuned on the very text it is later prompted or tested with measures
memory, not detoxification: SafeNLP's ToxiGen prompts are ToxiGen statements, so the
same text can be among ToxiGen's training statements, and a comment can sit in both
Jigsaw's train and test files (the embedded stand-in, whose comments come from
templates, had 18 of its 160 test comments verbatim among its 240 training ones). Rows
are compared by ``normalise_text``; the removal happens before rows are drawn, so the
configured sizes still hold, and its counts go to the data's ``*.stats.json``.
"""
from __future__ import annotations

import unicodedata

from corpora.loaders import DataError, mix_domains


def _is_edge(char: str) -> bool:
    return char.isspace() or unicodedata.category(char).startswith("P")


def normalise_text(text: str) -> str:
    """The form in which two texts count as the same item: lowercased, runs of
    whitespace made one space, and punctuation (any Unicode punctuation: quotes, dashes,
    ``…``) stripped from both ends; punctuation inside the text is kept.
    ``'  "Women are  WEAK!"'`` -> ``'women are weak'``."""
    text = " ".join(text.lower().split())
    start, end = 0, len(text)
    while start < end and _is_edge(text[start]):
        start += 1
    while end > start and _is_edge(text[end - 1]):
        end -= 1
    return text[start:end]


def drop_overlap(rows: list[dict], evaluation_texts, field: str = "text") -> tuple[list[dict], int]:
    """``rows`` without those whose ``field`` normalises to an evaluation text, and how
    many were removed. Order is kept."""
    evaluation = {normalise_text(text) for text in evaluation_texts}
    kept = [row for row in rows if normalise_text(row[field]) not in evaluation]
    return kept, len(rows) - len(kept)


def build_mixture(toxicity_rows: list[dict], general_rows: list[dict], evaluation_prompts: list[str],
                  n_per_domain: int, seed: int) -> tuple[list[dict], dict]:
    """The training mixture (``mix_domains``) drawn from rows that repeat no evaluation
    prompt, and its counts per domain: rows read, removed as duplicates of a prompt, drawn."""
    kept, stats = {}, {"evaluation_items": len(evaluation_prompts)}
    for name, rows in (("toxicity", toxicity_rows), ("general", general_rows)):
        kept[name], removed = drop_overlap(rows, evaluation_prompts)
        stats[name] = {"read": len(rows), "removed_evaluation_duplicates": removed, "drawn": n_per_domain}
        if removed and len(kept[name]) < n_per_domain:
            raise DataError(
                f"{removed} of {len(rows)} {name} rows repeat an evaluation prompt and are left out; the "
                f"{len(kept[name])} left are fewer than n_per_domain={n_per_domain}: lower data.mixture.n_per_domain"
            )
    return mix_domains(kept["toxicity"], kept["general"], n_per_domain, seed), stats
