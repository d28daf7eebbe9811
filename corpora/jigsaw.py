"""The Jigsaw variant's data: labelled comments -> training rows and a held-out test set.

The paper (METHOD.md section 5, "Jigsaw variant") fine-tunes on Jigsaw toxic-comment
classification two ways: "LLM loss" = the LM loss on comment-plus-label text, and
"classification" = a sequence-classification head. One row serves both:

    {"id", "comment", "label", "text": prompt_template.format(text=comment) + label_word, "domain": "toxicity"}

``sft``/``regularized`` train on ``text`` (unchanged methods); ``sft_cls`` builds its
examples from ``comment`` and ``label`` (``methods/sft_cls.py``). Test rows are
``{"id", "comment", "label"}``.

Long comments: the shared loop cuts a text to ``max_length`` tokens, BOS included where
the tokenizer adds one (``methods._trainer.encode_rows``), which would cut the label word
off a long comment. ``fit_comment`` shortens the comment instead, at a token boundary,
so the whole LM-loss text and its EOS fit; training and ROC AUC scoring use the same cut.
No torch import here.
"""
from __future__ import annotations

import random
import zipfile
from pathlib import Path

from corpora.loaders import JIGSAW_FILES, DataError
from corpora.overlap import drop_overlap

SPLIT_SEED = 0  # ours: the shuffle before taking n_train / n_test (data are the same for every run seed)


def lm_prompt(template: str, comment: str) -> str:
    """The LM-loss prompt of a comment (the label word follows it)."""
    try:
        return template.format(text=comment)
    except (KeyError, IndexError) as err:
        raise ValueError(
            f"jigsaw.prompt_template must contain {{text}} and no other {{field}}, got {template!r}"
        ) from err


def lm_text(template: str, comment: str, label: int, label_words) -> str:
    """``prompt_template.format(text=comment) + label_words[label]``."""
    return lm_prompt(template, comment) + label_words[label]


def _check_label_words(label_words) -> None:
    if len(label_words) != 2 or not all(isinstance(word, str) and word for word in label_words):
        raise ValueError(f"jigsaw.label_words must be two non-empty strings (label 0, label 1), got {label_words!r}")
    if label_words[0] == label_words[1]:
        raise ValueError(f"jigsaw.label_words must differ, got {label_words!r}")


def _take(rows: list[dict], n: int | None, rng: random.Random) -> list[dict]:
    rows = list(rows)
    rng.shuffle(rows)
    return rows if n is None else rows[:n]


def check_both_classes(labels, what: str) -> None:
    """A split with one class only cannot train a classifier or give a ROC AUC."""
    present = sorted(set(int(label) for label in labels))
    if present != [0, 1]:
        only = f"only label {present[0]}" if present else "no rows"
        raise DataError(
            f"{what}: {len(labels)} comments with {only}; ROC AUC is undefined without both classes. "
            f"Use more comments (jigsaw.n_train / jigsaw.n_test, or jigsaw.data.limit) or a split with both labels"
        )


def build_splits(
    splits: dict[str, list[dict]], *, n_train: int | None, n_test: int | None, template: str, label_words,
    seed: int = SPLIT_SEED,
) -> tuple[list[dict], list[dict], dict]:
    """Training and test rows from ``corpora.loaders.load_jigsaw``'s output, and their counts.

    Each split is shuffled with ``seed`` and cut to its first ``n_train`` / ``n_test``
    comments (None = all). Training comments that repeat a test comment (any of the
    split, not only those drawn: ``corpora.overlap``) are removed before the cut, so
    ``n_train`` still holds. Both splits must hold both labels. The counts:
    ``{"train": {"read", "removed_evaluation_duplicates", "drawn"}, "test": {"read", "drawn"}}``.
    """
    _check_label_words(label_words)
    lm_prompt(template, "")  # a bad template fails here, before any job trains
    for name in ("train", "test"):
        if name not in splits:
            raise DataError(f"jigsaw: no {name!r} split (got {sorted(splits)})")
        for number, row in enumerate(splits[name], 1):
            missing = [key for key in ("id", "text", "label") if key not in row]
            if missing:
                raise DataError(f"jigsaw {name} row {number}: no {missing[0]!r} column (needs id, text, label)")
            if row["label"] not in (0, 1):
                raise DataError(f"jigsaw {name} row {number}: label must be 0 or 1, got {row['label']!r}")
    rng = random.Random(seed)
    shuffled_train = _take(splits["train"], None, rng)  # shuffled first, as before the removal (same draws)
    test = [{"id": row["id"], "comment": row["text"], "label": row["label"]} for row in _take(splits["test"], n_test, rng)]
    candidates, removed = drop_overlap(shuffled_train, [row["text"] for row in splits["test"]])
    train = [
        {"id": row["id"], "comment": row["text"], "label": row["label"],
         "text": lm_text(template, row["text"], row["label"], label_words), "domain": "toxicity"}
        for row in (candidates if n_train is None else candidates[:n_train])
    ]
    check_both_classes([row["label"] for row in train], "jigsaw training split")
    check_both_classes([row["label"] for row in test], "jigsaw test split")
    stats = {"train": {"read": len(splits["train"]), "removed_evaluation_duplicates": removed, "drawn": len(train)},
             "test": {"read": len(splits["test"]), "drawn": len(test)}}
    return train, test, stats


def _length(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_comment(tokenizer, comment: str, template: str, label_words, max_length: int) -> str:
    """``comment``, cut at a token boundary so that every LM-loss text
    ``template(comment) + label_word``, with the tokens the tokenizer puts before a text
    (Llama's BOS) and the EOS the shared loop appends, fits in ``max_length`` tokens.
    Unchanged when it already fits."""
    from modeling.load import special_token_ids

    limit = max_length - 1 - len(special_token_ids(tokenizer)[0])

    def longest(text: str) -> int:
        return max(_length(tokenizer, lm_prompt(template, text) + word) for word in label_words)

    overflow = longest(comment) - limit
    if overflow <= 0:
        return comment
    ids = tokenizer(comment, add_special_tokens=False)["input_ids"]
    budget = len(ids) - overflow
    while budget > 0:  # decoding and re-encoding may merge tokens differently: check, shrink, retry
        cut = tokenizer.decode(ids[:budget], skip_special_tokens=True)
        overflow = longest(cut) - limit
        if overflow <= 0:
            return cut
        budget -= overflow
    raise ValueError(
        f"training max_length {max_length} leaves no room for a comment in the template "
        f"{template!r} plus a label word: raise jigsaw.training.max_length"
    )


def fit_lm_rows(rows: list[dict], tokenizer, template: str, label_words, max_length: int) -> list[dict]:
    """Training rows whose LM-loss ``text`` is rebuilt from the fitted comment (see
    ``fit_comment``), so the label word is never truncated away."""
    fitted = []
    for row in rows:
        comment = fit_comment(tokenizer, row["comment"], template, label_words, max_length)
        fitted.append({**row, "text": lm_text(template, comment, row["label"], label_words)})
    return fitted


KAGGLE_COMPETITION = "jigsaw-toxic-comment-classification-challenge"


def extract_kaggle_archive(archive, out_dir) -> list[Path]:
    """``train.csv``, ``test.csv`` and ``test_labels.csv`` from the competition's zip
    (which holds each as ``NAME.zip``; a plain ``NAME`` member works too) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with zipfile.ZipFile(archive) as outer:
        members = {Path(name).name: name for name in outer.namelist()}
        for name in JIGSAW_FILES:
            tmp = out_dir / (name + ".tmp")
            if name in members:
                tmp.write_bytes(outer.read(members[name]))
            elif name + ".zip" in members:
                with outer.open(members[name + ".zip"]) as handle, zipfile.ZipFile(handle) as inner:
                    inner_names = [n for n in inner.namelist() if Path(n).name == name]
                    if not inner_names:
                        raise DataError(f"{archive}: {name}.zip does not contain {name}")
                    tmp.write_bytes(inner.read(inner_names[0]))
            else:
                raise DataError(f"{archive}: no {name} (or {name}.zip) in the archive; members: {sorted(members)}")
            tmp.replace(out_dir / name)
            written.append(out_dir / name)
    return written


def download_kaggle_jigsaw(out_dir) -> list[Path]:
    """The competition's files into ``out_dir`` with the ``kaggle`` CLI (it needs a Kaggle
    account that accepted the competition's rules); a ``RuntimeError`` that says how to do it
    by hand when the CLI is missing or the download fails."""
    import shutil
    import subprocess
    import tempfile

    out_dir = Path(out_dir)
    instructions = (
        f"Download the Kaggle competition data (it needs a Kaggle account that accepted the competition's rules): "
        f"`kaggle competitions download -c {KAGGLE_COMPETITION}`, then unzip train.csv, test.csv and "
        f"test_labels.csv into {out_dir}/ and rerun."
    )
    if shutil.which("kaggle") is None:
        raise RuntimeError(f"the `kaggle` command is not installed (pip install kaggle). {instructions}")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["kaggle", "competitions", "download", "-c", KAGGLE_COMPETITION, "-p", tmp])
        archives = sorted(Path(tmp).glob("*.zip"))
        if done.returncode != 0 or not archives:
            raise RuntimeError(f"`kaggle competitions download` failed (exit {done.returncode}). {instructions}")
        return extract_kaggle_archive(archives[0], out_dir)
