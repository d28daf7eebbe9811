"""Tiny hub data sets for the paper's lm-eval tasks, found from lm-eval's own task YAMLs.

The paper config runs lm-eval 0.4.13's built-in ``mmlu`` (5-shot), the LLaMA
commonsense set (0-shot) and ``wikitext`` (perplexity) (evaluation/benchmarks.py); the
tasks the workflow writes itself (``embedded_*``, ``heldout_*``: local JSON files) need no
hub data and are left out here. lm-eval reads each task's data
with ``datasets.load_dataset(dataset_path, dataset_name)`` (``ConfigurableTask.download``)
and keeps its own prompts, ``process_docs`` and metrics. The rehearsal replaces only
the data: which repositories, configs and splits to write is read from the tasks'
YAMLs (``task_configs``); what a row holds comes from ``SCHEMAS``, one entry per hub
data set: its real features (from its dataset card), its real splits, and a row maker
writing simple generated English in that schema. A task whose data set has no entry,
or whose YAML names a split the entry lacks, fails with the name to add.

``paper_task_manager`` is the TaskManager the benchmark jobs use for these tasks: it
indexes only their folders (lm-eval's own YAMLs) instead of all ~15 k built-in ones.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Callable, Sequence

from evaluation.benchmarks import (  # noqa: F401
    PAPER_COMMONSENSE_TASKS,
    PAPER_MMLU_TASKS,
    PAPER_PERPLEXITY_TASKS,
    PAPER_TASK_FOLDERS,
    is_workflow_task,
    task_folders,
)

PAPER_TASKS = PAPER_MMLU_TASKS + PAPER_COMMONSENSE_TASKS

SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")


def paper_task_manager(tasks: Sequence[str] = PAPER_TASKS):
    """The TaskManager the benchmark jobs use for ``tasks`` (evaluation.benchmarks.get_task_manager:
    lm-eval's own YAMLs of the paper tasks' folders only); workflow-written tasks are left out."""
    from evaluation.benchmarks import get_task_manager

    return get_task_manager([task for task in tasks if not is_workflow_task(task)])


def leaf_tasks(manager, name: str) -> list[str]:
    """The tasks a task, group or tag name stands for, in lm-eval's index."""
    entry = manager.task_index[name]
    kind = entry.kind.name
    if kind == "GROUP":
        members = [m if isinstance(m, str) else m["task"] for m in entry.cfg["task"]]
        return [leaf for member in members for leaf in leaf_tasks(manager, member)]
    if kind == "TAG":
        return [leaf for member in sorted(entry.tags) for leaf in leaf_tasks(manager, member)]
    return [name]


def task_configs(tasks: Sequence[str] = PAPER_TASKS, manager=None) -> dict[str, dict]:
    """``{leaf task: its YAML config}`` (includes merged, ``!function`` left unresolved);
    workflow-written tasks (``embedded_*``, ``heldout_*``) read no hub data and are left out."""
    tasks = [task for task in tasks if not is_workflow_task(task)]
    manager = manager or paper_task_manager(tasks)
    configs = {}
    for name in tasks:
        for leaf in leaf_tasks(manager, name):
            configs[leaf] = manager.task_index[leaf].cfg
    return configs


def required_data(tasks: Sequence[str] = PAPER_TASKS, manager=None) -> dict[tuple, dict]:
    """``{(dataset_path, dataset_name): {"splits": {role: split}, "tasks": [...]}}`` that
    ``tasks`` read, from their YAMLs (role: training / validation / test / fewshot)."""
    needed: dict[tuple, dict] = {}
    for task, config in task_configs(tasks, manager).items():
        if "class" in config or not config.get("dataset_path"):
            raise ValueError(f"lm-eval task {task!r} does not read a plain hub data set")
        unsupported = sorted(set(config.get("dataset_kwargs") or {}) - {"trust_remote_code"})
        if unsupported:  # data_files / data_dir would change what load_dataset reads
            raise ValueError(f"lm-eval task {task!r} passes dataset_kwargs {unsupported}: not rehearsed")
        key = (config["dataset_path"], config.get("dataset_name"))
        entry = needed.setdefault(key, {"splits": {}, "tasks": []})
        entry["tasks"].append(task)
        for role in SPLIT_KEYS:
            if config.get(role):
                entry["splits"][role.removesuffix("_split")] = config[role]
    return needed


# --------------------------------------------------------------------------- schemas
@dataclasses.dataclass(frozen=True)
class Schema:
    """A hub data set's real shape: ``features`` (datasets.Features as a callable, so that
    datasets is imported late), the splits its repository has, and ``make_row(rng, index,
    split, config_name)`` writing one row. ``unlabelled``: splits whose labels the real
    data set hides (e.g. hellaswag test: label ""), written the same way."""

    features: Callable
    splits: tuple[str, ...]
    make_row: Callable
    unlabelled: tuple[str, ...] = ()


_NAMES = ("Ana", "Ben", "Chen", "Dara", "Eli", "Femi", "Gita", "Hugo", "Ines", "Jon")
_THINGS = ("a cup", "a book", "a lamp", "a coat", "a plant", "a spoon", "a chair", "a bag")
_PLACES = ("the kitchen", "the garden", "the library", "the station", "the market", "the park")


def _sum_question(rng: random.Random, n_choices: int) -> tuple[str, list[str], int]:
    """A question with one right answer among ``n_choices``: (question, choices, answer index)."""
    a, b = rng.randint(2, 20), rng.randint(2, 20)
    wrong = rng.sample([v for v in range(a + b - 6, a + b + 7) if v != a + b], n_choices - 1)
    choices = [str(v) for v in wrong]
    answer = rng.randrange(n_choices)
    choices.insert(answer, str(a + b))
    return f"{_NAMES[rng.randrange(len(_NAMES))]} has {a} apples and buys {b} more. How many apples are there now?", choices, answer


def _value(dtype: str):
    import datasets

    return datasets.Value(dtype)


def _mmlu_features():
    import datasets

    return datasets.Features({"question": _value("string"), "subject": _value("string"),
                              "choices": datasets.List(_value("string")),
                              "answer": datasets.ClassLabel(names=["A", "B", "C", "D"])})


def _mmlu_row(rng, index, split, subject):
    question, choices, answer = _sum_question(rng, 4)
    topic = subject.replace("_", " ")
    return {"question": f"({topic}, {split} {index}) {question}", "subject": subject, "choices": choices, "answer": answer}


def _boolq_features():
    import datasets

    return datasets.Features({"question": _value("string"), "passage": _value("string"), "idx": _value("int32"),
                              "label": datasets.ClassLabel(names=["False", "True"])})


def _boolq_row(rng, index, split, _config):
    name, thing, place = rng.choice(_NAMES), rng.choice(_THINGS), rng.choice(_PLACES)
    truth = rng.random() < 0.5
    return {"question": f"is {thing} in {place}" if truth else f"is {thing} on the roof",
            "passage": f"{name} left {thing} in {place} this morning and went to work. Nothing else was moved.",
            "idx": index, "label": -1 if split == "test" else int(truth)}  # SuperGLUE hides test labels (-1)


def _piqa_features():
    import datasets

    return datasets.Features({"goal": _value("string"), "sol1": _value("string"), "sol2": _value("string"),
                              "label": datasets.ClassLabel(names=["0", "1"])})


def _piqa_row(rng, index, split, _config):
    thing = rng.choice(_THINGS)
    good, bad = f"Put {thing} on a shelf.", f"Put {thing} in a glass of water."
    label = rng.randrange(2)
    sols = [good, bad] if label == 0 else [bad, good]
    return {"goal": f"How do you keep {thing} dry? ({split} {index})", "sol1": sols[0], "sol2": sols[1],
            "label": -1 if split == "test" else label}


def _siqa_features():
    import datasets

    return datasets.Features({key: _value("string") for key in
                              ("context", "question", "answerA", "answerB", "answerC", "label")})


def _siqa_row(rng, index, split, _config):
    name, thing = rng.choice(_NAMES), rng.choice(_THINGS)
    answers = ["thankful", "angry", "sleepy"]
    rng.shuffle(answers)
    return {"context": f"{name} gave a friend {thing} as a present ({split} {index}).",
            "question": "How would the friend feel as a result?",
            "answerA": answers[0], "answerB": answers[1], "answerC": answers[2],
            "label": str(answers.index("thankful") + 1)}  # "1".."3", as in Social IQa


def _hellaswag_features():
    import datasets

    return datasets.Features({"ind": _value("int32"), "activity_label": _value("string"), "ctx_a": _value("string"),
                              "ctx_b": _value("string"), "ctx": _value("string"),
                              "endings": datasets.List(_value("string")), "source_id": _value("string"),
                              "split": _value("string"), "split_type": _value("string"), "label": _value("string")})


def _hellaswag_row(rng, index, split, _config):
    name, thing, place = rng.choice(_NAMES), rng.choice(_THINGS), rng.choice(_PLACES)
    ctx_a, ctx_b = f"{name} walks into {place} holding {thing}.", "she"
    endings = [f"puts {thing} down on a table [title] and sits.", "flies over the moon.",
               "turns into a river.", "eats the floor."]
    label = rng.randrange(4)
    endings[0], endings[label] = endings[label], endings[0]
    return {"ind": index, "activity_label": "Arriving somewhere", "ctx_a": ctx_a, "ctx_b": ctx_b,
            "ctx": f"{ctx_a} {ctx_b.capitalize()}", "endings": endings, "source_id": f"rehearsal~{split}_{index}",
            "split": split, "split_type": "indomain", "label": "" if split == "test" else str(label)}


def _winogrande_features():
    import datasets

    return datasets.Features({key: _value("string") for key in ("sentence", "option1", "option2", "answer")})


def _winogrande_row(rng, index, split, _config):
    first, second = rng.sample(_NAMES, 2)
    answer = rng.randrange(2)
    return {"sentence": f"{first} lent {second} a coat because _ was cold ({split} {index}).",
            "option1": first if answer else second, "option2": second if answer else first,
            "answer": "" if split == "test" else str(answer + 1)}  # "1" / "2"; test answers hidden ("")


def _lettered_choice_features(question_column: str):
    """ARC's and OpenBookQA's schema: id, a question, choices {text, label}, answerKey."""
    import datasets

    return datasets.Features({"id": _value("string"), question_column: _value("string"),
                              "choices": {"text": datasets.List(_value("string")),
                                          "label": datasets.List(_value("string"))},
                              "answerKey": _value("string")})


def _arc_features():
    return _lettered_choice_features("question")


def _arc_row(rng, index, split, config):
    question, choices, answer = _sum_question(rng, 4)
    labels = ["A", "B", "C", "D"]
    return {"id": f"Rehearsal_{config}_{split}_{index}", "question": question,
            "choices": {"text": choices, "label": labels}, "answerKey": labels[answer]}


def _openbookqa_features():
    return _lettered_choice_features("question_stem")


def _openbookqa_row(rng, index, split, _config):
    question, choices, answer = _sum_question(rng, 4)
    labels = ["A", "B", "C", "D"]
    return {"id": f"{index}-{split}", "question_stem": question, "choices": {"text": choices, "label": labels},
            "answerKey": labels[answer]}


def _wikitext_document_features():
    import datasets

    return datasets.Features({"page": _value("string")})


def _wikitext_document_row(rng, index, split, _config):
    """One whole article in WikiText's raw form (" = Title = " headings, " @-@ " / " @,@ " number
    joins, spaced punctuation: what lm-eval's wikitext_detokenizer undoes), as lm-eval's
    ``wikitext`` task reads it (the ``page`` column)."""
    name, thing, place = rng.choice(_NAMES), rng.choice(_THINGS), rng.choice(_PLACES)
    year, count = rng.randint(1800, 2000), rng.randint(2, 9)
    return {"page": (f" = {name} ( {split} {index} ) = \n\n"
                     f" {name} was a well @-@ known keeper of {place} , who wrote {count} @,@ 000 letters about "
                     f"{thing} . In {year} , {name} moved to {place} ; the letters were kept there . \n\n"
                     f" = = Later life = = \n\n"
                     f" In {year + 20} the collection , with {thing} , was given to {place} \" in full \" . \n")}


# Features and splits as the data sets' cards on the hub give them (2026): cais/mmlu per
# subject; aps/super_glue boolq; baber/piqa; lighteval/siqa; Rowan/hellaswag;
# allenai/winogrande winogrande_xl; allenai/ai2_arc ARC-Easy / ARC-Challenge;
# allenai/openbookqa main; EleutherAI/wikitext_document_level wikitext-2-raw-v1 (lm-eval's
# wikitext: one row per article, column page).
SCHEMAS: dict[str, Schema] = {
    "cais/mmlu": Schema(_mmlu_features, ("test", "validation", "dev"), _mmlu_row),
    "aps/super_glue": Schema(_boolq_features, ("train", "validation", "test"), _boolq_row, ("test",)),
    "baber/piqa": Schema(_piqa_features, ("train", "validation", "test"), _piqa_row, ("test",)),
    "lighteval/siqa": Schema(_siqa_features, ("train", "validation"), _siqa_row),
    "Rowan/hellaswag": Schema(_hellaswag_features, ("train", "validation", "test"), _hellaswag_row, ("test",)),
    "allenai/winogrande": Schema(_winogrande_features, ("train", "validation", "test"), _winogrande_row, ("test",)),
    "allenai/ai2_arc": Schema(_arc_features, ("train", "validation", "test"), _arc_row),
    "allenai/openbookqa": Schema(_openbookqa_features, ("train", "validation", "test"), _openbookqa_row),
    "EleutherAI/wikitext_document_level": Schema(_wikitext_document_features, ("train", "validation", "test"),
                                                 _wikitext_document_row),
}


def benchmark_repos(tasks: Sequence[str] = PAPER_TASKS, eval_rows: int = 4, fewshot_rows: int = 5,
                    other_rows: int = 2, seed: int = 0, manager=None) -> dict[str, dict]:
    """``{repo_id: {"configs": {config: {split: rows}}, "features": {config: Features}}}`` for ``tasks``.

    Each task's scored split (``test_split``, else ``validation_split``) gets ``eval_rows``
    rows; its ``fewshot_split`` ``fewshot_rows`` (mmlu: 5 dev rows, lm-eval's
    ``first_n`` 5 shots); every other split the real repository has, ``other_rows``.
    The repository's config is ``default`` where the YAML names none.
    """
    repos: dict[str, dict] = {}
    for (path, name), need in sorted(required_data(tasks, manager).items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if path not in SCHEMAS:
            raise KeyError(f"no rehearsal schema for hub data set {path!r} (tasks {need['tasks']}): add it to "
                           f"rehearsal.lm_eval_data.SCHEMAS")
        schema = SCHEMAS[path]
        missing = sorted(set(need["splits"].values()) - set(schema.splits))
        if missing:
            raise ValueError(f"lm-eval tasks {need['tasks']} read split(s) {missing} of {path!r}, which "
                             f"SCHEMAS[{path!r}] lacks (it has {list(schema.splits)})")
        scored = need["splits"].get("test") or need["splits"].get("validation")
        config_name = name or "default"
        rng = random.Random(f"{seed}:{path}:{config_name}")
        splits = {}
        for split in schema.splits:
            count = eval_rows if split == scored else fewshot_rows if split == need["splits"].get("fewshot") else other_rows
            splits[split] = [schema.make_row(rng, index, split, config_name) for index in range(count)]
        repo = repos.setdefault(path, {"configs": {}, "features": {}})
        repo["configs"][config_name] = splits
        repo["features"][config_name] = schema.features()
    return repos


def benchmark_loads(tasks: Sequence[str] = PAPER_TASKS, manager=None) -> list[tuple]:
    """The ``(hub id, config, split)`` loads lm-eval makes for ``tasks`` (split None: all)."""
    return sorted(((path, name, None) for path, name in required_data(tasks, manager)),
                  key=lambda load: (load[0], load[1] or ""))
