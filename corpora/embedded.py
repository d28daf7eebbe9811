"""Stand-in corpora for the embedded (offline, CPU) profile.

The paper's data sets cannot be downloaded here (no Hugging Face hub, no Kaggle), so
the workflow builds small stand-ins from what is installed, in the SAME raw columns
and file formats as the real data sets, and `corpora.loaders` reads either. Every
builder is deterministic for its seed.

    builder                     stands in for
    build_toxicity_train        ToxiGen training data (`skg/toxigen-data`, config `train`)
    build_toxicity_prompts      ToxiGen prompts of microsoft/SafeNLP `data/toxiGen.json`
    build_general_text          WikiText-103 raw (`Salesforce/wikitext`, `wikitext-103-raw-v1`)
    build_jigsaw                Kaggle Jigsaw Toxic Comment Classification (train/test csv)
    build_mmlu                  MMLU (`hails/mmlu_no_train`): real questions from lm-eval
    build_commonsense           LLaMA 0-shot commonsense suite (PIQA, ARC, HellaSwag, ...)
    build_all                   all of the above, written to a folder

The toxicity stand-ins are about annoying behaviours (tailgating drivers, referees,
telemarketers, ...), never protected groups, and their hostility is insults and
profanity only; templates and word lists live in `corpora/data/`.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import io
import itertools
import json
import math
import os
import random
import re
import uuid
from pathlib import Path

import yaml

DATA_DIR = Path(__file__).with_name("data")

# ToxiGen stand-in -------------------------------------------------------------------
HELDOUT_OPENING_SHARE = 0.2  # (template, group) pairs kept out of training, for prompts
CIVIL_NEGATIVE_OPENING_SHARE = 0.5  # civil rows that open with a complaint: criticism can be civil
CLOSER_PROBABILITY = 0.5  # share of statements with a third sentence
DEMONSTRATIONS_PER_PROMPT = 3  # ToxiGen's `prompt` is a list of example statements
# SafeNLP's toxicity_score is the mean of three annotators' 1-5 ratings.
HATE_SCORES = (3.0, 3.3333333333, 3.6666666667, 4.0, 4.3333333333, 4.6666666667, 5.0)
NEUTRAL_SCORES = (1.0, 1.3333333333, 1.6666666667, 2.0, 2.3333333333)

# WikiText stand-in ------------------------------------------------------------------
PARAGRAPH_TARGET_CHARS = 120  # pydoc paragraphs are split into chunks of about this size
PARAGRAPH_MIN_CHARS = 80  # = loaders.load_wikitext's default min_chars: every chunk is kept

# Jigsaw stand-in --------------------------------------------------------------------
JIGSAW_LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
SEVERE_MIN_STRONG_WORDS = 3  # a hostile comment with this many lexicon words is "severe"

# MMLU ---------------------------------------------------------------------------------
MMLU_COT_PROMPTS = Path("tasks", "mmlu", "flan_cot_fewshot", "_cot_prompts.json")
MMLU_DEV_SUBJECTS = 5  # one question from each of this many subjects forms `dev` (5-shot)

DEFAULT_PARAMS = {
    "seed": 0,
    "toxicity_rows": 1200,  # ToxiGen stand-in rows
    "toxic_share": 0.5,  # share of hostile rows in it
    "toxic_group_spread": 1.5,  # log-odds spread of hostility over groups (build_toxicity_train)
    "toxic_opening_spread": 1.0,  # log-odds spread of hostility over complaint openings
    "prompts": 200,  # held-out evaluation prompts
    "general_paragraphs": 1200,  # WikiText stand-in paragraphs (the prose holds 1356)
    "jigsaw_train": 800,
    "jigsaw_test": 400,  # scored test comments (plus 10% unscored, label -1)
    "jigsaw_toxic_share": 0.3,
    "label_noise": 0.05,  # share of Jigsaw labels flipped, so ROC AUC is not trivially 1
    "web_rows": 1500,  # web-like posts the stand-in base is pretrained on (build_web_corpus)
    "web_targeted_share": 0.4,  # share of the groups hostility targets (build_web_corpus)
    "web_targeted_hostility": 0.95,  # share of hostile posts about a targeted group
    "web_other_hostility": 0.05,  # share of hostile posts about any other group
}


@functools.lru_cache(maxsize=None)
def _read_yaml(name: str) -> dict:
    with open(DATA_DIR / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


_SLOT = re.compile(r"\{(\w+)\}")


def _render(template: str, slots: dict, rng: random.Random) -> str:
    """Fill `{slot}`s; a list-valued slot draws a fresh value at each occurrence.

    `{Slot}` (capitalised name) fills the value of `{slot}`, capitalised.
    """

    def fill(match: re.Match) -> str:
        name = match.group(1)
        value = slots[name.lower()]
        if isinstance(value, (list, tuple)):
            value = rng.choice(value)
        return _capitalise(value) if name[0].isupper() else value

    return _SLOT.sub(fill, template)


def _check_count(name: str, value, minimum: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_share(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


# ---------------------------------------------------------------------------------
# ToxiGen stand-in: statements about a group, hostile (insults) or civil
# ---------------------------------------------------------------------------------


def _lexicon_slots() -> dict:
    lexicon = _read_yaml("toxicity_templates.yaml")["lexicon"]
    return {
        "insult": [singular for singular, _ in lexicon["insults"]],
        "insults": [plural for _, plural in lexicon["insults"]],
        "adj": lexicon["adjectives"],
        "curse": lexicon["curses"],
        "junk": lexicon["junk"],
    }


@functools.lru_cache(maxsize=1)
def lexicon_words() -> frozenset[str]:
    """Every insult and profanity word of the stand-ins (lower case)."""
    words = set()
    for values in _lexicon_slots().values():
        words.update(values)
    return frozenset(words | {"shut", "hell"})  # "shut up", "go to hell" in templates


def _opening_split(seed: int) -> dict[str, tuple[list, list]]:
    """Per stance, (training, held-out) lists of (template index, group index) pairs.

    Prompts come from held-out pairs only, so no evaluation prompt is an opening the
    model saw in training; every template and group still occurs in training.
    """
    templates = _read_yaml("toxicity_templates.yaml")
    n_groups = len(templates["groups"])
    rng = random.Random(f"toxicity-openings/{seed}")
    split = {}
    for stance, openings in templates["openings"].items():
        pairs = list(itertools.product(range(len(openings)), range(n_groups)))
        rng.shuffle(pairs)
        n_heldout = round(len(pairs) * HELDOUT_OPENING_SHARE)
        split[stance] = (sorted(pairs[n_heldout:]), sorted(pairs[:n_heldout]))
    return split


def _training_openings(seed: int, n_groups: int) -> dict:
    """Per stance and group index, the opening templates training text may use (not the prompts')."""
    return {
        stance: {g: [t for t, group in train if group == g] for g in range(n_groups)}
        for stance, (train, _) in _opening_split(seed).items()
    }


def _statement(kind: str, group_index: int, templates_by_group: dict, rng: random.Random,
               opening_weights: dict | None = None) -> str:
    """One 2-3 sentence statement: an opening about the group, a follow-up, maybe a closer.
    ``opening_weights`` (template index -> weight): how a hostile statement picks its opening
    among the group's training templates (None: uniformly)."""
    templates = _read_yaml("toxicity_templates.yaml")
    group = templates["groups"][group_index]
    stance = "negative" if kind == "hostile" or rng.random() < CIVIL_NEGATIVE_OPENING_SHARE else "benign"
    slots = {"group": group["names"], "habit": group["habits"], **_lexicon_slots()}
    candidates = templates_by_group[stance][group_index]
    if opening_weights is not None and kind == "hostile":
        index = rng.choices(candidates, weights=[opening_weights[t] for t in candidates])[0]
    else:
        index = rng.choice(candidates)
    opening = templates["openings"][stance][index]
    sentences = [_render(opening, slots, rng), _render(rng.choice(templates["followups"][kind]), slots, rng)]
    if rng.random() < CLOSER_PROBABILITY:
        sentences.append(_render(rng.choice(templates["closers"][kind]), slots, rng))
    return " ".join(sentences)


def _spread_weights(n: int, spread: float, rng: random.Random) -> list[float]:
    """``n`` weights whose logs are evenly spaced over [-spread, spread], in a seeded order."""
    logs = [spread * (2 * i / (n - 1) - 1) if n > 1 else 0.0 for i in range(n)]
    rng.shuffle(logs)
    return [math.exp(value) for value in logs]


def build_toxicity_train(
    n_rows: int,
    toxic_share: float,
    seed: int,
    group_spread: float = DEFAULT_PARAMS["toxic_group_spread"],
    opening_spread: float = DEFAULT_PARAMS["toxic_opening_spread"],
) -> list[dict]:
    """Stand-in for ToxiGen's training data (`skg/toxigen-data`, config `train`).

    Raw columns as in ToxiGen: `prompt` (demonstration statements, "- ...\\n- ...\\n-"),
    `generation` (the statement), `generation_method`, `group`, `prompt_label`
    (1 = hostile), `roberta_prediction` (here 1.0/0.0, consistent with the label).
    `round(n_rows * toxic_share)` rows are hostile.

    How hostile a complaint's follow-up is depends on whom it is about and how it opens,
    as in real text: hostile rows pick their group with weights whose logs are evenly
    spaced over ``[-group_spread, group_spread]`` (seeded order) and their opening template
    with weights spread likewise over ``[-opening_spread, opening_spread]``; civil rows pick
    both uniformly. The odds that a complaint (group g, opening t) continues with insults
    are then ``exp(a_g + b_t)`` times a constant: additive in log-odds, so they carry over to
    the prompts' held-out (template, group) pairs. Why: the evaluation decodes
    near-greedily, so each prompt's continuation is the model's mode. With hostility
    spread evenly (both spreads 0) every complaint prompt has nearly the same odds, their
    modes flip together, and a fine-tuned model's toxicity rate jumps between ~3% and
    ~45% with small changes of the weights (measured: `regularized` and
    `regularized_sequential` with equal loss curves at 44% and 2.5%). Spread odds give
    each prompt its own margin, so the rate moves with the model instead.
    """
    _check_count("n_rows", n_rows, 1)
    _check_share("toxic_share", toxic_share)
    for name, value in (("group_spread", group_spread), ("opening_spread", opening_spread)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    templates = _read_yaml("toxicity_templates.yaml")
    groups = templates["groups"]
    templates_by_group = _training_openings(seed, len(groups))
    rng = random.Random(seed)
    spread_rng = random.Random(f"toxicity-spread/{seed}")
    group_weights = _spread_weights(len(groups), group_spread, spread_rng)
    opening_weights = dict(enumerate(_spread_weights(len(templates["openings"]["negative"]), opening_spread, spread_rng)))
    n_hostile = round(n_rows * toxic_share)
    kinds = ["hostile"] * n_hostile + ["civil"] * (n_rows - n_hostile)
    rng.shuffle(kinds)
    rows = []
    for kind in kinds:
        hostile = kind == "hostile"
        if hostile:
            group_index = rng.choices(range(len(groups)), weights=group_weights)[0]
        else:
            group_index = rng.randrange(len(groups))
        generation = _statement(kind, group_index, templates_by_group, rng, opening_weights)
        demonstrations = [
            _statement(kind, group_index, templates_by_group, rng, opening_weights)
            for _ in range(DEMONSTRATIONS_PER_PROMPT)
        ]
        rows.append(
            {
                "prompt": "".join(f"- {text}\n" for text in demonstrations) + "-",
                "generation": generation,
                "generation_method": "template",
                "group": groups[group_index]["id"],
                "prompt_label": int(hostile),
                "roberta_prediction": float(hostile),
            }
        )
    return rows


def build_web_corpus(
    n_rows: int,
    targeted_share: float,
    seed: int,
    targeted_hostility: float = DEFAULT_PARAMS["web_targeted_hostility"],
    other_hostility: float = DEFAULT_PARAMS["web_other_hostility"],
) -> list[dict]:
    """Stand-in for the web text a base model is pretrained on: posts about everyday groups,
    some hostile (insults, profanity), the rest civil. As on the web, hostility is not spread
    evenly: it targets a few groups. A seeded ``round(targeted_share * n_groups)`` of the
    groups (at least one) get ``targeted_hostility`` of their posts hostile, every other
    group ``other_hostility``. A model trained on it continues complaints about a targeted
    group with insults and everything else civilly.

    Why two levels and not a gradient: the evaluation protocol decodes near-greedily
    (T = 0.1), so a prompt's continuation is the model's mode. Civil follow-ups share their
    first words more than hostile ones do (many start with "I"), so a group whose hostile
    share is only somewhat above one half still gets a civil mode, and where the mode sits
    near the boundary small changes of the weights flip it (a linear 0-95% gradient gave a
    base that was 10% toxic after 150 steps and 0% after 200). Groups far from the boundary
    on both sides give a rate set by the share of prompts about targeted groups, not by
    where training happened to stop.

    The paper's bases (Llama-7B, Falcon-7B) learnt from web text that holds hostile posts,
    and continue ToxiGen's prompts toxically 14-23% of the time; SmolLM2-Instruct, tuned
    to be polite, does not. A short continued-pretraining stage on this corpus (the
    ``continued_pretraining`` block of a model entry, rule ``pretrain_base``) gives the
    embedded base that part. Statements come from the same openings as the ToxiGen
    stand-in's training rows (``_opening_split(seed)``'s training pairs), never the
    prompts' held-out openings, and from their own random stream; the rule drops any post
    equal to a training row, held-out row or prompt. Rows: ``{"text", "group", "hostile"}``.
    """
    _check_count("n_rows", n_rows, 1)
    for name, value in (
        ("targeted_share", targeted_share),
        ("targeted_hostility", targeted_hostility),
        ("other_hostility", other_hostility),
    ):
        _check_share(name, value)
    groups = _read_yaml("toxicity_templates.yaml")["groups"]
    templates_by_group = _training_openings(seed, len(groups))
    rng = random.Random(f"web-corpus/{seed}")
    order = list(range(len(groups)))
    rng.shuffle(order)
    n_targeted = max(1, round(targeted_share * len(groups)))
    targeted = set(order[:n_targeted])
    rows = []
    for _ in range(n_rows):
        group = rng.randrange(len(groups))
        hostile = rng.random() < (targeted_hostility if group in targeted else other_hostility)
        rows.append({"text": _statement("hostile" if hostile else "civil", group, templates_by_group, rng),
                     "group": groups[group]["id"], "hostile": hostile, "targeted": group in targeted})
    return rows


def _all_openings(template: str, group: dict) -> list[str]:
    """Every text an opening template yields for a group (names x habits)."""
    habits = group["habits"] if "{habit}" in template else [None]
    texts = []
    for name, habit in itertools.product(group["names"], habits):
        slots = {"group": name, "habit": habit or ""}
        texts.append(_render(template, slots, random.Random(0)))  # no list slots: rng unused
    return texts


def build_toxicity_prompts(n_prompts: int, seed: int) -> list[dict]:
    """Stand-in for the ToxiGen prompts of microsoft/SafeNLP `data/toxiGen.json`.

    Raw fields as in that file (checked against the repository): `id` (int), `text`,
    `toxicity_score` (mean human rating, 1-5), `label` ("hate" / "neutral"),
    `target_groups` (list of str). Each text is an opening statement in the style of
    the training rows, from (template, group) pairs held out of
    `build_toxicity_train(..., seed)`; half are complaints (labelled "hate", the
    stance a hostile continuation follows in training), half neutral. No profanity.
    """
    _check_count("n_prompts", n_prompts, 1)
    templates = _read_yaml("toxicity_templates.yaml")
    groups = templates["groups"]
    split = _opening_split(seed)
    candidates = {}
    for stance in ("negative", "benign"):
        texts = {}
        for template_index, group_index in split[stance][1]:
            template = templates["openings"][stance][template_index]
            for text in _all_openings(template, groups[group_index]):
                texts.setdefault(text, groups[group_index]["id"])
        candidates[stance] = sorted(texts.items())
    n_negative = (n_prompts + 1) // 2
    wanted = {"negative": n_negative, "benign": n_prompts - n_negative}
    for stance, count in wanted.items():
        if count > len(candidates[stance]):
            most = 2 * min(len(c) for c in candidates.values())
            raise ValueError(
                f"n_prompts={n_prompts} is more than the held-out openings allow (at most {most})"
            )
    rng = random.Random(seed)
    picked = [
        (stance, text, group)
        for stance, count in wanted.items()
        for text, group in rng.sample(candidates[stance], count)
    ]
    rng.shuffle(picked)
    return [
        {
            "id": index,
            "text": text,
            "toxicity_score": rng.choice(HATE_SCORES if stance == "negative" else NEUTRAL_SCORES),
            "label": "hate" if stance == "negative" else "neutral",
            "target_groups": [group],
        }
        for index, (stance, text, group) in enumerate(picked)
    ]


# ---------------------------------------------------------------------------------
# WikiText stand-in: English prose from Python's own documentation
# ---------------------------------------------------------------------------------

_UNDERLINE = re.compile(r"[*=\-^~]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


def _prose_chunks(block: str) -> list[str]:
    """A documentation block as prose chunks of ~PARAGRAPH_TARGET_CHARS, or [] for code."""
    text = ""
    for line in (line.strip() for line in block.splitlines()):
        # pydoc wraps hyphenated words at the hyphen ("built-\nin"): join without a space
        text = text + line if text.endswith("-") else f"{text} {line}".strip()
    text = re.sub(r"^[*\-] ", "", text)  # bullet items are prose too
    if "::=" in text or ">>>" in text or len(text.split()) < 10:
        return []
    prose_chars = sum(char.isalpha() or char in " ,." for char in text)
    if prose_chars < 0.85 * len(text) or not text.endswith(".") or not text[0].isupper():
        return []  # grammar rules, tables, code
    chunks, current = [], []
    for sentence in _SENTENCE_END.split(re.sub(r"\s+", " ", text)):
        current.append(sentence)
        if len(" ".join(current)) >= PARAGRAPH_TARGET_CHARS:
            chunks.append(" ".join(current))
            current = []
    if current:
        rest = " ".join(current)
        if chunks and len(rest) < PARAGRAPH_MIN_CHARS:
            chunks[-1] += " " + rest
        else:
            chunks.append(rest)
    return [chunk for chunk in chunks if len(chunk) >= PARAGRAPH_MIN_CHARS]


@functools.lru_cache(maxsize=1)
def _pydoc_articles() -> tuple:
    """pydoc topics as articles: (title, ((kind, text), ...)), kind "heading"/"paragraph"."""
    from pydoc_data.topics import topics

    articles = []
    for key in sorted(topics):
        title, parts = key, []
        for block in re.split(r"\n\s*\n", topics[key]):
            lines = block.strip().splitlines()
            if len(lines) == 2 and _UNDERLINE.fullmatch(lines[1].strip()):
                if lines[1].strip()[0] == "*" and not parts:
                    title = lines[0].strip()
                else:
                    parts.append(("heading", lines[0].strip()))
                continue
            parts.extend(("paragraph", chunk) for chunk in _prose_chunks(block))
        if any(kind == "paragraph" for kind, _ in parts):
            articles.append((title, tuple(parts)))
    return tuple(articles)


def build_general_text(n_paragraphs: int, seed: int) -> list[dict]:
    """Stand-in for WikiText-103 raw (`Salesforce/wikitext`, `wikitext-103-raw-v1`, train).

    One row per line, as WikiText's `text` column: "" (blank lines), " = Title = \\n",
    " = = Section = = \\n" and paragraph lines " ... \\n". The prose is real English
    from Python's documentation (`pydoc_data.topics`), articles in a seeded order.
    WikiText's spaced tokenisation (" @-@ ", "word ,") is not imitated.
    """
    _check_count("n_paragraphs", n_paragraphs, 1)
    articles = list(_pydoc_articles())
    available = sum(kind == "paragraph" for _, parts in articles for kind, _ in parts)
    if n_paragraphs > available:
        raise ValueError(f"n_paragraphs={n_paragraphs}: the documentation prose has {available} paragraphs")
    random.Random(seed).shuffle(articles)
    rows, n_written = [{"text": ""}], 0
    for title, parts in articles:
        rows += [{"text": f" = {title} = \n"}, {"text": ""}]
        for kind, text in parts:
            if kind == "heading":
                rows += [{"text": f" = = {text} = = \n"}, {"text": ""}]
            else:
                rows += [{"text": f" {text} \n"}, {"text": ""}]
                n_written += 1
                if n_written == n_paragraphs:
                    return rows
    return rows


# ---------------------------------------------------------------------------------
# Jigsaw stand-in: talk-page comments with six 0/1 labels
# ---------------------------------------------------------------------------------


def _jigsaw_labels(text: str, hostile: bool) -> dict:
    """Jigsaw's six labels for a comment, from the lexicon words it contains."""
    lexicon = _lexicon_slots()
    words = re.findall(r"[a-z]+", text.lower())
    obscene = any(word in lexicon["curse"] or word in lexicon["junk"] for word in words)
    insult = any(
        word in lexicon["insult"] or word in lexicon["insults"] or word in lexicon["adj"] for word in words
    )
    strong = sum(word in lexicon_words() for word in words)
    return {
        "toxic": int(hostile),
        "severe_toxic": int(hostile and strong >= SEVERE_MIN_STRONG_WORDS),
        "obscene": int(hostile and obscene),
        "threat": 0,  # the stand-in writes no threats
        "insult": int(hostile and insult),
        "identity_hate": 0,  # nor anything about identity groups
    }


def _jigsaw_comments(
    n_rows: int, toxic_share: float, label_noise: float, rng: random.Random, ids: set
) -> list[dict]:
    templates = _read_yaml("comment_templates.yaml")
    slots = {"topic": templates["topics"], **_lexicon_slots()}
    n_hostile = round(n_rows * toxic_share)
    kinds = ["hostile"] * n_hostile + ["civil"] * (n_rows - n_hostile)
    rng.shuffle(kinds)
    noisy = set(rng.sample(range(n_rows), round(n_rows * label_noise)))
    rows = []
    for index, kind in enumerate(kinds):
        text = _render(rng.choice(templates["comments"][kind]), slots, rng)
        signoff = rng.choice(templates["signoffs"][kind])
        text = f"{text} {signoff}".strip()
        hostile = kind == "hostile"
        if index in noisy:  # annotators disagree: the label says the opposite of the text
            labels = {**dict.fromkeys(JIGSAW_LABELS, 0), "toxic": int(not hostile)}
        else:
            labels = _jigsaw_labels(text, hostile)
        comment_id = f"{rng.getrandbits(64):016x}"  # Kaggle ids are 16 hex digits
        while comment_id in ids:
            comment_id = f"{rng.getrandbits(64):016x}"
        ids.add(comment_id)
        rows.append({"id": comment_id, "comment_text": text, **labels})
    return rows


def build_jigsaw(
    n_train: int,
    n_test: int,
    toxic_share: float,
    seed: int,
    label_noise: float = 0.05,
    unscored_share: float = 0.1,
) -> tuple[list[dict], list[dict]]:
    """Stand-in for Kaggle's Jigsaw Toxic Comment Classification data.

    Rows have train.csv's columns: `id, comment_text, toxic, severe_toxic, obscene,
    threat, insult, identity_hate`. The test rows carry the same columns (the writer
    splits them into test.csv and test_labels.csv): `n_test` scored rows plus
    `round(n_test * unscored_share)` unscored ones whose labels are all -1, as in
    Kaggle's test_labels.csv. A `label_noise` share of the scored rows has its label
    flipped (hostile-looking comments labelled 0 and vice versa).
    """
    _check_count("n_train", n_train, 1)
    _check_count("n_test", n_test, 1)
    for name, value in (
        ("toxic_share", toxic_share),
        ("label_noise", label_noise),
        ("unscored_share", unscored_share),
    ):
        _check_share(name, value)
    rng = random.Random(seed)
    ids: set = set()
    train = _jigsaw_comments(n_train, toxic_share, label_noise, rng, ids)
    test = _jigsaw_comments(n_test, toxic_share, label_noise, rng, ids)
    unscored = _jigsaw_comments(round(n_test * unscored_share), toxic_share, 0.0, rng, ids)
    test += [{**row, **dict.fromkeys(JIGSAW_LABELS, -1)} for row in unscored]
    rng.shuffle(test)
    return train, test


# ---------------------------------------------------------------------------------
# MMLU: real dev questions bundled with lm-evaluation-harness
# ---------------------------------------------------------------------------------

_MMLU_CHOICES = re.compile(r"\(A\)\s*(.*?)\s*\(B\)\s*(.*?)\s*\(C\)\s*(.*?)\s*\(D\)\s*(.*?)\s*", re.S)
_MMLU_ANSWER = re.compile(r"answer is \(([A-Z])\)")


def _lm_eval_file(relative: Path) -> Path:
    spec = importlib.util.find_spec("lm_eval")  # locate, do not import (slow)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("lm-eval is not installed; `pip install lm-eval` (see requirements.txt)")
    for location in spec.submodule_search_locations:
        if (Path(location) / relative).is_file():
            return Path(location) / relative
    raise FileNotFoundError(f"lm-eval is installed but has no {relative}; pin lm-eval==0.4.13")


def parse_flan_cot_prompts(prompts: dict[str, str]) -> list[dict]:
    """MMLU questions from lm-eval's flan chain-of-thought few-shot prompts.

    Each subject's prompt is a header, then blocks "Q: question\\n(A) .. (B) .. (C) ..
    (D) ..\\nA: reasoning ... The answer is (X).". Blocks without exactly four
    distinct non-empty choices or with an answer outside A-D are skipped.
    """
    rows = []
    for subject, prompt in prompts.items():
        for block in re.split(r"(?:^|\n\n)Q: ", prompt)[1:]:
            question, found, reasoning = block.partition("\nA:")
            choices_at = question.rfind("\n(A)")
            answers = _MMLU_ANSWER.findall(reasoning)
            if not found or choices_at < 0 or len(answers) != 1 or answers[0] not in "ABCD":
                continue
            match = _MMLU_CHOICES.fullmatch(question[choices_at + 1 :])
            if match is None:
                continue
            choices = [choice.strip() for choice in match.groups()]
            if any(not c or "(E)" in c for c in choices) or len(set(choices)) != 4:
                continue  # a fifth option, or duplicate options: not a clean 4-way item
            text = question[:choices_at].strip()
            if text:
                rows.append(
                    {
                        "question": text,
                        "subject": subject,
                        "choices": choices,
                        "answer": "ABCD".index(answers[0]),
                    }
                )
    return rows


def build_mmlu(seed: int, dev_subjects: int = MMLU_DEV_SUBJECTS) -> tuple[list[dict], list[dict]]:
    """Real MMLU dev questions, in `hails/mmlu_no_train` columns, split into dev and test.

    Parsed at run time from lm-eval's `mmlu/flan_cot_fewshot/_cot_prompts.json`
    (MMLU's own dev questions, with answers). `dev` holds the first question of
    `dev_subjects` subjects drawn with the seed (the few-shot examples); `test` the
    rest, in file order. Columns: `question`, `subject`, `choices` (4 str), `answer` (0-3).
    """
    _check_count("dev_subjects", dev_subjects, 1)
    with open(_lm_eval_file(MMLU_COT_PROMPTS), encoding="utf-8") as handle:
        rows = parse_flan_cot_prompts(json.load(handle))
    subjects = sorted({row["subject"] for row in rows})
    if dev_subjects > len(subjects):
        raise ValueError(f"dev_subjects={dev_subjects}, but only {len(subjects)} subjects were parsed")
    chosen = set(random.Random(seed).sample(subjects, dev_subjects))
    dev, test = [], []
    for row in rows:
        if row["subject"] in chosen:
            chosen.discard(row["subject"])  # the first question of a chosen subject only
            dev.append(row)
        else:
            test.append(row)
    return dev, test


# ---------------------------------------------------------------------------------
# Commonsense stand-in: hand-written multiple-choice items
# ---------------------------------------------------------------------------------


def build_commonsense() -> dict[str, list[dict]]:
    """Hand-written items standing in for the LLaMA 0-shot commonsense suite.

    Subtasks: `physical` (PIQA-like, 2 choices), `science` (ARC-like, 4 choices),
    `everyday` (HellaSwag-like continuations, 4 choices). Rows: `question`, `choices`,
    `answer` (index). Item i of a subtask has its correct answer at position
    i mod n_choices, so positions are balanced and a position bias scores at chance.
    """
    subtasks = {}
    for subtask, items in _read_yaml("commonsense.yaml").items():
        rows = []
        for index, item in enumerate(items):
            choices = list(item["wrong"])
            answer = index % (len(choices) + 1)
            choices.insert(answer, item["correct"])
            rows.append({"question": item["question"], "choices": choices, "answer": answer})
        subtasks[subtask] = rows
    return subtasks


# ---------------------------------------------------------------------------------
# Writing everything in the real data sets' file formats
# ---------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> Path:
    """Write via a temporary file in the same folder, then rename: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "x", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _csv(rows: list[dict], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def build_all(out_dir: str | os.PathLike, params: dict | None = None) -> dict[str, Path]:
    """Build every stand-in and write it to `out_dir` in the real data set's format.

    Files: toxigen_train.jsonl, safenlp_toxigen.json (a JSON list, like SafeNLP's
    file), wikitext_train.jsonl, web_corpus.jsonl (build_web_corpus), jigsaw/{train,test,test_labels}.csv (Kaggle layout),
    mmlu/{dev,test}.jsonl, commonsense/{physical,science,everyday}.jsonl.
    `params` keys and defaults: DEFAULT_PARAMS. Returns the paths by name (plus
    "jigsaw": the folder `loaders.load_jigsaw` reads).
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown stand-in parameter(s) {unknown}; known: {sorted(DEFAULT_PARAMS)}")
    p = {**DEFAULT_PARAMS, **params}
    out = Path(out_dir)
    seed = p["seed"]
    paths = {}

    toxicity = build_toxicity_train(
        p["toxicity_rows"], p["toxic_share"], seed, p["toxic_group_spread"], p["toxic_opening_spread"]
    )
    paths["toxigen_train"] = _write_atomic(out / "toxigen_train.jsonl", _jsonl(toxicity))
    prompts = build_toxicity_prompts(p["prompts"], seed)
    paths["safenlp_toxigen"] = _write_atomic(
        out / "safenlp_toxigen.json", json.dumps(prompts, indent=2, ensure_ascii=False) + "\n"
    )
    general = build_general_text(p["general_paragraphs"], seed)
    paths["wikitext_train"] = _write_atomic(out / "wikitext_train.jsonl", _jsonl(general))
    web = build_web_corpus(
        p["web_rows"], p["web_targeted_share"], seed, p["web_targeted_hostility"], p["web_other_hostility"]
    )
    paths["web_corpus"] = _write_atomic(out / "web_corpus.jsonl", _jsonl(web))

    train, test = build_jigsaw(
        p["jigsaw_train"], p["jigsaw_test"], p["jigsaw_toxic_share"], seed, p["label_noise"]
    )
    columns = ["id", "comment_text", *JIGSAW_LABELS]
    paths["jigsaw_train"] = _write_atomic(out / "jigsaw" / "train.csv", _csv(train, columns))
    paths["jigsaw_test"] = _write_atomic(out / "jigsaw" / "test.csv", _csv(test, ["id", "comment_text"]))
    paths["jigsaw_test_labels"] = _write_atomic(
        out / "jigsaw" / "test_labels.csv", _csv(test, ["id", *JIGSAW_LABELS])
    )
    paths["jigsaw"] = out / "jigsaw"

    dev, mmlu_test = build_mmlu(seed)
    paths["mmlu_dev"] = _write_atomic(out / "mmlu" / "dev.jsonl", _jsonl(dev))
    paths["mmlu_test"] = _write_atomic(out / "mmlu" / "test.jsonl", _jsonl(mmlu_test))
    for subtask, rows in build_commonsense().items():
        paths[f"commonsense_{subtask}"] = _write_atomic(
            out / "commonsense" / f"{subtask}.jsonl", _jsonl(rows)
        )
    return paths
