"""Utility benchmarks through lm-evaluation-harness: MMLU 5-shot, commonsense 0-shot, perplexity.

The paper (Meng et al., EMNLP 2024 Findings) reports utility as MMLU 5-shot accuracy
and a commonsense-reasoning 0-shot average (METHOD.md section 5). Two profiles share
this code:

* **paper**: lm-eval's own tasks, data from the hub or the HF cache:
  ``PAPER_MMLU_TASKS`` (the ``mmlu`` group; its aggregate is lm-eval's size-weighted
  acc over the 57 subjects), ``PAPER_COMMONSENSE_TASKS`` (the LLaMA 0-shot set,
  [our choice] since the paper does not name its set) and ``PAPER_PERPLEXITY_TASKS``
  (lm-eval's ``wikitext``: WikiText-2 test pages, text in no training set).
* **embedded** (offline CPU): ``write_embedded_tasks`` turns small JSONL stand-in
  files into task YAMLs (``embedded_mmlu`` and ``embedded_commonsense_<subtask>``)
  that lm-eval loads with ``include_path``.

Both profiles also score held-out text of each fine-tuning domain
(``write_heldout_tasks``: ``heldout_<domain>`` tasks, lm-eval's ``loglikelihood_rolling``
with the word/byte perplexity metrics of its ``wikitext`` task), text that no training
split holds: did a model learn its training domains, and keep what it knew?

``run_suite`` runs a suite on a model folder or on any lm-eval ``LM`` object (a
custom LM that decodes under a modified distribution passes itself here) and returns
a small summary: per-task value (accuracy as a fraction, or word perplexity), the
unweighted mean over tasks (as the LLaMA papers average the commonsense tasks), that
mean in percent for tables, and, from lm-eval's per-document samples, one row per
document (``document_rows``: what paired comparisons between methods read) and 95%
bootstrap intervals over documents (``add_intervals``).

Nothing here imports torch, numpy or lm_eval at module import time.
"""
from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

PAPER_MMLU_TASKS = ("mmlu",)
PAPER_COMMONSENSE_TASKS = (  # LLaMA (Touvron et al. 2023) Table 3, 0-shot
    "boolq", "piqa", "social_iqa", "hellaswag", "winogrande",
    "arc_easy", "arc_challenge", "openbookqa",
)
# Text in no training set: lm-eval's wikitext (EleutherAI/wikitext_document_level, wikitext-2-raw-v1,
# test split: whole pages, scored as lm-eval's loglikelihood_rolling). WikiText-2's test articles are
# WikiText-103's test articles, which its train split (the paper's general-domain training data) excludes.
PAPER_PERPLEXITY_TASKS = ("wikitext",)

# lm-eval 0.4.13: the folder under lm_eval/tasks that holds each paper task's YAML (a group's
# YAML and its members). A TaskManager over these folders indexes ~80 YAMLs instead of lm-eval's
# ~15 k (~10 s of every benchmark job on a 2-core CPU) and resolves every name to the same YAML
# files as the full index (tests/test_rehearsal_data.py).
PAPER_TASK_FOLDERS = {
    "mmlu": "mmlu/default",
    "boolq": "super_glue/boolq",
    "piqa": "piqa",
    "social_iqa": "siqa",
    "hellaswag": "hellaswag",
    "winogrande": "winogrande",
    "arc_easy": "arc",
    "arc_challenge": "arc",
    "openbookqa": "openbookqa",
    "wikitext": "wikitext",
}

EMBEDDED_MMLU_TASK = "embedded_mmlu"
EMBEDDED_COMMONSENSE_PREFIX = "embedded_commonsense_"
EMBEDDED_COMMONSENSE_SUBTASKS = ("physical", "science", "everyday")  # 2, 4, 4 choices
EMBEDDED_COMMONSENSE_TAG = "embedded_commonsense"  # one name for all subtasks

# lm-eval's mmlu/default/_default_template_yaml, with one fixed description because the
# embedded task pools all subjects (lm-eval names the subject per task).
_MMLU_DESCRIPTION = "The following are multiple choice questions (with answers).\n\n"
_MMLU_DOC_TO_TEXT = (
    "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\n"
    "C. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:"
)
# lm-eval's piqa / arc format; choices are scored as the continuation " " + choice.
_COMMONSENSE_DOC_TO_TEXT = "Question: {{question}}\nAnswer:"

_YAML_HEADER = "# Written by evaluation.benchmarks.write_embedded_tasks: regenerate, do not edit.\n"

# Held-out text of each fine-tuning domain (results/data/heldout.jsonl: rows set aside before the
# training mixture is drawn, never in a training split): one rolling-loglikelihood task per domain.
HELDOUT_PREFIX = "heldout_"
HELDOUT_DOMAINS = ("toxicity", "general")
# Tasks the workflow writes (rule lm_eval_tasks, into results/lm_eval_tasks): not fetched from the hub.
WORKFLOW_TASK_PREFIXES = ("embedded_", HELDOUT_PREFIX)
# lm-eval's wikitext metrics (lm_eval/tasks/wikitext/wikitext.yaml): aggregations weighted_perplexity
# (word, byte) and bits_per_byte over (loglikelihood, words or bytes) pairs.
ROLLING_METRICS = ("word_perplexity", "byte_perplexity", "bits_per_byte")
# The metric a suite reports when its config names none, by lm-eval output type.
DEFAULT_METRIC = {"multiple_choice": "acc", "loglikelihood_rolling": "word_perplexity"}


def is_workflow_task(name: str) -> bool:
    """Whether ``name`` is a task the workflow writes (``embedded_*``, ``heldout_*``) rather than
    one of lm-eval's built-in tasks (whose data come from the hub)."""
    return name.startswith(WORKFLOW_TASK_PREFIXES)


# ----------------------------------------------------------------------------- tasks
def embedded_task_names(commonsense_subtasks: Sequence[str] = EMBEDDED_COMMONSENSE_SUBTASKS) -> dict:
    """``{"mmlu": [...], "commonsense": [...]}``: the names ``write_embedded_tasks`` writes."""
    return {
        "mmlu": [EMBEDDED_MMLU_TASK],
        "commonsense": [EMBEDDED_COMMONSENSE_PREFIX + name for name in commonsense_subtasks],
    }


def write_embedded_tasks(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    commonsense_subtasks: Sequence[str] = EMBEDDED_COMMONSENSE_SUBTASKS,
) -> list[str]:
    """Write lm-eval task YAMLs for the embedded stand-in data; return the task names.

    Reads ``data_dir/mmlu/{dev,test}.jsonl`` (rows ``{"question", "subject",
    "choices": [4 str], "answer": 0-3}``) and ``data_dir/commonsense/<subtask>.jsonl``
    (rows ``{"question", "choices": [...], "answer"}``). The YAMLs hold absolute
    ``data_files`` paths, because lm-eval resolves relative ones against the current
    directory, not the YAML's. Pass ``out_dir`` as ``include_path`` to ``run_suite``.

    MMLU follows lm-eval's default MMLU template (letters A-D as single-token choices,
    the first ``num_fewshot`` dev rows as shots); as the subjects are pooled, the
    shots are the first dev rows whatever their subject, and the description names
    no subject.
    """
    data_dir = Path(data_dir).resolve()
    out_dir = Path(out_dir)

    mmlu_files = {split: data_dir / "mmlu" / f"{split}.jsonl" for split in ("dev", "test")}
    commonsense_files = {name: data_dir / "commonsense" / f"{name}.jsonl" for name in commonsense_subtasks}
    for file in [*mmlu_files.values(), *commonsense_files.values()]:
        _check_jsonl(file)

    tasks: dict[str, dict] = {
        EMBEDDED_MMLU_TASK: {
            "task": EMBEDDED_MMLU_TASK,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {split: str(f) for split, f in mmlu_files.items()}},
            "test_split": "test",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "output_type": "multiple_choice",
            "description": _MMLU_DESCRIPTION,
            "doc_to_text": _MMLU_DOC_TO_TEXT,
            "doc_to_choice": ["A", "B", "C", "D"],
            "doc_to_target": "answer",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0},
        }
    }
    for name, file in commonsense_files.items():
        task = EMBEDDED_COMMONSENSE_PREFIX + name
        tasks[task] = {
            "task": task,
            "tag": EMBEDDED_COMMONSENSE_TAG,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(file)}},
            "test_split": "test",
            "output_type": "multiple_choice",
            "doc_to_text": _COMMONSENSE_DOC_TO_TEXT,
            # the field name, not "{{choices}}": lm-eval returns the list as is instead
            # of rendering it to text and parsing it back with ast.literal_eval
            "doc_to_choice": "choices",
            "doc_to_target": "answer",
            "metric_list": [
                {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
            ],
            "metadata": {"version": 1.0},
        }

    _write_task_yamls(out_dir, tasks, "embedded_")
    return list(tasks)


def _write_task_yamls(out_dir: Path, tasks: dict[str, dict], prefix: str) -> None:
    """Write ``{task}.yaml`` per config; remove our earlier YAMLs under ``prefix`` that ``tasks`` lacks
    (e.g. a dropped subtask), leaving the other family's (embedded_ / heldout_) alone."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper, value):  # "\n" escapes on one line, as lm-eval's own YAMLs write them
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\n" in value else None)

    _Dumper.add_representer(str, _str)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f"{prefix}*.yaml"):
        if stale.stem not in tasks and stale.read_text().startswith(_YAML_HEADER):
            stale.unlink()
    for task, config in tasks.items():
        text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
        (out_dir / f"{task}.yaml").write_text(_YAML_HEADER + text)


def write_heldout_tasks(
    heldout_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    domains: Sequence[str] | None = None,
    training_file: str | os.PathLike | None = None,
) -> list[str]:
    """Write one lm-eval rolling-loglikelihood task per domain of ``heldout_file``; return the names.

    ``heldout_file``: rows ``{"id", "domain", "text"}`` (results/data/heldout.jsonl, rule
    prepare_mixture: text of each fine-tuning domain set aside before the mixture is drawn).
    Each domain's rows go to ``out_dir/heldout_<domain>.jsonl`` and task ``heldout_<domain>``
    scores their ``text`` as lm-eval's wikitext task scores a page: ``loglikelihood_rolling``
    (the whole text, in windows of the model's context, no prompt), metrics word_perplexity,
    byte_perplexity and bits_per_byte (words: ``re.split(r"\\s+", text)``, bytes: UTF-8, lm-eval's
    own counting). ``domains``: those the config's suites use; ValueError if one has no rows.
    ``training_file`` (the training mixture, rows with ``text``): ValueError if a held-out text
    equals a training text (``corpora.overlap.normalise_text``), as held out means in no
    training split. Paths in the YAMLs are absolute (lm-eval resolves relative ones against
    the current directory).
    """
    heldout_file, out_dir = Path(heldout_file).resolve(), Path(out_dir)
    if not heldout_file.is_file():
        raise FileNotFoundError(f"held-out text file {heldout_file} does not exist: run the prepare_mixture rule")
    by_domain: dict[str, list[dict]] = {}
    with heldout_file.open() as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = {"id", "domain", "text"} - set(row)
            if missing:
                raise ValueError(f"{heldout_file}:{number}: rows need the keys id, domain, text; missing {sorted(missing)}")
            if not isinstance(row["text"], str) or not row["text"].strip():
                raise ValueError(f"{heldout_file}:{number}: empty text (row {row['id']!r})")
            by_domain.setdefault(str(row["domain"]), []).append(
                {"id": str(row["id"]), "domain": str(row["domain"]), "text": row["text"]})
    absent = sorted(set(domains or ()) - set(by_domain))
    if absent:
        raise ValueError(
            f"{heldout_file} has no rows of domain(s) {absent} (it has {sorted(by_domain)}), which the config's "
            f"suites score as {[HELDOUT_PREFIX + d for d in absent]}: set data.mixture.heldout_per_domain > 0"
        )
    if training_file is not None:
        from corpora.overlap import normalise_text

        with open(training_file) as handle:
            training = {normalise_text(json.loads(line)["text"]) for line in handle if line.strip()}
        leaked = [row["id"] for rows in by_domain.values() for row in rows if normalise_text(row["text"]) in training]
        if leaked:
            raise ValueError(
                f"{len(leaked)} held-out row(s) of {heldout_file} repeat a text of the training mixture "
                f"{training_file} (e.g. {leaked[:5]}): held-out text must be in no training split"
            )

    out_dir.mkdir(parents=True, exist_ok=True)
    tasks: dict[str, dict] = {}
    for domain, rows in sorted(by_domain.items()):
        task = HELDOUT_PREFIX + domain
        data_file = (out_dir / f"{task}.jsonl").resolve()
        data_file.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        tasks[task] = {
            "task": task,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(data_file)}},
            "test_split": "test",
            "output_type": "loglikelihood_rolling",
            "doc_to_text": "",
            # the field name: lm-eval returns the text as is (a "{{text}}" template is rendered,
            # and a text that looks like a Python list would be parsed back)
            "doc_to_target": "text",
            "metric_list": [{"metric": name} for name in ROLLING_METRICS],
            "metadata": {"version": 1.0},
        }
    _write_task_yamls(out_dir, tasks, HELDOUT_PREFIX)
    for stale in out_dir.glob(f"{HELDOUT_PREFIX}*.jsonl"):  # a domain of an earlier call
        if stale.stem not in tasks:
            stale.unlink()
    return list(tasks)


def _check_jsonl(file: Path) -> None:
    """Fail early, naming the file, rather than deep inside `datasets` or a template."""
    if not file.is_file():
        raise FileNotFoundError(
            f"embedded benchmark data file {file} does not exist: run the rule that "
            "writes the embedded stand-in data (or point data_dir at its output)"
        )
    with file.open() as handle:
        first = handle.readline()
    if not first.strip():
        raise ValueError(f"embedded benchmark data file {file} is empty")
    row = json.loads(first)
    missing = {"question", "choices", "answer"} - set(row)
    if missing:
        raise ValueError(f"{file}: rows need the keys question, choices, answer; missing {sorted(missing)}")


# ----------------------------------------------------------------------------- running
@functools.lru_cache(maxsize=4)
def _task_manager(include_path: str | tuple | None, include_defaults: bool, _yaml_stamp: tuple = ()):
    # _yaml_stamp only keys the cache: the index holds parsed YAML, so rewritten task
    # files (e.g. new data paths) must give a new manager
    from lm_eval.tasks import TaskManager

    include = list(include_path) if isinstance(include_path, tuple) else include_path
    return TaskManager(include_path=include, include_defaults=include_defaults)


def task_folders(tasks: Sequence[str]) -> list[Path]:
    """lm-eval's own folders of ``tasks`` (names in PAPER_TASK_FOLDERS); a name that is not one
    (e.g. one MMLU subject, ``mmlu_anatomy``) brings in all of them."""
    import lm_eval.tasks

    root = Path(lm_eval.tasks.__file__).resolve().parent
    names = tasks if all(task in PAPER_TASK_FOLDERS for task in tasks) else PAPER_TASK_FOLDERS
    return sorted({root / PAPER_TASK_FOLDERS[task] for task in names})


def _yaml_stamp(folder: str | None) -> tuple:
    if folder is None:
        return ()
    return tuple(
        (str(f), f.stat().st_mtime_ns, f.stat().st_size)
        for f in sorted(Path(folder).rglob("*")) if f.is_file()
    )


def get_task_manager(tasks: Sequence[str], include_path: str | os.PathLike | None = None):
    """A TaskManager that knows every name in ``tasks``; ValueError naming unknown ones.

    Indexing lm-eval's ~15 k built-in task YAMLs takes ~10 s on a 2-core CPU, so when
    ``include_path`` alone knows all the names (the embedded profile), or it and the paper
    tasks' folders do (PAPER_TASK_FOLDERS: only lm-eval's own folders of those tasks are
    indexed; e.g. ``[wikitext, heldout_toxicity]``), the rest of the built-ins are not.
    Managers are cached per process (until a task file changes).
    """
    include = str(Path(include_path).resolve()) if include_path is not None else None
    if include is not None and not Path(include).is_dir():
        raise FileNotFoundError(
            f"task folder {include} does not exist: call write_embedded_tasks(data_dir, "
            f"{include!r}) or write_heldout_tasks(heldout_file, {include!r}) first"
        )
    stamp = _yaml_stamp(include)
    rest = list(tasks)
    if include is not None:
        manager = _task_manager(include, False, stamp)
        rest = [name for name in tasks if name not in manager.all_tasks]
        if not rest:
            return manager
    if rest and all(name in PAPER_TASK_FOLDERS for name in rest):
        folders = tuple(str(folder) for folder in task_folders(rest))
        manager = _task_manager(folders if include is None else (include, *folders), False, stamp)
        if all(name in manager.all_tasks for name in tasks):
            return manager
    manager = _task_manager(include, True, stamp)
    unknown = [name for name in tasks if name not in manager.all_tasks]
    if unknown:
        where = f"in {include} or " if include else ""
        raise ValueError(
            f"lm-eval knows no task named {', '.join(map(repr, unknown))} ({where}among its "
            "built-in tasks): for the embedded profile call write_embedded_tasks(data_dir, "
            "out_dir) and pass include_path=out_dir; for the paper profile use lm-eval names "
            f"such as {', '.join(PAPER_MMLU_TASKS + PAPER_COMMONSENSE_TASKS)}"
        )
    return manager


def build_lm(model_dir: str | os.PathLike, *, batch_size: int = 16, device: str = "auto",
             precision: str = "auto", max_length: int | None = None, nado_path: str | None = None):
    """lm-eval's HFLM on a local Hugging Face model folder.

    ``precision``: ``auto`` (bf16 on a GPU that has it, fp32 on CPU), ``fp32``,
    ``bf16`` or ``fp16`` (as in ``modeling.load``). With ``nado_path``, the model
    scores under NADO's ``q`` (lm-eval model ``nado``, nado/decode.py).
    """
    from lm_eval.models.huggingface import HFLM

    extra = {}
    if nado_path is not None:
        from nado.decode import register_lm_eval_model

        HFLM, extra = register_lm_eval_model(), {"nado": str(nado_path)}

    from modeling.load import pick_device, pick_dtype

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir} is not a Hugging Face model folder (no config.json): run the "
            "prepare_model rule for it, or pass an lm-eval LM object"
        )
    device = pick_device(device)
    return HFLM(
        pretrained=str(model_dir),
        device=device,
        dtype=pick_dtype(precision, device),
        batch_size=batch_size,
        max_length=max_length,
        **extra,
    )


def run_suite(
    model: Any,
    tasks: Sequence[str],
    num_fewshot: int,
    *,
    limit: int | float | None = None,
    batch_size: int = 16,
    include_path: str | os.PathLike | None = None,
    seed: int = 0,
    metric: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    bootstrap_iters: int = 1000,
    log_samples: bool = False,
    nado_path: str | None = None,
    interval_resamples: int = 1000,
    interval_seed: int = 0,
) -> dict:
    """Run lm-eval on ``tasks`` and summarise one metric per task.

    ``model``: a Hugging Face model folder (built with ``build_lm``; ``batch_size``,
    ``device`` and ``precision`` apply to it) or an lm-eval ``LM`` instance, used as
    is. ``tasks``: lm-eval task, group or tag names (tags are expanded to their
    tasks; a group is one entry with lm-eval's aggregate, e.g. ``mmlu``'s
    size-weighted acc). ``limit``: documents per task (a float < 1 is a fraction),
    for smoke runs only. ``seed`` sets all four lm-eval seeds. ``metric``: None = by
    output type (``DEFAULT_METRIC``: acc for multiple_choice, word_perplexity for
    loglikelihood_rolling). ``nado_path``: score under NADO decoding's ``q`` (model
    folders only). ``bootstrap_iters``: lm-eval's own stderr bootstrap.

    Returns ``{"tasks": {name: {"metric", "value", "stderr", "n", ...}}, "kind", "mean",
    "mean_pct", "metric", "num_fewshot", "limit", "seed", "lm_eval_version", "raw"}``
    (``summarize``): ``value`` is lm-eval's number unchanged, ``stderr`` is None where
    lm-eval has none, ``n`` is the number of documents scored, ``mean`` the unweighted
    mean of the values, ``mean_pct`` = 100 * mean for accuracy suites (the paper's
    tables are in percent), and ``raw`` lm-eval's results made JSON-serialisable.
    With ``log_samples`` the summary also holds ``docs`` (``document_rows``: one row per
    document) and the 95% intervals of ``add_intervals`` (``interval_resamples``
    bootstrap resamples, seeded by ``interval_seed``; 0 resamples: intervals None).
    """
    import lm_eval
    from lm_eval.api.model import LM

    tasks = list(tasks)
    if not tasks:
        raise ValueError("no tasks given")
    manager = get_task_manager(tasks, include_path)

    if isinstance(model, LM):
        lm = model
    elif isinstance(model, (str, os.PathLike)):
        lm = build_lm(model, batch_size=batch_size, device=device, precision=precision, nado_path=nado_path)
    else:
        raise TypeError(
            f"model must be a model folder or an lm_eval.api.model.LM, not {type(model).__name__}"
        )

    results = lm_eval.simple_evaluate(
        model=lm,
        tasks=tasks,
        num_fewshot=num_fewshot,
        limit=limit,
        task_manager=manager,
        bootstrap_iters=bootstrap_iters,
        log_samples=log_samples,
        random_seed=seed,
        numpy_random_seed=seed,
        torch_random_seed=seed,
        fewshot_random_seed=seed,
    )
    if results is None:  # not rank 0 in a multi-process run
        return {}
    raw = json_safe(results)
    summary = summarize(raw, tasks, metric=metric, manager=manager)
    if log_samples:
        summary["docs"] = document_rows(raw, summary)
        add_intervals(summary, summary["docs"], resamples=interval_resamples, seed=interval_seed)
    return summary | {
        "num_fewshot": num_fewshot,
        "limit": limit,
        "seed": seed,
        "lm_eval_version": _lm_eval_version(),
        "raw": raw,
    }


def summarize(results: dict, tasks: Sequence[str], metric: str | None = None, manager=None) -> dict:
    """The summary part of ``run_suite``'s return value, from lm-eval's results dict.

    ``metric`` None: ``DEFAULT_METRIC`` of the tasks' output type (lm-eval's ``configs``;
    acc when they are not given). A suite is of one kind, ``accuracy`` or ``perplexity``
    (a metric of ``ROLLING_METRICS``); a mix is a ValueError. Perplexity entries also
    carry lm-eval's ``word_perplexity``, ``byte_perplexity`` and ``bits_per_byte``, and
    a perplexity suite's ``mean_pct`` is None (its ``mean`` is the unweighted mean of
    the tasks' values, not a percentage).
    """
    table = results["results"]
    names: list[str] = []
    for name in tasks:
        if name in table:
            names.append(name)
        elif manager is not None and name in manager.all_tags:
            # a tag is only a label: report the tasks it stands for
            names.extend(sorted(t for t in table if name in getattr(manager.task_index.get(t), "tags", ())))
        else:
            raise KeyError(f"lm-eval returned no results for {name!r}")

    summary: dict[str, dict] = {}
    for name in names:
        row = table[name]
        name_metric = metric or _default_metric(results, name)
        key = f"{name_metric},none"
        if key not in row:
            available = sorted(k.split(",")[0] for k in row if "," in k and "_stderr" not in k)
            raise ValueError(f"task {name!r} has no metric {name_metric!r}; it has {available}")
        stderr = row.get(f"{name_metric}_stderr,none")
        summary[name] = {
            "metric": name_metric,
            "value": float(row[key]),
            "stderr": float(stderr) if isinstance(stderr, (int, float)) and math.isfinite(stderr) else None,
            "n": _num_docs(results, name),
        }
        if name_metric in ROLLING_METRICS:
            summary[name].update({m: float(row[f"{m},none"]) if isinstance(row.get(f"{m},none"), (int, float)) else None
                                  for m in ROLLING_METRICS})
    kinds = {_kind(entry["metric"]) for entry in summary.values()}
    if len(kinds) > 1:
        raise ValueError(
            f"tasks {names} mix accuracy and perplexity metrics "
            f"({ {name: entry['metric'] for name, entry in summary.items()} }): put them in separate suites"
        )
    metrics = {entry["metric"] for entry in summary.values()}
    kind = kinds.pop()
    mean = sum(entry["value"] for entry in summary.values()) / len(summary)
    return {"tasks": summary, "metric": metrics.pop() if len(metrics) == 1 else sorted(metrics), "kind": kind,
            "mean": mean, "mean_pct": 100 * mean if kind == "accuracy" else None}


def _kind(metric: str) -> str:
    return "perplexity" if metric in ROLLING_METRICS else "accuracy"


def _default_metric(results: dict, name: str) -> str:
    configs = results.get("configs") or {}
    types = {configs[leaf].get("output_type") for leaf in _leaves(results, name) if leaf in configs}
    if len(types) > 1:
        raise ValueError(f"task {name!r} mixes output types {sorted(map(str, types))}: name a `metric` for it")
    output_type = types.pop() if types else "multiple_choice"
    if output_type not in DEFAULT_METRIC:
        raise ValueError(f"task {name!r} is {output_type!r}: name a `metric` for it (defaults exist for "
                         f"{sorted(DEFAULT_METRIC)})")
    return DEFAULT_METRIC[output_type]


def _leaves(results: dict, name: str) -> list[str]:
    """The tasks whose documents an entry aggregates: itself, or a group's leaf tasks
    (lm-eval's ``group_subtasks``, nested groups followed down)."""
    children = (results.get("group_subtasks") or {}).get(name)
    if not children:
        return [name]
    leaves: list[str] = []
    for child in children:
        leaves += [leaf for leaf in _leaves(results, child) if leaf not in leaves]
    return leaves


def _num_docs(results: dict, name: str) -> int:
    """Documents scored for a task, or summed over a group's tasks."""
    if "sample_len" in results["results"].get(name, {}):
        return int(results["results"][name]["sample_len"])
    counts = results.get("n-samples", {})
    if name in counts:
        return int(counts[name]["effective"])
    children = results.get("group_subtasks", {}).get(name, [])
    return sum(_num_docs(results, child) for child in children)


# ----------------------------------------------------------------------------- documents and intervals
def document_rows(results: dict, summary: dict) -> list[dict]:
    """One row per document scored, from lm-eval's logged samples (``log_samples=True``).

    Every row: ``task`` (the lm-eval task that scored it: a group's subtask, e.g.
    ``mmlu_anatomy``), ``group`` (the summary entry it counts toward: ``mmlu``, or the task
    itself), ``doc_id`` (lm-eval's index in the task's scored split; with ``task`` the key
    for paired comparisons between runs) and ``doc_hash`` (lm-eval's hash of the document:
    equal across runs for the same document). Accuracy entries add ``acc`` (0/1, lm-eval's
    own per-document value), the entry's metric if not acc (e.g. ``acc_norm``) and
    ``n_choices``; perplexity entries add ``loglikelihood`` (summed over the text's tokens,
    lm-eval's loglikelihood_rolling), ``words`` and ``bytes`` (lm-eval's counts in its
    process_results: ``len(re.split(r"\\s+", text))``, UTF-8 bytes; wikitext counts its
    page before detokenising). So word perplexity = exp(-sum loglikelihood / sum words).
    """
    samples = results.get("samples") or {}
    rows: list[dict] = []
    for name, entry in summary["tasks"].items():
        for leaf in _leaves(results, name):
            if leaf not in samples:
                raise KeyError(f"lm-eval logged no samples of task {leaf!r} (of {name!r}): run with log_samples=True")
            for sample in sorted(samples[leaf], key=lambda s: s["doc_id"]):
                if sample.get("filter", "none") != "none":
                    continue
                row = {"task": leaf, "group": name, "doc_id": int(sample["doc_id"]), "doc_hash": sample.get("doc_hash")}
                if entry["metric"] in ROLLING_METRICS:
                    loglikelihood, words = sample["word_perplexity"]
                    counted = sample.get("byte_perplexity") or sample.get("bits_per_byte")
                    row.update(loglikelihood=float(loglikelihood), words=int(words),
                               bytes=int(counted[1]) if counted else None)
                else:
                    metric = entry["metric"]
                    if "acc" in sample:
                        row["acc"] = float(sample["acc"])
                    row[metric] = float(sample[metric])
                    # one request per choice; acc_mutual_info adds one unconditional request per choice
                    row["n_choices"] = len(sample["arguments"]) // (2 if "acc_mutual_info" in sample else 1)
                rows.append(row)
    return rows


CI_METHOD = ("percentile bootstrap over documents: each task's documents resampled with replacement (a "
             "size-weighted group such as mmlu: its subtasks' documents pooled; an unweighted group: each "
             "subtask within itself); suite mean: the same resamples, averaged over tasks")


def add_intervals(summary: dict, docs: Sequence[dict], resamples: int = 1000, seed: int = 0,
                  level: float = 0.95) -> dict:
    """Add 95% bootstrap intervals and chance levels to ``summary`` (in place; also returned).

    Per task entry: ``ci_low``, ``ci_high`` (of ``value``, in its unit), ``chance`` (accuracy:
    the mean over documents of 1 / n_choices, combined over a group's subtasks as its value
    is; perplexity: None) and ``chance_in_ci`` (ci_low <= chance <= ci_high; None for
    perplexity). Perplexity entries also: ``word_perplexity_ci_low/high``, and the totals
    ``loglikelihood``, ``words``, ``bytes``. Suite: ``mean_ci_low/high``, ``mean_pct_ci_low/high``
    and ``chance_pct`` (accuracy suites; None for perplexity), ``chance_in_ci``, and
    ``ci_level``, ``ci_method``, ``ci_resamples``, ``ci_seed``.

    Method (``CI_METHOD``): percentile bootstrap over documents. Resample b draws an entry's
    documents with replacement from ``numpy.random.default_rng([seed, crc32(name)])``: the
    draws depend only on the seed, the name and the number of documents, so two runs over the
    same documents (two methods) use the same draws. Accuracy: the resampled mean of the 0/1
    values. A group is combined as lm-eval combines it (whichever of the two reproduces its
    value): size-weighted (``mmlu``: weight_by_size) = the mean over its subtasks' documents
    pooled, resampled as one set; unweighted = the mean of its subtasks' means, each subtask
    resampled within itself (named by the subtask). Perplexity: exp(-sum loglikelihood / sum
    words) of the resampled documents (a group's pooled). Suite mean: resample b's unweighted
    mean over the entries.
    """
    import numpy as np

    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 0:
        raise ValueError(f"resamples must be an integer >= 0, got {resamples!r}")
    tail = 100.0 * (1.0 - level) / 2.0
    by_entry: dict[str, dict[str, list[dict]]] = {}
    for row in docs:
        by_entry.setdefault(row["group"], {}).setdefault(row["task"], []).append(row)

    def interval(replicates):
        if replicates is None:
            return None, None
        low, high = np.percentile(replicates, [tail, 100.0 - tail])
        return float(low), float(high)

    replicates_of: dict[str, Any] = {}
    for name, entry in summary["tasks"].items():
        leaves = by_entry.get(name)
        if not leaves:
            raise ValueError(f"no document rows for task {name!r}: intervals need lm-eval's samples")
        if entry["metric"] in ROLLING_METRICS:
            stats = _perplexity_replicates(name, entry, leaves, resamples, seed)
            entry.update(stats["totals"])
            entry["word_perplexity_ci_low"], entry["word_perplexity_ci_high"] = interval(stats["word_perplexity"])
            entry["chance"], entry["chance_in_ci"] = None, None
        else:
            stats = _accuracy_replicates(name, entry, leaves, resamples, seed)
            entry["chance"] = stats["chance"]
        replicates_of[name] = stats["replicates"]
        entry["ci_low"], entry["ci_high"] = interval(stats["replicates"])
        if entry["chance"] is not None:
            entry["chance_in_ci"] = None if entry["ci_low"] is None else entry["ci_low"] <= entry["chance"] <= entry["ci_high"]

    entries = list(summary["tasks"].values())
    mean_replicates = None if resamples == 0 else np.mean([replicates_of[name] for name in summary["tasks"]], axis=0)
    summary["mean_ci_low"], summary["mean_ci_high"] = interval(mean_replicates)
    if summary["kind"] == "accuracy":
        summary["chance_pct"] = 100.0 * sum(entry["chance"] for entry in entries) / len(entries)
        low, high = summary["mean_ci_low"], summary["mean_ci_high"]
        summary["mean_pct_ci_low"] = None if low is None else 100.0 * low
        summary["mean_pct_ci_high"] = None if high is None else 100.0 * high
        summary["chance_in_ci"] = (None if low is None else
                                   summary["mean_pct_ci_low"] <= summary["chance_pct"] <= summary["mean_pct_ci_high"])
    else:
        summary.update(chance_pct=None, mean_pct_ci_low=None, mean_pct_ci_high=None, chance_in_ci=None)
    summary.update(ci_level=level, ci_method=CI_METHOD, ci_resamples=resamples, ci_seed=seed)
    return summary


_MAX_DRAWS_PER_CHUNK = 4_000_000  # caps a (resamples x documents) index array at ~32 MB


def _resampled_sums(columns, resamples: int, seed: int, task: str):
    """``(resamples, k)`` sums of the ``(n, k)`` ``columns`` over documents drawn with replacement;
    the draws depend only on (seed, task, n)."""
    import zlib

    import numpy as np

    columns = np.asarray(columns, dtype=np.float64)
    n = columns.shape[0]
    rng = np.random.default_rng([seed, zlib.crc32(task.encode("utf-8"))])
    sums = np.empty((resamples, columns.shape[1]))
    chunk = max(1, _MAX_DRAWS_PER_CHUNK // n)
    for start in range(0, resamples, chunk):  # chunks keep memory bounded; the same stream as one draw
        stop = min(start + chunk, resamples)
        drawn = rng.integers(0, n, size=(stop - start, n))
        for k in range(columns.shape[1]):
            sums[start:stop, k] = columns[:, k][drawn].sum(axis=1)
    return sums


def _accuracy_replicates(name: str, entry: dict, leaves: dict[str, list[dict]], resamples: int, seed: int) -> dict:
    import numpy as np

    metric = entry["metric"]
    sizes = np.array([len(rows) for rows in leaves.values()], dtype=np.float64)
    means = np.array([sum(row[metric] for row in rows) / len(rows) for rows in leaves.values()])
    chances = [math.fsum(1.0 / row["n_choices"] for row in rows) / len(rows) for rows in leaves.values()]
    # lm-eval's group value: size-weighted (weight_by_size, e.g. mmlu) or unweighted mean of its tasks
    weights = sizes / sizes.sum()
    pooled, unweighted = float(weights @ means), float(means.mean())
    if abs(unweighted - entry["value"]) < abs(pooled - entry["value"]):
        weights = np.full(len(sizes), 1.0 / len(sizes))
    estimate = float(weights @ means)
    if not math.isclose(estimate, entry["value"], rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(f"{name!r}: the documents' {metric} ({estimate}) is not lm-eval's value "
                         f"({entry['value']}; documents of {sorted(leaves)})")
    replicates = None
    if resamples and np.allclose(weights, sizes / sizes.sum()):  # one task, or a size-weighted group: pooled
        rows = [row for task_rows in leaves.values() for row in task_rows]
        replicates = _resampled_sums([[row[metric]] for row in rows], resamples, seed, name)[:, 0] / len(rows)
    elif resamples:  # an unweighted group: each subtask resampled within itself
        replicates = np.zeros(resamples)
        for weight, (task, rows) in zip(weights, leaves.items()):
            sums = _resampled_sums([[row[metric]] for row in rows], resamples, seed, task)[:, 0]
            replicates += weight * sums / len(rows)
    return {"replicates": replicates, "chance": math.fsum(float(w) * c for w, c in zip(weights, chances))}


def _perplexity_replicates(name: str, entry: dict, leaves: dict[str, list[dict]], resamples: int, seed: int) -> dict:
    import numpy as np

    rows = [row for task_rows in leaves.values() for row in task_rows]
    totals = {"loglikelihood": float(sum(row["loglikelihood"] for row in rows)),
              "words": int(sum(row["words"] for row in rows)),
              "bytes": None if any(row["bytes"] is None for row in rows) else int(sum(row["bytes"] for row in rows))}
    estimate = _rolling_metric(entry["metric"], totals["loglikelihood"], totals["words"], totals["bytes"])
    if not math.isclose(estimate, entry["value"], rel_tol=1e-6):
        raise ValueError(f"{name!r}: the documents' {entry['metric']} ({estimate}) is not lm-eval's value "
                         f"({entry['value']}; documents of {sorted(leaves)})")
    out = {"totals": totals, "replicates": None, "word_perplexity": None}
    if resamples:
        sums = _resampled_sums([[row["loglikelihood"], row["words"], row["bytes"] or 0] for row in rows],
                               resamples, seed, name)
        out["word_perplexity"] = np.exp(-sums[:, 0] / sums[:, 1])
        out["replicates"] = _rolling_metric(entry["metric"], sums[:, 0], sums[:, 1], sums[:, 2])
    return out


def _rolling_metric(metric: str, loglikelihood, words, bytes_):
    """lm-eval's aggregations (lm_eval/api/metrics.py) of summed (loglikelihood, count) pairs:
    weighted_perplexity = exp(-sum ll / sum count), bits_per_byte = -sum ll / sum bytes / ln 2."""
    import numpy as np

    if metric == "word_perplexity":
        return np.exp(-loglikelihood / words)
    if metric == "byte_perplexity":
        return np.exp(-loglikelihood / bytes_)
    if metric == "bits_per_byte":
        return -loglikelihood / bytes_ / math.log(2)
    raise ValueError(f"not a rolling metric: {metric!r}")


def training_overlap(results: dict, summary: dict, training_file: str | os.PathLike) -> dict[str, int]:
    """Per perplexity entry, how many of its documents hold a line (paragraph) equal to a text of
    the training mixture (rows with ``text``; compared by ``corpora.overlap.normalise_text``).

    Held-out text must be in no training split: the workflow's ``heldout_*`` texts are checked
    when their tasks are written (``write_heldout_tasks``); this checks what a built-in task
    scored (e.g. wikitext's test pages against WikiText-103 train paragraphs) from the
    documents lm-eval logged: the text it scored and every text field of the document.
    """
    from corpora.overlap import normalise_text

    with open(training_file) as handle:
        training = {normalise_text(json.loads(line)["text"]) for line in handle if line.strip()}
    training.discard("")
    samples = results.get("samples") or {}
    counts = {}
    for name, entry in summary["tasks"].items():
        if entry["metric"] not in ROLLING_METRICS:
            continue
        count = 0
        for leaf in _leaves(results, name):
            for sample in samples.get(leaf, []):
                texts = [sample.get("target")] + list((sample.get("doc") or {}).values())
                lines = {normalise_text(line) for text in texts if isinstance(text, str) for line in text.splitlines()}
                count += bool(lines & training)
        counts[name] = count
    return counts


def _lm_eval_version() -> str:
    from importlib.metadata import version

    return version("lm_eval")


def json_safe(value: Any) -> Any:
    """``value`` with what JSON cannot hold dropped (functions, arrays, objects);
    tuples become lists, numpy scalars Python numbers, dtypes their names and
    non-finite floats None."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = json_safe(item)
            if item is not _DROP:
                out[str(key)] = item
        return out
    if isinstance(value, (list, tuple)):
        return [item for item in map(json_safe, value) if item is not _DROP]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalar
        return json_safe(value.item())
    if type(value).__name__ == "dtype":  # torch / numpy dtype, e.g. config.model_dtype
        return str(value)
    return _DROP


_DROP = object()


def write_results(summary: dict, summary_file: str | os.PathLike, raw_file: str | os.PathLike | None = None,
                  docs_file: str | os.PathLike | None = None) -> None:
    """Write the summary (without ``raw`` and ``docs``) as JSON and, if asked, lm-eval's raw
    results (JSON, without the logged samples: ``docs`` holds what is kept of them) and the
    document rows (JSON lines, ``document_rows``)."""
    brief = {key: value for key, value in summary.items() if key not in ("raw", "docs")}
    Path(summary_file).write_text(json.dumps(brief, indent=2, allow_nan=False) + "\n")
    if raw_file is not None:
        raw = {key: value for key, value in summary.get("raw", {}).items() if key != "samples"}
        Path(raw_file).write_text(json.dumps(raw, indent=2, allow_nan=False) + "\n")
    if docs_file is not None:
        with open(docs_file, "w") as handle:
            handle.writelines(json.dumps(row, allow_nan=False) + "\n" for row in summary.get("docs", []))
