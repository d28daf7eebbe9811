"""No training row repeats an evaluation item (corpora/overlap.py): ToxiGen training
statements vs the SafeNLP prompts, Jigsaw training comments vs its test comments."""
import pytest

from corpora.embedded import DEFAULT_PARAMS, build_jigsaw
from corpora.jigsaw import build_splits
from corpora.loaders import DataError
from corpora.overlap import build_mixture, drop_overlap, normalise_text

TEMPLATE, LABEL_WORDS = "Comment: {text}\nToxic:", [" no", " yes"]


def test_normalise_text_ignores_case_spacing_and_end_punctuation():
    assert normalise_text("  Women are  WEAK.\n") == "women are weak"
    assert normalise_text('"women are weak!!"') == normalise_text("- women are weak") == "women are weak"
    assert normalise_text("«Women», are weak…") == "women», are weak"  # inner punctuation stays
    assert normalise_text("women are weak") != normalise_text("women are weaker")
    assert normalise_text("?!") == ""


def test_drop_overlap_counts_what_it_removes():
    rows = [{"text": "A cat."}, {"text": "a dog"}, {"text": "  a  CAT"}, {"text": "a bird"}]
    kept, removed = drop_overlap(rows, ["a cat", "A bird!"])
    assert kept == [{"text": "a dog"}] and removed == 3
    assert drop_overlap(rows, []) == (rows, 0)


def test_the_mixture_leaves_out_evaluation_prompts_and_still_draws_n_per_domain():
    prompts = [f"Statement number {i} about a group." for i in range(30)]
    toxicity = [{"text": f"statement number {i} about a group", "domain": "toxicity"} for i in range(30)]  # all repeat a prompt
    toxicity += [{"text": f"another statement {i}", "domain": "toxicity"} for i in range(10)]
    general = [{"text": f"A paragraph {i}.", "domain": "general"} for i in range(12)]
    general += [{"text": "statement NUMBER 3 about a group!", "domain": "general"}]
    rows, stats, heldout = build_mixture(toxicity, general, prompts, n_per_domain=10, seed=0)
    assert heldout == []
    assert sum(row["domain"] == "toxicity" for row in rows) == sum(row["domain"] == "general" for row in rows) == 10
    normalised_prompts = {normalise_text(prompt) for prompt in prompts}
    assert not [row for row in rows if normalise_text(row["text"]) in normalised_prompts]
    assert stats["toxicity"] == {"read": 40, "removed_evaluation_duplicates": 30, "heldout": 0, "removed_heldout_duplicates": 0, "drawn": 10}
    assert stats["general"] == {"read": 13, "removed_evaluation_duplicates": 1, "heldout": 0, "removed_heldout_duplicates": 0, "drawn": 10}
    assert stats["evaluation_items"] == 30
    with pytest.raises(DataError, match="of 40 toxicity rows, 30 repeat an evaluation prompt.*fewer than n_per_domain=11"):
        build_mixture(toxicity, general, prompts, n_per_domain=11, seed=0)


def _jigsaw_splits(n_train=8, n_test=6, repeated=3):
    train = [{"id": f"a{i}", "text": f"train comment {i}", "label": i % 2} for i in range(n_train)]
    test = [{"id": f"b{i}", "text": f"test comment {i}", "label": i % 2} for i in range(n_test)]
    for i in range(repeated):  # the same comment in both splits, spelled a little differently
        train[i]["text"] = f"Test comment {i}!"
    return {"train": train, "test": test}


def test_jigsaw_training_rows_that_repeat_a_test_comment_are_removed_before_drawing():
    train, test, stats = build_splits(_jigsaw_splits(), n_train=5, n_test=None, template=TEMPLATE, label_words=LABEL_WORDS)
    assert len(train) == 5 and len(test) == 6
    assert not {normalise_text(row["comment"]) for row in train} & {normalise_text(row["comment"]) for row in test}
    assert stats == {"train": {"read": 8, "removed_evaluation_duplicates": 3, "drawn": 5}, "test": {"read": 6, "drawn": 6}}


def test_jigsaw_removal_is_against_every_test_comment_not_only_those_drawn():
    train, test, stats = build_splits(_jigsaw_splits(), n_train=None, n_test=4, template=TEMPLATE, label_words=LABEL_WORDS)
    assert {f"test comment {i}" for i in range(3)} - {row["comment"] for row in test}, "every repeated comment was drawn"
    assert len(test) == 4 and len(train) == 5 and stats["train"]["removed_evaluation_duplicates"] == 3


def test_the_embedded_jigsaw_stand_in_keeps_no_test_comment_in_training():
    """The stand-in repeats comments across its splits: with the default config's sizes
    (240 training, 160 test comments) 18 test comments were verbatim in training."""
    p = DEFAULT_PARAMS  # the embedded config sets no jigsaw_* stand-in parameter
    raw_train, raw_test = build_jigsaw(p["jigsaw_train"], p["jigsaw_test"], p["jigsaw_toxic_share"], p["seed"], p["label_noise"])
    splits = {"train": [{"id": row["id"], "text": row["comment_text"].strip(), "label": row["toxic"]} for row in raw_train],
              "test": [{"id": row["id"], "text": row["comment_text"].strip(), "label": row["toxic"]}
                       for row in raw_test if row["toxic"] != -1]}
    train, test, stats = build_splits(splits, n_train=240, n_test=160, template=TEMPLATE, label_words=LABEL_WORDS)
    training_comments = {row["comment"] for row in train}
    assert len(train) == 240 and len(test) == 160
    assert sum(row["comment"] in training_comments for row in test) == 0
    assert stats["train"] == {"read": 800, "removed_evaluation_duplicates": 96, "drawn": 240}


def test_heldout_rows_and_their_duplicates_never_reach_the_mixture():
    toxicity = [{"text": f"statement {i % 15}", "domain": "toxicity"} for i in range(30)]  # every text twice
    general = [{"text": f"A paragraph {i}.", "domain": "general"} for i in range(40)]
    rows, stats, heldout = build_mixture(toxicity, general, [], n_per_domain=10, seed=3, heldout_per_domain=5)
    assert [row["domain"] for row in heldout] == ["toxicity"] * 5 + ["general"] * 5
    assert [row["id"] for row in heldout[:2]] == ["toxicity-0", "toxicity-1"]
    held = {normalise_text(row["text"]) for row in heldout}
    assert not [row for row in rows if normalise_text(row["text"]) in held]
    assert stats["toxicity"]["heldout"] == 5 and stats["toxicity"]["removed_heldout_duplicates"] == 5
    assert stats["general"]["removed_heldout_duplicates"] == 0
    again = build_mixture(toxicity, general, [], n_per_domain=10, seed=3, heldout_per_domain=5)
    assert again == (rows, stats, heldout)  # seeded
    with pytest.raises(DataError, match="fewer than n_per_domain=10: lower data.mixture.n_per_domain or data.mixture.heldout_per_domain"):
        build_mixture(toxicity, general, [], n_per_domain=10, seed=3, heldout_per_domain=25)
    with pytest.raises(DataError, match="heldout_per_domain must be an integer >= 0"):
        build_mixture(toxicity, general, [], n_per_domain=10, seed=3, heldout_per_domain=-1)
