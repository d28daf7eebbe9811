"""Utility benchmarks through lm-evaluation-harness: MMLU 5-shot and commonsense 0-shot.

The paper (Meng et al., EMNLP 2024 Findings) reports utility as MMLU 5-shot accuracy
and a commonsense-reasoning 0-shot average (METHOD.md section 5). Two profiles share
this code:

* **paper**: lm-eval's own tasks, data from the hub or the HF cache:
  ``PAPER_MMLU_TASKS`` (the ``mmlu`` group; its aggregate is lm-eval's size-weighted
  acc over the 57 subjects) and ``PAPER_COMMONSENSE_TASKS`` (the LLaMA 0-shot set,
  [our choice] since the paper does not name its set).
* **embedded** (offline CPU): ``write_embedded_tasks`` turns small JSONL stand-in
  files into task YAMLs (``embedded_mmlu`` and ``embedded_commonsense_<subtask>``)
  that lm-eval loads with ``include_path``.

``run_suite`` runs either set on a model folder or on any lm-eval ``LM`` object (a
custom LM that decodes under a modified distribution passes itself here) and returns
a small summary: per-task accuracy as a fraction, the unweighted mean over tasks (as
the LLaMA papers average the commonsense tasks) and that mean in percent for tables.

Nothing here imports torch or lm_eval at module import time.
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
    import yaml

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

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper, value):  # "\n" escapes on one line, as lm-eval's own YAMLs write them
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\n" in value else None)

    _Dumper.add_representer(str, _str)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.yaml"):  # ours from an earlier call, e.g. a dropped subtask
        if stale.stem not in tasks and stale.read_text().startswith(_YAML_HEADER):
            stale.unlink()
    for task, config in tasks.items():
        text = yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
        (out_dir / f"{task}.yaml").write_text(_YAML_HEADER + text)
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
    ``include_path`` alone knows all the names (the embedded profile), or every name is a
    paper task (PAPER_TASK_FOLDERS: only lm-eval's own folders of those tasks are indexed),
    the rest of the built-ins are not. Managers are cached per process (until a task file changes).
    """
    include = str(Path(include_path).resolve()) if include_path is not None else None
    if include is not None and not Path(include).is_dir():
        raise FileNotFoundError(
            f"task folder {include} does not exist: call write_embedded_tasks(data_dir, "
            f"{include!r}) first"
        )
    stamp = _yaml_stamp(include)
    if include is not None:
        manager = _task_manager(include, False, stamp)
        if all(name in manager.all_tasks for name in tasks):
            return manager
    elif tasks and all(name in PAPER_TASK_FOLDERS for name in tasks):
        manager = _task_manager(tuple(str(folder) for folder in task_folders(tasks)), False)
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
    metric: str = "acc",
    device: str = "auto",
    precision: str = "auto",
    bootstrap_iters: int = 1000,
    log_samples: bool = False,
    nado_path: str | None = None,
) -> dict:
    """Run lm-eval on ``tasks`` and summarise one metric per task.

    ``model``: a Hugging Face model folder (built with ``build_lm``; ``batch_size``,
    ``device`` and ``precision`` apply to it) or an lm-eval ``LM`` instance, used as
    is. ``tasks``: lm-eval task, group or tag names (tags are expanded to their
    tasks; a group is one entry with lm-eval's aggregate, e.g. ``mmlu``'s
    size-weighted acc). ``limit``: documents per task (a float < 1 is a fraction),
    for smoke runs only. ``seed`` sets all four lm-eval seeds. ``nado_path``: score
    under NADO decoding's ``q`` (model folders only).

    Returns ``{"tasks": {name: {"metric", "value", "stderr", "n"}}, "mean",
    "mean_pct", "metric", "num_fewshot", "limit", "seed", "lm_eval_version",
    "raw"}``: ``value`` is lm-eval's fraction unchanged, ``stderr`` is None where
    lm-eval has none, ``n`` is the number of documents scored, ``mean`` the
    unweighted mean of the values, ``mean_pct`` = 100 * mean (the paper's tables
    are in percent), and ``raw`` lm-eval's results made JSON-serialisable.
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
    return summarize(results, tasks, metric=metric, manager=manager) | {
        "num_fewshot": num_fewshot,
        "limit": limit,
        "seed": seed,
        "lm_eval_version": _lm_eval_version(),
        "raw": json_safe(results),
    }


def summarize(results: dict, tasks: Sequence[str], metric: str = "acc", manager=None) -> dict:
    """The summary part of ``run_suite``'s return value, from lm-eval's results dict."""
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
        key = f"{metric},none"
        if key not in row:
            available = sorted(k.split(",")[0] for k in row if "," in k and "_stderr" not in k)
            raise ValueError(f"task {name!r} has no metric {metric!r}; it has {available}")
        stderr = row.get(f"{metric}_stderr,none")
        summary[name] = {
            "metric": metric,
            "value": float(row[key]),
            "stderr": float(stderr) if isinstance(stderr, (int, float)) and math.isfinite(stderr) else None,
            "n": _num_docs(results, name),
        }
    mean = sum(entry["value"] for entry in summary.values()) / len(summary)
    return {"tasks": summary, "metric": metric, "mean": mean, "mean_pct": 100 * mean}


def _num_docs(results: dict, name: str) -> int:
    """Documents scored for a task, or summed over a group's tasks."""
    if "sample_len" in results["results"].get(name, {}):
        return int(results["results"][name]["sample_len"])
    counts = results.get("n-samples", {})
    if name in counts:
        return int(counts[name]["effective"])
    children = results.get("group_subtasks", {}).get(name, [])
    return sum(_num_docs(results, child) for child in children)


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


def write_results(summary: dict, summary_file: str | os.PathLike, raw_file: str | os.PathLike | None = None) -> None:
    """Write the summary (without ``raw``) and, if asked, lm-eval's raw results as JSON."""
    brief = {key: value for key, value in summary.items() if key != "raw"}
    Path(summary_file).write_text(json.dumps(brief, indent=2, allow_nan=False) + "\n")
    if raw_file is not None:
        Path(raw_file).write_text(json.dumps(summary.get("raw", {}), indent=2, allow_nan=False) + "\n")
