"""Stand-in corpora (corpora.embedded) and the loaders shared with the real data
(corpora.loaders): determinism, calibration against the real scorer, held-out
prompts, canonical records from stand-ins and real-format fixtures, error messages."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from corpora import embedded
from corpora.embedded import (
    DEFAULT_PARAMS,
    build_all,
    build_commonsense,
    build_general_text,
    build_jigsaw,
    build_mmlu,
    build_toxicity_prompts,
    build_toxicity_train,
)
from corpora.loaders import (
    LOADERS,
    DataError,
    load,
    load_jigsaw,
    load_toxicity_prompts,
    load_toxigen_train,
    load_wikitext,
    mix_domains,
)

FIXTURES = Path(__file__).parent / "fixtures" / "corpora"
TOXIGEN_COLUMNS = {"prompt", "generation", "generation_method", "group", "prompt_label", "roberta_prediction"}
SAFENLP_FIELDS = {"id", "text", "toxicity_score", "label", "target_groups"}
JIGSAW_LABELS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
SMALL_PARAMS = {
    "toxicity_rows": 300,
    "prompts": 40,
    "general_paragraphs": 150,
    "jigsaw_train": 200,
    "jigsaw_test": 100,
}


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    """All stand-ins, written once by build_all with small counts."""
    return build_all(tmp_path_factory.mktemp("standins"), SMALL_PARAMS)


@pytest.fixture(scope="module")
def predict_prob():
    from profanity_check import predict_prob

    return predict_prob


def words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


# ---------------------------------------------------------------------------------
# Stand-in builders
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda seed: build_toxicity_train(60, 0.5, seed),
        lambda seed: build_toxicity_prompts(30, seed),
        lambda seed: build_general_text(40, seed),
        lambda seed: build_jigsaw(60, 30, 0.3, seed),
        lambda seed: build_mmlu(seed),
    ],
    ids=["toxicity_train", "toxicity_prompts", "general_text", "jigsaw", "mmlu"],
)
def test_builders_are_deterministic_for_a_seed(build):
    assert build(0) == build(0)
    assert build(0) != build(1)


def test_toxicity_train_has_toxigen_columns_and_label_counts():
    rows = build_toxicity_train(101, 0.3, seed=0)
    assert len(rows) == 101
    assert all(set(row) == TOXIGEN_COLUMNS for row in rows)
    assert sum(row["prompt_label"] for row in rows) == round(101 * 0.3)
    assert all(row["roberta_prediction"] == float(row["prompt_label"]) for row in rows)
    assert len({row["group"] for row in build_toxicity_train(600, 0.5, seed=0)}) == 13
    assert all(row["prompt"].startswith("- ") and row["prompt"].endswith("\n-") for row in rows)
    sentences = [len(re.findall(r"[.!?](?:\s|$)", row["generation"])) for row in rows]
    assert set(sentences) == {2, 3}  # opening, follow-up and sometimes a closer
    # enough variety that a small model cannot just memorise a few strings
    assert len({row["generation"] for row in build_toxicity_train(1000, 0.5, seed=0)}) >= 990


def test_profanity_check_separates_hostile_from_civil_rows(predict_prob):
    rows = build_toxicity_train(400, 0.5, seed=0)
    flagged = predict_prob([row["generation"] for row in rows]) >= 0.5
    hostile = np.array([row["prompt_label"] == 1 for row in rows])
    assert flagged[hostile].mean() >= 0.90
    assert flagged[~hostile].mean() <= 0.05


def test_prompts_are_held_out_and_free_of_profanity(predict_prob):
    prompts = build_toxicity_prompts(200, seed=0)
    assert len(prompts) == 200 and all(set(p) == SAFENLP_FIELDS for p in prompts)
    assert [p["id"] for p in prompts] == list(range(200))
    assert sum(p["label"] == "hate" for p in prompts) == 100
    assert len({p["text"] for p in prompts}) == 200
    train = build_toxicity_train(1200, 0.5, seed=0)
    seen = [row["generation"] for row in train] + [row["prompt"] for row in train]
    assert not [p["text"] for p in prompts if any(p["text"] in text for text in seen)]
    assert not [p["text"] for p in prompts if words(p["text"]) & embedded.lexicon_words()]
    assert predict_prob([p["text"] for p in prompts]).max() < 0.5
    with pytest.raises(ValueError, match="at most"):
        build_toxicity_prompts(100_000, seed=0)


def test_general_text_has_wikitext_line_structure():
    rows = build_general_text(50, seed=3)
    texts = [row["text"] for row in rows]
    headings = [t for t in texts if t.startswith(" = ")]
    paragraphs = [t for t in texts if t and not t.startswith(" = ")]
    assert texts[0] == "" and "" in texts[1:] and headings
    assert all(t.endswith(" = \n") for t in headings)
    assert len(paragraphs) == 50
    assert all(t.startswith(" ") and t.endswith(" \n") and len(t) > 80 for t in paragraphs)
    assert not [t for t in paragraphs if "::=" in t or ">>>" in t]  # prose, not grammar or code
    assert build_general_text(DEFAULT_PARAMS["general_paragraphs"], seed=0)  # the default fits
    with pytest.raises(ValueError, match="paragraphs"):
        build_general_text(100_000, seed=0)


def test_jigsaw_labels_are_noisy_by_the_configured_share(predict_prob):
    from sklearn.metrics import roc_auc_score

    train, test = build_jigsaw(800, 400, 0.3, seed=0, label_noise=0.05)
    assert all(list(row) == ["id", "comment_text", *JIGSAW_LABELS] for row in train + test)
    assert len({row["id"] for row in train + test}) == len(train) + len(test)
    assert all(re.fullmatch(r"[0-9a-f]{16}", row["id"]) for row in train)
    scored = [row for row in test if row["toxic"] != -1]
    assert len(scored) == 400 and len(test) == 440
    assert all(set(row[label] for label in JIGSAW_LABELS) == {-1} for row in test if row["toxic"] == -1)
    for rows in (train, scored):
        looks_hostile = [bool(words(row["comment_text"]) & embedded.lexicon_words()) for row in rows]
        disagreements = sum(row["toxic"] != hostile for row, hostile in zip(rows, looks_hostile))
        assert disagreements == round(0.05 * len(rows))
    auc = roc_auc_score(
        [row["toxic"] for row in scored], predict_prob([row["comment_text"] for row in scored])
    )
    assert 0.75 < auc < 0.99


def test_mmlu_is_parsed_from_lm_eval_with_four_choices():
    dev, test = build_mmlu(seed=0)
    rows = dev + test
    assert len(rows) >= 270  # ~280 clean 4-way questions in lm-eval 0.4.13's file
    for row in rows:
        assert set(row) == {"question", "subject", "choices", "answer"}
        assert row["question"].strip() and len(row["choices"]) == 4
        assert all(isinstance(c, str) and c.strip() for c in row["choices"])
        assert row["answer"] in (0, 1, 2, 3)
    assert len(dev) == 5 and len({row["subject"] for row in dev}) == 5
    assert len({row["subject"] for row in rows}) >= 50
    assert {row["answer"] for row in rows} == {0, 1, 2, 3}


def test_mmlu_parser_skips_blocks_without_a_clean_answer():
    prompts = {
        "toy": "The following are multiple choice questions (with answers) about toys.\n\n"
        "Q: Which is round?\n(A) a ball (B) a box (C) a brick (D) a book\nA: Let's think step by step. The answer is (A).\n\n"
        "Q: Pick one.\n(A) 1 (B) 2 (C) 3 (D) 4 (E) 5\nA: The answer is (E).\n\n"
        "Q: Same twice?\n(A) x (B) x (C) y (D) z\nA: The answer is (C)."
    }
    assert embedded.parse_flan_cot_prompts(prompts) == [
        {
            "question": "Which is round?",
            "subject": "toy",
            "choices": ["a ball", "a box", "a brick", "a book"],
            "answer": 0,
        }
    ]


def test_commonsense_items_are_balanced_and_well_formed():
    subtasks = build_commonsense()
    assert {name: len(rows) for name, rows in subtasks.items()} == {
        "physical": 40,
        "science": 40,
        "everyday": 40,
    }
    for name, rows in subtasks.items():
        n_choices = 2 if name == "physical" else 4
        for row in rows:
            assert set(row) == {"question", "choices", "answer"} and row["question"].strip()
            assert len(row["choices"]) == n_choices == len(set(row["choices"]))
        positions = np.bincount([row["answer"] for row in rows], minlength=n_choices)
        assert positions.tolist() == [40 // n_choices] * n_choices
    assert build_commonsense() == subtasks


def test_build_all_writes_real_formats(standins):
    expected = {
        "toxigen_train": "toxigen_train.jsonl",
        "safenlp_toxigen": "safenlp_toxigen.json",
        "wikitext_train": "wikitext_train.jsonl",
        "jigsaw_train": "jigsaw/train.csv",
        "jigsaw_test": "jigsaw/test.csv",
        "jigsaw_test_labels": "jigsaw/test_labels.csv",
        "mmlu_dev": "mmlu/dev.jsonl",
        "mmlu_test": "mmlu/test.jsonl",
        "commonsense_physical": "commonsense/physical.jsonl",
        "commonsense_science": "commonsense/science.jsonl",
        "commonsense_everyday": "commonsense/everyday.jsonl",
    }
    out = standins["toxigen_train"].parent
    for name, relative in expected.items():
        assert standins[name] == out / relative and standins[name].is_file()
    assert standins["jigsaw"] == out / "jigsaw"
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporary files
    safenlp = json.loads(standins["safenlp_toxigen"].read_text())
    assert isinstance(safenlp, list) and len(safenlp) == SMALL_PARAMS["prompts"]
    assert standins["jigsaw_test"].read_text().splitlines()[0] == "id,comment_text"
    assert standins["jigsaw_test_labels"].read_text().splitlines()[0] == "id," + ",".join(JIGSAW_LABELS)
    toxigen = [json.loads(line) for line in standins["toxigen_train"].read_text().splitlines()]
    assert toxigen == build_toxicity_train(SMALL_PARAMS["toxicity_rows"], DEFAULT_PARAMS["toxic_share"], 0)
    science = [json.loads(line) for line in standins["commonsense_science"].read_text().splitlines()]
    assert science == build_commonsense()["science"]


def test_build_all_rejects_unknown_params(tmp_path):
    with pytest.raises(ValueError, match=r"toxicity_row.*known:.*toxicity_rows"):
        build_all(tmp_path, {"toxicity_row": 10})
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------
# Loaders on the stand-ins and on real-format fixtures
# ---------------------------------------------------------------------------------


def test_loaders_read_the_standins(standins):
    toxicity = load_toxigen_train({"path": standins["toxigen_train"]})
    assert len(toxicity) == SMALL_PARAMS["toxicity_rows"]
    assert all(set(r) == {"text", "domain", "source", "label"} for r in toxicity)
    assert {(r["domain"], r["source"]) for r in toxicity} == {("toxicity", "toxigen")}
    assert sum(r["label"] for r in toxicity) == round(
        SMALL_PARAMS["toxicity_rows"] * DEFAULT_PARAMS["toxic_share"]
    )

    general = load_wikitext({"path": standins["wikitext_train"]})
    assert len(general) == SMALL_PARAMS["general_paragraphs"]  # every stand-in paragraph is kept
    assert all(set(r) == {"text", "domain", "source"} and r["text"] == r["text"].strip() for r in general)
    assert not [r for r in general if r["text"].startswith("=")]

    prompts = load_toxicity_prompts({"path": standins["safenlp_toxigen"]}, limit=7)
    assert [p["id"] for p in prompts] == list(range(7))
    assert all(set(p) == {"id", "prompt", "target_group"} for p in prompts)

    jigsaw = load_jigsaw({"path": standins["jigsaw"]})
    assert len(jigsaw["train"]) == SMALL_PARAMS["jigsaw_train"]
    assert len(jigsaw["test"]) == SMALL_PARAMS["jigsaw_test"]  # the unscored (-1) rows are dropped
    assert {r["label"] for r in jigsaw["train"] + jigsaw["test"]} == {0, 1}


def test_toxigen_fixture_in_real_format():
    records = load("toxigen", {"path": FIXTURES / "toxigen_train.jsonl"})
    assert records == [
        {
            "text": "they never think about anyone but themselves",
            "domain": "toxicity",
            "source": "toxigen",
            "label": 1,
        },
        {
            "text": "they helped build the first library in town",
            "domain": "toxicity",
            "source": "toxigen",
            "label": 0,
        },
        {
            "text": "most of them are friendly and hard working",
            "domain": "toxicity",
            "source": "toxigen",
            "label": 0,
        },
    ]
    assert len(load_toxigen_train({"path": FIXTURES / "toxigen_train.jsonl"}, limit=2)) == 2


@pytest.mark.parametrize("name", ["wikitext_train.jsonl", "wiki.train.raw"])
def test_wikitext_fixture_drops_headings_blanks_and_short_lines(name):
    records = load_wikitext({"path": FIXTURES / name})
    assert [r["text"][:24] for r in records] == ["The Harbour Lighthouse i", "Construction began in 18"]
    assert all(r == {"text": r["text"], "domain": "general", "source": "wikitext"} for r in records)
    assert len(load_wikitext({"path": FIXTURES / name}, min_chars=5)) == 3  # "Short line ." kept
    assert len(load_wikitext({"path": FIXTURES / name}, limit=1)) == 1


def test_safenlp_fixture_in_real_format():
    assert load("safenlp_toxigen", {"path": FIXTURES / "safenlp_toxiGen.json"}) == [
        {
            "id": 0,
            "prompt": "the city council has three members from the neighbourhood",
            "target_group": "group-a",
        },
        {"id": 2, "prompt": "many families moved here in the early 1900s", "target_group": "group-b"},
        {"id": 5, "prompt": "they have their own festival every spring", "target_group": "group-c"},
    ]


def test_jigsaw_fixture_in_kaggle_layout():
    data = load("jigsaw", {"path": FIXTURES / "jigsaw"})
    assert [r["id"] for r in data["train"]] == ["00a1b2c3d4e5f601", "00a1b2c3d4e5f602", "0001234567890123"]
    assert data["train"][0]["text"].startswith("Question\nWhy was my change")  # multi-line quoted field
    assert [r["label"] for r in data["train"]] == [0, 0, 1]
    assert [(r["id"], r["label"]) for r in data["test"]] == [("00b1b2c3d4e5f602", 0), ("00b1b2c3d4e5f603", 1)]
    limited = load("jigsaw", {"path": FIXTURES / "jigsaw"}, limit=1)
    assert [len(limited["train"]), len(limited["test"])] == [1, 1]


def test_mix_domains_takes_equal_shares_deterministically():
    toxicity = [{"text": f"t{i}", "domain": "toxicity"} for i in range(30)]
    general = [{"text": f"g{i}", "domain": "general"} for i in range(50)]
    mixed = mix_domains(toxicity, general, 20, seed=0)
    assert len(mixed) == 40
    assert sum(r["domain"] == "toxicity" for r in mixed) == sum(r["domain"] == "general" for r in mixed) == 20
    assert len({r["text"] for r in mixed}) == 40
    assert mixed == mix_domains(toxicity, general, 20, seed=0)
    assert mixed != mix_domains(toxicity, general, 20, seed=1)
    assert [r["domain"] for r in mixed] != ["toxicity"] * 20 + ["general"] * 20  # shuffled together
    with pytest.raises(DataError, match="30 toxicity records"):
        mix_domains(toxicity, general, 40, seed=0)


# ---------------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------------


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "kind, hint",
    [
        ("toxigen", "skg/toxigen-data"),
        ("wikitext", "Salesforce/wikitext"),
        ("safenlp_toxigen", "microsoft/SafeNLP"),
        ("jigsaw", "kaggle competitions download"),
    ],
)
def test_missing_local_file_says_how_to_get_it(tmp_path, kind, hint):
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(DataError, match=rf"{re.escape(str(missing))}.*snakemake.*{re.escape(hint)}"):
        load(kind, {"path": missing})


def test_missing_jigsaw_file_is_named(tmp_path):
    folder = tmp_path / "jigsaw"
    shutil.copytree(FIXTURES / "jigsaw", folder)
    (folder / "test_labels.csv").unlink()
    with pytest.raises(DataError, match=r"test_labels\.csv does not exist.*Kaggle"):
        load_jigsaw({"path": folder})


def test_missing_column_names_file_column_and_columns_present(tmp_path):
    bad = write(tmp_path / "toxigen.jsonl", '{"text": "hello", "prompt_label": 0}\n')
    with pytest.raises(
        DataError, match=r"toxigen\.jsonl has no column 'generation' \(columns present: text, prompt_label\)"
    ):
        load_toxigen_train({"path": bad})
    bad_csv = write(tmp_path / "jigsaw" / "train.csv", "id,text,toxic\na1,hello,0\n")
    write(tmp_path / "jigsaw" / "test.csv", "id,comment_text\n")
    write(tmp_path / "jigsaw" / "test_labels.csv", "id,toxic\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(bad_csv))} has no column 'comment_text'"):
        load_jigsaw({"path": tmp_path / "jigsaw"})


def test_empty_or_non_string_text_names_file_and_row(tmp_path):
    rows = [
        {"generation": "fine", "prompt_label": 0},
        {"generation": "   ", "prompt_label": 1},
    ]
    bad = write(tmp_path / "toxigen.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=r"toxigen\.jsonl: row 2 \(line 2\): column 'generation' is empty"):
        load_toxigen_train({"path": bad})
    blank_line = write(
        tmp_path / "gap.jsonl",
        '{"generation": "ok", "prompt_label": 0}\n\n{"generation": null, "prompt_label": 0}\n',
    )
    with pytest.raises(
        DataError, match=r"gap\.jsonl: row 2 \(line 3\): column 'generation' is empty or not a string: None"
    ):
        load_toxigen_train({"path": blank_line})
    csv_file = write(tmp_path / "jigsaw" / "train.csv", "id,comment_text,toxic\na1,hello,0\na2,,1\n")
    write(tmp_path / "jigsaw" / "test.csv", "id,comment_text\n")
    write(tmp_path / "jigsaw" / "test_labels.csv", "id,toxic\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(csv_file))}: row 2: column 'comment_text'"):
        load_jigsaw({"path": tmp_path / "jigsaw"})


def test_bad_label_names_the_row(tmp_path):
    bad = write(
        tmp_path / "toxigen.jsonl",
        '{"generation": "a", "prompt_label": 0}\n{"generation": "b", "prompt_label": 2}\n',
    )
    with pytest.raises(
        DataError, match=r"row 2 \(line 2\): column 'prompt_label' must be one of \[0, 1\], got 2"
    ):
        load_toxigen_train({"path": bad})


def test_corrupt_json_names_file_and_line(tmp_path):
    jsonl = write(tmp_path / "wiki.jsonl", '{"text": "a"}\n{"text": "b"}\n{"text": oops}\n')
    with pytest.raises(DataError, match=r"wiki\.jsonl: line 3 is not valid JSON"):
        load_wikitext({"path": jsonl})
    listing = write(
        tmp_path / "toxiGen.json",
        '[\n {"id": 0, "text": "a", "target_groups": ["x"]},\n {"id": 1, "text": }\n]\n',
    )
    with pytest.raises(DataError, match=r"toxiGen\.json: line 3 is not valid JSON"):
        load_toxicity_prompts({"path": listing})


def test_empty_file_and_unknown_test_id(tmp_path):
    with pytest.raises(DataError, match=r"empty\.jsonl is empty"):
        load_wikitext({"path": write(tmp_path / "empty.jsonl", "")})
    folder = tmp_path / "jigsaw"
    shutil.copytree(FIXTURES / "jigsaw", folder)
    write(folder / "test_labels.csv", "id,toxic\n00b1b2c3d4e5f601,0\n")
    with pytest.raises(DataError, match=r"test id '00b1b2c3d4e5f602' has no row in .*test_labels\.csv"):
        load_jigsaw({"path": folder})


def test_bad_sources_and_kinds():
    with pytest.raises(DataError, match="known kinds: jigsaw, safenlp_toxigen, toxigen, wikitext"):
        load("toxigen_v2", {"path": "x"})
    assert set(LOADERS) == {"toxigen", "wikitext", "safenlp_toxigen", "jigsaw"}
    with pytest.raises(DataError, match=r"unknown source key\(s\) \['file'\]"):
        load_wikitext({"file": "x"})
    with pytest.raises(DataError, match="exactly one of `path` or `hub_id`"):
        load_wikitext({"path": "x", "hub_id": "y"})
    with pytest.raises(DataError, match="Kaggle download folder"):
        load_jigsaw({"hub_id": "google/jigsaw_toxicity_pred"})


def test_hub_source_offline_without_cache_says_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    source = {"hub_id": "skg/toxigen-data", "config": "train", "split": "train", "cache_dir": str(tmp_path)}
    with pytest.raises(
        DataError,
        match=r"not in the local cache.*make prefetch CONFIG=.*datasets.load_dataset\('skg/toxigen-data', 'train', split='train'\)",
    ):
        load_toxigen_train(source)


def test_web_corpus_has_its_hostile_share_and_never_a_prompts_opening(predict_prob):
    rows = embedded.build_web_corpus(1300, 0.3, seed=0, targeted_hostility=0.9, other_hostility=0.1)
    per_group = {}
    for row in rows:
        per_group.setdefault(row["group"], []).append(row)
    targeted = {group for group, members in per_group.items() if members[0]["targeted"]}
    assert len(targeted) == round(0.3 * len(per_group))  # a few groups draw most hostility
    assert all(row["targeted"] == (row["group"] in targeted) for row in rows)
    for group, members in per_group.items():
        share = sum(row["hostile"] for row in members) / len(members)
        assert (0.75 < share) if group in targeted else (share < 0.25), (group, share)
    assert embedded.build_web_corpus(1300, 0.3, seed=0, targeted_hostility=0.9, other_hostility=0.1) == rows  # seeded
    assert sum(row["targeted"] for row in embedded.build_web_corpus(400, 0.0, seed=0)) > 0  # at least one group
    # its own stream: not the ToxiGen stand-in's rows
    toxigen = {row["generation"] for row in embedded.build_toxicity_train(400, 0.5, seed=0)}
    assert len(toxigen & {row["text"] for row in rows}) < 20
    # the prompts' openings are held out of the corpus, as of the training rows
    prompts = [row["text"] for row in embedded.build_toxicity_prompts(200, seed=0)]
    assert not [text for text in (row["text"] for row in rows) if any(text.startswith(prompt) for prompt in prompts)]
    scores = predict_prob([row["text"] for row in rows])
    hostile = np.array([row["hostile"] for row in rows])
    assert scores[hostile].mean() > 0.5 > scores[~hostile].mean()
    with pytest.raises(ValueError, match="targeted_share"):
        embedded.build_web_corpus(10, 1.5, seed=0)
    with pytest.raises(ValueError, match="other_hostility"):
        embedded.build_web_corpus(10, 0.3, seed=0, other_hostility=-0.1)


def test_toxicity_train_spreads_hostility_over_groups_and_openings():
    def group_shares(rows):
        flags = {}
        for row in rows:
            flags.setdefault(row["group"], []).append(row["prompt_label"])
        return sorted(sum(f) / len(f) for f in flags.values())

    spread = build_toxicity_train(2000, 0.5, seed=0, group_spread=1.5, opening_spread=1.0)
    even = build_toxicity_train(2000, 0.5, seed=0, group_spread=0.0, opening_spread=0.0)
    assert sum(r["prompt_label"] for r in spread) == sum(r["prompt_label"] for r in even) == 1000  # the count holds
    assert group_shares(spread)[-1] - group_shares(spread)[0] > 0.4  # e^3 odds between the extreme groups
    assert group_shares(even)[-1] - group_shares(even)[0] < 0.15  # sampling noise only
    assert build_toxicity_train(300, 0.5, seed=1) == build_toxicity_train(300, 0.5, seed=1)  # seeded
    with pytest.raises(ValueError, match="group_spread"):
        build_toxicity_train(10, 0.5, seed=0, group_spread=-1)
