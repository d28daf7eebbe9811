"""Check a rehearsal HF_HOME offline through the paper config's own readers.

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_HOME=DIR python -m rehearsal.verify [TASK ...]

Runs, in this process (so with the environment's HF_HOME, read when datasets is
imported): corpora.loaders.load for the paper config's ``data:`` hub sources, and
every lm-eval task given (default: the paper's) through lm-eval's own task objects:
its data loaded by its own ``datasets.load_dataset`` call, ``process_docs``, and
``doc_to_text`` / ``doc_to_choice`` / ``doc_to_target`` (and the few-shot context for
tasks with a ``fewshot_split``) rendered for every scored document. No model is run.
Prints a JSON summary; exits 1 when the environment is not offline.
"""
from __future__ import annotations

import json
import os
import sys
from typing import Sequence


def _offline() -> bool:
    return all(os.environ.get(name, "").lower() in {"1", "true", "yes", "on"}
               for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def check_corpora() -> dict:
    """Rows the paper config's hub ``data:`` sources give through corpora/loaders.py."""
    from corpora.loaders import load
    from rehearsal.build_data import TOXIGEN, WIKITEXT

    out = {}
    for kind, (hub_id, config, split) in (("toxigen", TOXIGEN), ("wikitext", WIKITEXT)):
        records = load(kind, {"hub_id": hub_id, "config": config, "split": split})
        out[kind] = {"records": len(records), "first": records[0]}
    return out


def check_tasks(tasks: Sequence[str], num_fewshot: int | None = None) -> dict:
    """``{task: {"docs", "requests", "fewshot"}}`` after lm-eval built every request of
    the task (``Task.build_all_requests``: prompts, few-shot contexts, choices), as
    ``simple_evaluate`` does before it calls the model. ``num_fewshot`` None: 5 for
    tasks with a ``fewshot_split`` (MMLU), else 0 (the paper's settings)."""
    from rehearsal.lm_eval_data import paper_task_manager

    manager = paper_task_manager(tasks)
    loaded = manager.load(list(tasks))["tasks"]
    out = {}
    for name, task in sorted(loaded.items()):
        shots = num_fewshot if num_fewshot is not None else (5 if task.config.fewshot_split else 0)
        task.set_config(key="num_fewshot", value=shots)
        task.set_fewshot_seed(0)
        task.build_all_requests()
        docs = list(task.eval_docs)
        requests = task.instances
        if not docs or len(requests) < 2 * len(docs):  # multiple choice: one request per choice
            raise AssertionError(f"{name}: {len(docs)} documents gave {len(requests)} requests")
        for request in requests:
            context, continuation = request.arguments
            if not isinstance(context, str) or not isinstance(continuation, str) or not continuation:
                raise AssertionError(f"{name}: bad request {request.arguments!r}")
            if shots and context.count("Answer:") < shots + 1:
                raise AssertionError(f"{name}: the {shots}-shot context lacks its shots: {context!r}")
        out[name] = {"docs": len(docs), "requests": len(requests), "fewshot": shots,
                     "example": list(requests[0].arguments)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from rehearsal.lm_eval_data import PAPER_TASKS

    tasks = list(argv if argv is not None else sys.argv[1:]) or list(PAPER_TASKS)
    if not _offline():
        print("set HF_HUB_OFFLINE=1 and HF_DATASETS_OFFLINE=1 (and HF_HOME to the rehearsal's)", file=sys.stderr)
        return 1
    summary = {"hf_home": os.environ.get("HF_HOME"), "corpora": check_corpora(), "tasks": check_tasks(tasks)}
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
