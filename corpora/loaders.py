"""Loaders shared by the embedded stand-ins and the paper's real data sets.

A loader takes a `source`, either a local file, ``{"path": "data/x.jsonl"}``, or a
Hugging Face hub data set, ``{"hub_id": ..., "config": ..., "split": ...,
"revision": ..., "cache_dir": ...}``, reads it with `datasets.load_dataset` (the
json / csv / parquet / text builders for local files) and returns canonical records:

    kind              raw data set                          record
    toxigen           ToxiGen train (`skg/toxigen-data`)    {text, domain, source, label}
    wikitext          WikiText-103 raw                      {text, domain, source}
    safenlp_toxigen   SafeNLP data/toxiGen.json             {id, prompt, target_group}
    jigsaw            Kaggle Jigsaw folder                  {"train"|"test": [{id, text, label}]}

Bad input raises `DataError`, naming the file, the row and what to do. `datasets` is
imported lazily: the workflow imports this module while parsing.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import random
from pathlib import Path
from typing import Iterator

from modeling.hub import PREFETCH_COMMAND


class DataError(ValueError):
    """Input data is missing or malformed; the message says where and what to do."""


SOURCE_KEYS = ("path", "hub_id", "config", "split", "revision", "cache_dir")
BUILDERS = {  # local file suffix -> datasets builder
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
    ".raw": "text",  # WikiText's own download: wiki.train.raw
    ".tokens": "text",
}
WHERE_TO_GET = {
    "toxigen": "the real data is `skg/toxigen-data` (config `train`) on the Hugging Face hub",
    "wikitext": "the real data is `Salesforce/wikitext` (config `wikitext-103-raw-v1`) on the Hugging Face hub",
    "safenlp_toxigen": "the real file is `data/toxiGen.json` of the microsoft/SafeNLP repository on GitHub",
    "jigsaw": "the real data is on Kaggle: `kaggle competitions download -c "
    "jigsaw-toxic-comment-classification-challenge` (unzip train.csv, test.csv, test_labels.csv)",
}
JIGSAW_FILES = ("train.csv", "test.csv", "test_labels.csv")
# Not a hub data set: a file of the microsoft/SafeNLP repository (the download_safenlp_prompts rule, scripts/prefetch.py).
SAFENLP_TOXIGEN_URL = "https://raw.githubusercontent.com/microsoft/SafeNLP/main/data/toxiGen.json"


# ---------------------------------------------------------------------------------
# Reading rows, locally or from the hub
# ---------------------------------------------------------------------------------


def _check_source(source, kind: str) -> dict:
    if not isinstance(source, dict):
        raise DataError(f"{kind}: a source is a dict with `path` or `hub_id`, got {source!r}")
    unknown = sorted(set(source) - set(SOURCE_KEYS))
    if unknown:
        raise DataError(f"{kind}: unknown source key(s) {unknown}; known: {list(SOURCE_KEYS)}")
    if ("path" in source) == ("hub_id" in source):
        raise DataError(f"{kind}: a source needs exactly one of `path` or `hub_id`, got {source!r}")
    hub_only = sorted(set(source) & {"config", "split", "revision", "cache_dir"})
    if "path" in source and hub_only:
        raise DataError(f"{kind}: source keys {hub_only} apply to `hub_id` sources only")
    return source


def _missing_file(path, kind: str) -> DataError:
    return DataError(
        f"{kind}: file {path} does not exist. The embedded stand-ins are built by the "
        f"workflow (run `snakemake`); {WHERE_TO_GET[kind]}"
    )


def _local_files(path, kind: str) -> tuple[list[str], str]:
    """The files a local `path` (a file or a glob pattern) names, and their builder."""
    path = os.fspath(path)
    files = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
    if not files or not Path(files[0]).exists():
        raise _missing_file(path, kind)
    if Path(files[0]).is_dir():
        raise DataError(
            f"{kind}: {path} is a folder; give the data file (a glob such as {path}/*.parquet works)"
        )
    suffixes = {Path(file).suffix.lower() for file in files}
    if len(suffixes) != 1 or next(iter(suffixes)) not in BUILDERS:
        raise DataError(
            f"{kind}: cannot read {path}: file types {sorted(suffixes)}; supported: {sorted(BUILDERS)}"
        )
    if all(os.path.getsize(file) == 0 for file in files):
        raise DataError(f"{kind}: {path} is empty")
    return files, BUILDERS[suffixes.pop()]


class _RowAt:
    """Where a row is: "FILE: row N". Named only when an error needs it, because a
    JSON-lines line number (blank lines are skipped as rows) costs a file scan."""

    def __init__(self, where: str, files: list[str], number: int):
        self.where, self.files, self.number = where, files, number

    def __str__(self) -> str:
        if len(self.files) == 1 and self.files[0].endswith(".jsonl"):
            with open(self.files[0], encoding="utf-8", errors="replace") as handle:
                non_blank = (i for i, line in enumerate(handle, 1) if line.strip())
                line = next(itertools.islice(non_blank, self.number - 1, None), None)
            if line is not None:
                return f"{self.where}: row {self.number} (line {line})"
        return f"{self.where}: row {self.number}"


def _json_error(file: str) -> str | None:
    """Where a JSON or JSON-lines file stops being valid JSON, or None."""
    with open(file, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    if file.endswith(".json"):
        try:
            json.loads(text)
            return None
        except json.JSONDecodeError as error:
            if error.msg != "Extra data":  # else: JSON lines in a .json file, check by line
                return f"line {error.lineno} is not valid JSON ({error.msg})"
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                json.loads(line)
            except json.JSONDecodeError as error:
                return f"line {number} is not valid JSON ({error.msg})"
    return None


def _read_error(files: list[str], builder: str, kind: str, error: Exception) -> DataError:
    if builder == "json":
        for file in files:
            where = _json_error(file)
            if where:
                return DataError(f"{kind}: {file}: {where}")
    return DataError(f"{kind}: cannot read {', '.join(files)} with the {builder} reader: {error}")


def _is_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
        for name in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
    )


def _hub_error(source: dict, kind: str, error: Exception) -> DataError:
    hub_id, config, split = source["hub_id"], source.get("config"), source.get("split", "train")
    arguments = ", ".join(repr(a) for a in (hub_id, config) if a) + f", split={split!r}"
    cause = (
        f"HF_DATASETS_OFFLINE/HF_HUB_OFFLINE is set and its prepared copy is not in the local cache "
        f"({type(error).__name__})"
        if _is_offline()
        else f"{type(error).__name__}: {error}"
    )
    # Offline, datasets reads only the prepared Arrow cache ($HF_HOME/datasets/) that an online
    # load_dataset leaves, never a hub snapshot: `hf download --repo-type dataset` would not help.
    return DataError(
        f"{kind}: cannot load {hub_id!r} (config {config!r}, split {split!r}) from the Hugging Face hub: "
        f"{cause}. Fetch it once, on a machine with a network and the same HF_HOME: `{PREFETCH_COMMAND}` "
        f'(scripts/prefetch.py), or the exact call `python -c "import datasets; datasets.load_dataset({arguments})"`; '
        f"or point the source's `path` at a local copy"
    )


def _iter_rows(source: dict, kind: str, required: tuple[str, ...]) -> Iterator[tuple[_RowAt, dict]]:
    """Yield (where, row) pairs after checking that the `required` columns exist."""
    import datasets

    source = _check_source(source, kind)
    if "path" in source:
        files, builder = _local_files(source["path"], kind)
        where = files[0] if len(files) == 1 else source["path"]
        options = {"converters": {"id": str}} if builder == "csv" else {}  # keep "0001ab" ids as text
        try:
            dataset = datasets.load_dataset(
                builder, data_files=files, split="train", streaming=True, **options
            )
        except Exception as error:
            raise _read_error(files, builder, kind, error) from error
    else:
        files, builder, where = [], "hub", source["hub_id"]
        try:
            dataset = datasets.load_dataset(
                source["hub_id"],
                source.get("config"),
                split=source.get("split", "train"),
                revision=source.get("revision"),
                cache_dir=source.get("cache_dir"),
            )
        except Exception as error:
            raise _hub_error(source, kind, error) from error

    rows = iter(dataset)
    number = 0
    while True:
        try:
            row = next(rows)
        except StopIteration:
            break
        except Exception as error:  # a corrupt file shows up while streaming
            raise _read_error(files, builder, kind, error) from error
        number += 1
        if number == 1:
            missing = [column for column in required if column not in row]
            if missing:
                raise DataError(
                    f"{kind}: {where} has no column {missing[0]!r} (columns present: {', '.join(row)})"
                )
        yield _RowAt(where, files, number), row
    if number == 0:
        raise DataError(f"{kind}: {where} has no rows")


def _text(row: dict, column: str, at: _RowAt) -> str:
    value = row[column]
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{at}: column {column!r} is empty or not a string: {value!r}")
    return value.strip()


def _integer(row: dict, column: str, allowed: tuple[int, ...], at: _RowAt) -> int:
    value = row[column]
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == int(value)
        and int(value) in allowed
    ):
        return int(value)
    raise DataError(f"{at}: column {column!r} must be one of {list(allowed)}, got {value!r}")


def _check_limit(limit) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise DataError(f"limit must be None or an integer >= 0, got {limit!r}")


# ---------------------------------------------------------------------------------
# The loaders
# ---------------------------------------------------------------------------------


def load_toxigen_train(source: dict, limit: int | None = None) -> list[dict]:
    """ToxiGen training statements: text = `generation`, label = `prompt_label` (1 = hateful prompt)."""
    _check_limit(limit)
    records = []
    for at, row in _iter_rows(source, "toxigen", ("generation", "prompt_label")):
        if len(records) == limit:
            break
        records.append(
            {
                "text": _text(row, "generation", at),
                "domain": "toxicity",
                "source": "toxigen",
                "label": _integer(row, "prompt_label", (0, 1), at),
            }
        )
    return records


def _is_heading(line: str) -> bool:
    """WikiText headings: "= Title =", "= = Section = =", ... (after strip)."""
    return line.startswith("= ") and line.endswith(" =")


def load_wikitext(source: dict, limit: int | None = None, min_chars: int = 80) -> list[dict]:
    """WikiText paragraphs: blank lines and " = heading = " lines dropped, text stripped,
    lines shorter than `min_chars` dropped (list fragments, captions)."""
    _check_limit(limit)
    records = []
    for at, row in _iter_rows(source, "wikitext", ("text",)):
        if len(records) == limit:
            break
        value = row["text"]
        if not isinstance(value, str):
            raise DataError(f"{at}: column 'text' is not a string: {value!r}")
        text = value.strip()
        if len(text) < min_chars or _is_heading(text):
            continue
        records.append({"text": text, "domain": "general", "source": "wikitext"})
    return records


def load_toxicity_prompts(source: dict, limit: int | None = None) -> list[dict]:
    """Evaluation prompts from SafeNLP's toxiGen.json (a JSON list of
    {id, text, toxicity_score, label, target_groups}).

    `target_group` is the first listed group: SafeNLP lists one or more
    (["asian", "chinese"]), per-group breakdowns use the primary one.
    """
    _check_limit(limit)
    records = []
    for at, row in _iter_rows(source, "safenlp_toxigen", ("id", "text", "target_groups")):
        if len(records) == limit:
            break
        groups = row["target_groups"]
        groups = [groups] if isinstance(groups, str) else groups
        if not groups or not all(isinstance(group, str) and group.strip() for group in groups):
            raise DataError(
                f"{at}: column 'target_groups' must list group names, got {row['target_groups']!r}"
            )
        identifier = row["id"]
        if isinstance(identifier, bool) or not isinstance(identifier, int):
            raise DataError(f"{at}: column 'id' must be an integer, got {identifier!r}")
        records.append(
            {"id": identifier, "prompt": _text(row, "text", at), "target_group": groups[0].strip()}
        )
    return records


def load_jigsaw(source: dict, limit: int | None = None) -> dict[str, list[dict]]:
    """Jigsaw comments from the Kaggle folder (train.csv, test.csv, test_labels.csv).

    Records are {id, text, label} with label = `toxic`; test rows that Kaggle left
    unscored (label -1) are dropped. `limit` caps each split (first N records).
    """
    _check_limit(limit)
    source = _check_source(source, "jigsaw")
    if "hub_id" in source:
        raise DataError(
            "jigsaw: read from the Kaggle download folder, {'path': FOLDER}; " + WHERE_TO_GET["jigsaw"]
        )
    folder = Path(source["path"])
    if not folder.is_dir():
        raise DataError(
            f"jigsaw: {folder} is not a folder holding {', '.join(JIGSAW_FILES)}. The embedded stand-in is "
            f"built by the workflow (run `snakemake`); {WHERE_TO_GET['jigsaw']}"
        )
    for name in JIGSAW_FILES:
        if not (folder / name).is_file():
            raise _missing_file(folder / name, "jigsaw")

    train = []
    for at, row in _iter_rows({"path": folder / "train.csv"}, "jigsaw", ("id", "comment_text", "toxic")):
        if len(train) == limit:
            break
        train.append(
            {
                "id": str(row["id"]),
                "text": _text(row, "comment_text", at),
                "label": _integer(row, "toxic", (0, 1), at),
            }
        )
    labels = {
        str(row["id"]): _integer(row, "toxic", (-1, 0, 1), at)
        for at, row in _iter_rows({"path": folder / "test_labels.csv"}, "jigsaw", ("id", "toxic"))
    }
    test = []
    for at, row in _iter_rows({"path": folder / "test.csv"}, "jigsaw", ("id", "comment_text")):
        if len(test) == limit:
            break
        identifier = str(row["id"])
        if identifier not in labels:
            raise DataError(f"{at}: test id {identifier!r} has no row in {folder / 'test_labels.csv'}")
        if labels[identifier] != -1:  # -1: not scored by Kaggle, not part of the test set
            test.append(
                {"id": identifier, "text": _text(row, "comment_text", at), "label": labels[identifier]}
            )
    return {"train": train, "test": test}


def mix_domains(
    toxicity_rows: list[dict], general_rows: list[dict], n_per_domain: int, seed: int
) -> list[dict]:
    """`n_per_domain` records from each domain, shuffled together with the seed.

    The paper fine-tunes on ToxiGen and WikiText "mixed in equal proportions".
    """
    if isinstance(n_per_domain, bool) or not isinstance(n_per_domain, int) or n_per_domain < 0:
        raise DataError(f"n_per_domain must be an integer >= 0, got {n_per_domain!r}")
    rng = random.Random(seed)
    mixed = []
    for name, rows in (("toxicity", toxicity_rows), ("general", general_rows)):
        if len(rows) < n_per_domain:
            raise DataError(
                f"mix_domains: {len(rows)} {name} records, fewer than n_per_domain={n_per_domain}"
            )
        mixed += rng.sample(list(rows), n_per_domain)
    rng.shuffle(mixed)
    return mixed


LOADERS = {
    "toxigen": load_toxigen_train,
    "wikitext": load_wikitext,
    "safenlp_toxigen": load_toxicity_prompts,
    "jigsaw": load_jigsaw,
}


def load(kind: str, source: dict, **kwargs):
    """Load data of a registered `kind` (see LOADERS) from `source`."""
    if kind not in LOADERS:
        raise DataError(f"unknown data kind {kind!r}; known kinds: {', '.join(sorted(LOADERS))}")
    return LOADERS[kind](source, **kwargs)
