"""A finished run trained on no evaluation item, and says how many rows it left out
(corpora/overlap.py; pytest tests/workflow --workdir DIR)."""
import json
import os

import pytest

from corpora.jsonl import read_jsonl
from corpora.loaders import load
from corpora.overlap import normalise_text


def test_the_mixture_repeats_no_evaluation_prompt_and_counts_what_it_left_out(workdir, config):
    stats = json.loads((workdir / "results/data/train_mixture.stats.json").read_text())
    rows = read_jsonl(workdir / "results/data/train_mixture.jsonl")
    n_per_domain = config["data"]["mixture"]["n_per_domain"]
    for domain in ("toxicity", "general"):
        assert stats[domain]["drawn"] == n_per_domain == sum(row["domain"] == domain for row in rows)
        assert stats[domain]["read"] - stats[domain]["removed_evaluation_duplicates"] - stats[domain]["heldout"] >= n_per_domain
    prompt_set = config["data"]["toxicity_prompts"]
    source = dict(prompt_set["source"])
    if "path" in source:
        source["path"] = os.path.join(workdir, source["path"])
    prompts = {normalise_text(row["prompt"]) for row in load(prompt_set["loader"], source, limit=prompt_set.get("limit"))}
    assert stats["evaluation_items"] >= len(prompts)
    assert not [row["text"] for row in rows if normalise_text(row["text"]) in prompts]


def test_jigsaw_training_comments_are_not_test_comments(workdir, config):
    if not (config.get("jigsaw") or {}).get("enabled"):
        pytest.skip("the run's config does not enable the Jigsaw variant")
    folder = workdir / "results/jigsaw/data"
    train, test = read_jsonl(folder / "train.jsonl"), read_jsonl(folder / "test.jsonl")
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["train"]["drawn"] == len(train) and stats["test"]["drawn"] == len(test)
    assert not {normalise_text(row["comment"]) for row in train} & {normalise_text(row["comment"]) for row in test}


def test_heldout_text_is_in_no_training_split(workdir, config):
    heldout = read_jsonl(workdir / "results/data/heldout.jsonl")
    per_domain = config["data"]["mixture"]["heldout_per_domain"]
    for domain in ("toxicity", "general"):
        assert sum(row["domain"] == domain for row in heldout) == per_domain
    held = {normalise_text(row["text"]) for row in heldout}
    training = [workdir / "results/data/train_mixture.jsonl"]
    if (config.get("jigsaw") or {}).get("enabled"):
        training.append(workdir / "results/jigsaw/data/train.jsonl")
    for file in training:
        rows = read_jsonl(file)
        assert not [row for row in rows if normalise_text(row.get("text", row.get("comment", ""))) in held], file
