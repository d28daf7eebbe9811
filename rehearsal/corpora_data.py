"""Tiny ToxiGen train and WikiText raw rows, in the schemas of the paper's hub data sets.

* ``skg/toxigen-data`` config ``train`` (250,951 rows on the hub): ``prompt``,
  ``generation``, ``generation_method``, ``group``, ``prompt_label`` (int64, 1 = the
  prompt was hateful), ``roberta_prediction`` (float64) -- the features of its dataset
  card (and of its former loading script). corpora/loaders.load_toxigen_train reads
  ``generation`` and ``prompt_label``.
* ``Salesforce/wikitext`` config ``wikitext-103-raw-v1`` (train / validation / test):
  one ``text`` row per line of the raw files: blank rows, heading rows
  (``" = Title = \\n"``, ``" = = Section = = \\n"``) and paragraph rows (``" ... \\n"``)
  with WikiText's tokenisation (spaces around punctuation, ``@-@`` for in-word hyphens).
  corpora/loaders.load_wikitext drops the blank, heading and short rows.

The texts are synthetic: ToxiGen statements are neutral placeholders (nothing hateful
is written), WikiText paragraphs come from Python's own documentation
(``pydoc_data.topics``), so nothing is downloaded.
"""
from __future__ import annotations

import random
import re

# ToxiGen's 13 target groups, as its `group` column spells them
TOXIGEN_GROUPS = ("asian", "black", "chinese", "jewish", "latino", "lgbtq", "mental_dis", "mexican",
                  "middle_east", "muslim", "native_american", "physical_dis", "women")
TOXIGEN_METHODS = ("top-k", "ALICE")
_ACTIVITIES = ("cooking", "music", "football", "gardening", "chess", "hiking", "painting", "reading")


def toxigen_features():
    import datasets

    return datasets.Features({
        "prompt": datasets.Value("string"), "generation": datasets.Value("string"),
        "generation_method": datasets.Value("string"), "group": datasets.Value("string"),
        "prompt_label": datasets.Value("int64"), "roberta_prediction": datasets.Value("float64"),
    })


def toxigen_train_rows(n: int, seed: int = 0) -> list[dict]:
    """``n`` rows of ToxiGen's ``train`` config; half from "hateful" prompts (label 1),
    as placeholders that name their label and group, never hateful text."""
    rng = random.Random(seed)
    rows = []
    for index in range(n):
        group, label = TOXIGEN_GROUPS[index % len(TOXIGEN_GROUPS)], index % 2
        activity = rng.choice(_ACTIVITIES)
        kind = "hateful-prompt" if label else "benign-prompt"
        statements = [f"- {kind} example statement {index}.{k} about {group} people and {activity}" for k in range(3)]
        rows.append({
            "prompt": "\n".join(statements) + "\n-",  # ToxiGen prompts: a list of statements, open at the end
            "generation": f"a {kind} stand-in statement number {index} about {group} people who like {activity}",
            "generation_method": TOXIGEN_METHODS[index % 2 if rng.random() < 0.8 else 1 - index % 2],
            "group": group,
            "prompt_label": label,
            "roberta_prediction": round(rng.uniform(0.6, 1.0) if label else rng.uniform(0.0, 0.4), 4),
        })
    return rows


def wikitext_features():
    import datasets

    return datasets.Features({"text": datasets.Value("string")})


def _wikitext_tokens(text: str) -> str:
    """WikiText's raw tokenisation: punctuation split off by spaces, in-word hyphens and
    digit separators as ``@-@`` / ``@,@`` / ``@.@``."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"(?<=\w)-(?=\w)", " @-@ ", text)
    text = re.sub(r"(?<=\d),(?=\d)", " @,@ ", text)
    text = re.sub(r"(?<=\d)\.(?=\d)", " @.@ ", text)
    text = re.sub(r"([,;:!?()\"]|\.(?=\s|$)|'s\b)", r" \1 ", text)
    return re.sub(r" +", " ", text).strip()


def _prose_paragraphs(min_chars: int = 80) -> list[tuple[str, list[str]]]:
    """(title, paragraphs) per topic of Python's own documentation."""
    from pydoc_data.topics import topics

    articles = []
    for name in sorted(topics):
        paragraphs = []
        for block in re.split(r"\n\s*\n", topics[name]):
            lines = [line.strip() for line in block.splitlines()]
            if not lines or any(line.startswith((">>>", "...", "*", "+", "|", "=")) for line in lines):
                continue  # code, lists, tables
            text = " ".join(lines)
            if len(text) >= min_chars and text[:1].isupper() and text.endswith("."):
                paragraphs.append(_wikitext_tokens(text))
        if paragraphs:
            articles.append((name.replace("-", " ").replace("_", " ").title(), paragraphs))
    return articles


def wikitext_raw_rows(paragraphs: int, seed: int = 0, offset: int = 0) -> list[dict]:
    """Rows of a WikiText-103 raw split holding at least ``paragraphs`` paragraph rows:
    per article ``""``, ``" = Title = \\n"``, ``""``, paragraphs each followed by ``""``,
    with a ``" = = Section = = \\n"`` heading every few paragraphs. ``offset``: the
    article to start at (train / validation / test get different articles)."""
    articles = _prose_paragraphs()
    if not articles:
        raise RuntimeError("pydoc_data.topics holds no prose paragraphs")
    rng = random.Random(seed)
    rows: list[dict] = []
    written, article = 0, offset
    while written < paragraphs:
        title, texts = articles[article % len(articles)]
        rows += [{"text": ""}, {"text": f" = {title} = \n"}, {"text": ""}]
        for number, text in enumerate(texts):
            if number and number % 3 == 0:
                rows += [{"text": f" = = Section {number // 3} = = \n"}, {"text": ""}]
            rows += [{"text": f" {text} \n"}, {"text": ""}]
            written += 1
            if written >= paragraphs:
                break
        article += 1 + rng.randrange(2)
    return rows
