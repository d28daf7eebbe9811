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

import random
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


def hold_out(rows: list[dict], n: int, seed: int, name: str) -> tuple[list[dict], list[dict]]:
    """``n`` rows drawn (seeded) as held-out text, and the rows left for training: every row
    whose normalised text equals a held-out one's goes, so no held-out text can reach a
    training split through a duplicate."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise DataError(f"data.mixture.heldout_per_domain must be an integer >= 0, got {n!r}")
    if n > len(rows):
        raise DataError(f"data.mixture.heldout_per_domain={n} but only {len(rows)} {name} rows are left: lower it")
    rng = random.Random(f"heldout/{name}/{seed}")
    held = [rows[index] for index in sorted(rng.sample(range(len(rows)), n))]
    texts = {normalise_text(row["text"]) for row in held}
    return held, [row for row in rows if normalise_text(row["text"]) not in texts]


def build_mixture(toxicity_rows: list[dict], general_rows: list[dict], evaluation_prompts: list[str],
                  n_per_domain: int, seed: int, heldout_per_domain: int = 0) -> tuple[list[dict], dict, list[dict]]:
    """The training mixture (``mix_domains``) drawn from rows that repeat no evaluation
    prompt, its counts per domain (rows read, removed as duplicates of a prompt, held out,
    removed as duplicates of a held-out row, drawn), and ``heldout_per_domain`` held-out
    rows per domain (``{id, domain, text}``, ids ``{domain}-{k}``): text of each training
    domain that no training split holds, for held-out perplexity and the judge's control pairs."""
    kept, stats, heldout = {}, {"evaluation_items": len(evaluation_prompts)}, []
    for name, rows in (("toxicity", toxicity_rows), ("general", general_rows)):
        candidates, removed = drop_overlap(rows, evaluation_prompts)
        held, kept[name] = hold_out(candidates, heldout_per_domain, seed, name)
        heldout += [{"id": f"{name}-{k}", "domain": name, "text": row["text"]} for k, row in enumerate(held)]
        stats[name] = {"read": len(rows), "removed_evaluation_duplicates": removed, "heldout": len(held),
                       "removed_heldout_duplicates": len(candidates) - len(held) - len(kept[name]),
                       "drawn": n_per_domain}
        if len(kept[name]) < n_per_domain:
            raise DataError(
                f"of {len(rows)} {name} rows, {removed} repeat an evaluation prompt and {len(candidates) - len(kept[name])} "
                f"are held out (data.mixture.heldout_per_domain={heldout_per_domain}) or repeat a held-out row; the "
                f"{len(kept[name])} left are fewer than n_per_domain={n_per_domain}: lower data.mixture.n_per_domain "
                "or data.mixture.heldout_per_domain"
            )
    return mix_domains(kept["toxicity"], kept["general"], n_per_domain, seed), stats, heldout
