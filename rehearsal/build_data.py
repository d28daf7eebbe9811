"""Fill a rehearsal HF_HOME with tiny stand-ins for every hub data set the paper config reads.

    python -m rehearsal.build_data --hf-home rehearsal-cache/huggingface [--toxigen-rows N] ...

What it writes (the paper config's hub data, config/paper.yaml):
- ``skg/toxigen-data`` (config ``train``) and ``Salesforce/wikitext``
  (``wikitext-103-raw-v1``): the ``data:`` sources, read by corpora/loaders.py;
- every data set of lm-eval 0.4.13's ``mmlu`` and commonsense tasks
  (evaluation.benchmarks.PAPER_*_TASKS), found from lm-eval's own task YAMLs.

How: each repository is written as the hub holds it (parquet per split, README.md with
``configs:``) under ``<hf_home>/rehearsal_hub/datasets/``, then the cache is filled
through the libraries' own online code path, served by ``rehearsal.fake_hub``
(rehearsal/hub_cache.py explains why a hand-written cache would not load offline).
The result is what ``make prefetch`` leaves for these data sets: the hub snapshots
under ``<hf_home>/hub/`` and the prepared Arrow cache under ``<hf_home>/datasets/``,
which is what ``datasets.load_dataset(hub_id, ...)`` reads with ``HF_HUB_OFFLINE=1``.

Idempotent: ``<hf_home>/rehearsal_hub/stamp.json`` records what was built; a second
call with the same settings returns at once. A changed setting rebuilds the repositories
it touches (their old snapshots and Arrow caches are removed first).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

HUB_FOLDER = "rehearsal_hub"  # under HF_HOME: the repositories the fake hub serves, and the stamp
STAMP_VERSION = 1

# The paper config's `data:` hub sources (config/paper.yaml); tests check they match it.
TOXIGEN = ("skg/toxigen-data", "train", "train")
WIKITEXT = ("Salesforce/wikitext", "wikitext-103-raw-v1", "train")


def corpus_repos(toxigen_rows: int, wikitext_paragraphs: int, seed: int = 0) -> dict[str, dict]:
    """The ``data:`` repositories, as ``benchmark_repos`` returns them."""
    from rehearsal import corpora_data

    wikitext_splits = {  # the real config's three splits; train in two shards on the hub, here one file each
        "train": corpora_data.wikitext_raw_rows(wikitext_paragraphs, seed, offset=0),
        "validation": corpora_data.wikitext_raw_rows(max(8, wikitext_paragraphs // 20), seed, offset=7),
        "test": corpora_data.wikitext_raw_rows(max(8, wikitext_paragraphs // 20), seed, offset=13),
    }
    return {
        TOXIGEN[0]: {"configs": {TOXIGEN[1]: {"train": corpora_data.toxigen_train_rows(toxigen_rows, seed)}},
                     "features": {TOXIGEN[1]: corpora_data.toxigen_features()}},
        WIKITEXT[0]: {"configs": {WIKITEXT[1]: wikitext_splits},
                      "features": {WIKITEXT[1]: corpora_data.wikitext_features()}},
    }


def _versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("datasets", "huggingface_hub", "lm_eval", "pyarrow")}


def _cache_dirs(hf_home: Path, repo_id: str) -> list[Path]:
    """Where a data set repository lands in HF_HOME: hub snapshot and prepared Arrow cache."""
    from datasets.naming import camelcase_to_snakecase

    org, name = repo_id.split("/")
    return [hf_home / "hub" / f"datasets--{org}--{name}",
            hf_home / "datasets" / f"{org}___{camelcase_to_snakecase(name)}"]


def data_repos(toxigen_rows: int = 512, wikitext_paragraphs: int = 512, benchmark_tasks: Sequence[str] | None = None,
               eval_rows: int = 4, seed: int = 0, manager=None) -> dict[str, dict]:
    """Every hub data set repository of the paper config, in memory:
    ``{repo_id: {"configs": {config: {split: rows}}, "features": {config: Features}}}``."""
    from rehearsal import lm_eval_data

    tasks = tuple(benchmark_tasks) if benchmark_tasks is not None else lm_eval_data.PAPER_TASKS
    repos = corpus_repos(toxigen_rows, wikitext_paragraphs, seed)
    if tasks:
        repos |= lm_eval_data.benchmark_repos(tasks, eval_rows=eval_rows, seed=seed, manager=manager)
    return repos


def data_loads(benchmark_tasks: Sequence[str] | None = None, manager=None) -> list[tuple]:
    """The ``datasets.load_dataset`` calls the paper config's jobs make, as ``(hub_id, config, split)``:
    corpora/loaders.py's two (scripts/prefetch.py makes the same) and lm-eval's per data set config."""
    from rehearsal import lm_eval_data

    tasks = tuple(benchmark_tasks) if benchmark_tasks is not None else lm_eval_data.PAPER_TASKS
    return [TOXIGEN, WIKITEXT] + (lm_eval_data.benchmark_loads(tasks, manager) if tasks else [])


def write_data_repos(repos_root: str | os.PathLike, repos: dict[str, dict]) -> dict[str, str]:
    """Write ``repos`` (``data_repos``) as ``rehearsal.fake_hub.FakeHub(repos_root)`` serves them;
    data set repositories of an earlier call that ``repos`` lacks are removed (model
    repositories under ``repos_root/models`` are left alone). Returns ``{repo_id: commit}``."""
    from rehearsal import hub_cache
    from rehearsal.fake_hub import Repo

    datasets_root = Path(repos_root) / "datasets"
    if datasets_root.is_dir():
        for org in datasets_root.iterdir():
            for folder in org.iterdir():
                if f"{org.name}/{folder.name}" not in repos:
                    shutil.rmtree(folder)
    commits = {}
    for repo_id, repo in repos.items():
        folder = hub_cache.write_dataset_repo(repos_root, repo_id, repo["configs"], repo["features"])
        commits[repo_id] = Repo(folder, repo_id).sha
    return commits


def build_rehearsal_data(
    hf_home: str | os.PathLike,
    *,
    toxigen_rows: int = 512,
    wikitext_paragraphs: int = 512,
    benchmark_tasks: Sequence[str] | None = None,
    eval_rows: int = 4,
    seed: int = 0,
    force: bool = False,
) -> dict:
    """Write every hub data set of the paper config into ``hf_home``; return a summary.

    ``toxigen_rows``: rows of ToxiGen's train config; ``wikitext_paragraphs``: paragraph
    rows of WikiText's train split (plus blank and heading rows); ``benchmark_tasks``:
    lm-eval task names (default: the paper's ``mmlu`` and commonsense set; ``()``: none);
    ``eval_rows``: documents per task's scored split. Returns ``{"hf_home", "repos":
    {repo_id: commit}, "loads", "built", "seconds"}`` (``built`` False when the stamp
    matched and nothing was done).
    """
    from rehearsal import hub_cache, lm_eval_data

    start = time.perf_counter()
    hf_home = Path(hf_home).resolve()
    tasks = tuple(benchmark_tasks) if benchmark_tasks is not None else lm_eval_data.PAPER_TASKS
    settings = {"version": STAMP_VERSION, "toxigen_rows": toxigen_rows, "wikitext_paragraphs": wikitext_paragraphs,
                "benchmark_tasks": list(tasks), "eval_rows": eval_rows, "seed": seed, "libraries": _versions()}
    repos_root = hf_home / HUB_FOLDER
    stamp_file = repos_root / "stamp.json"
    stamp = json.loads(stamp_file.read_text()) if stamp_file.is_file() else {}
    if not force and stamp.get("settings") == settings and all(
            path.is_dir() for repo in stamp["repos"] for path in _cache_dirs(hf_home, repo)):
        return {"hf_home": str(hf_home), "repos": stamp["repos"], "loads": stamp["loads"], "built": False,
                "seconds": time.perf_counter() - start}

    manager = lm_eval_data.paper_task_manager(tasks) if tasks else None
    loads = data_loads(tasks, manager)
    stamp_file.unlink(missing_ok=True)  # a build that fails half-way leaves no stamp
    old_commits = {} if force else stamp.get("repos", {})
    commits = write_data_repos(repos_root, data_repos(toxigen_rows, wikitext_paragraphs, tasks, eval_rows, seed,
                                                      manager))
    changed = {repo_id for repo_id in set(old_commits) | set(commits) if old_commits.get(repo_id) != commits.get(repo_id)
               or not all(path.is_dir() for path in _cache_dirs(hf_home, repo_id))}
    for repo_id in changed:  # new or dropped contents: no snapshot or Arrow cache of the old
        for path in _cache_dirs(hf_home, repo_id):
            shutil.rmtree(path, ignore_errors=True)
    fill = hub_cache.fill_hf_home(hf_home, repos_root, [load for load in loads if load[0] in changed])
    stamp_file.write_text(json.dumps({"settings": settings, "repos": commits, "loads": [list(l) for l in loads]},
                                     indent=2) + "\n")
    return {"hf_home": str(hf_home), "repos": commits, "loads": [list(l) for l in loads], "built": True,
            "seconds": time.perf_counter() - start, "fill_seconds": fill["seconds"],
            "requests": len(fill["requests"])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hf-home", required=True, help="the rehearsal's HF_HOME (created if missing)")
    parser.add_argument("--toxigen-rows", type=int, default=512, help="rows of skg/toxigen-data train (512)")
    parser.add_argument("--wikitext-paragraphs", type=int, default=512,
                        help="paragraph rows of Salesforce/wikitext wikitext-103-raw-v1 train (512)")
    parser.add_argument("--eval-rows", type=int, default=4, help="documents per lm-eval task's scored split (4)")
    parser.add_argument("--tasks", nargs="*", default=None,
                        help="lm-eval tasks (default: the paper's mmlu and commonsense set)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild even if the stamp matches")
    args = parser.parse_args(argv)
    summary = build_rehearsal_data(args.hf_home, toxigen_rows=args.toxigen_rows,
                                   wikitext_paragraphs=args.wikitext_paragraphs, benchmark_tasks=args.tasks,
                                   eval_rows=args.eval_rows, seed=args.seed, force=args.force)
    what = "built" if summary["built"] else "up to date"
    print(f"{summary['hf_home']}: {len(summary['repos'])} data set repositories, {len(summary['loads'])} "
          f"configs {what} in {summary['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
