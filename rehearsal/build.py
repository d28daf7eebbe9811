"""Set up a rehearsal of the paper config: what ``make prefetch`` and the user's downloads leave.

    python -m rehearsal.build --config config/paper_rehearsal.yaml --directory .ci-work-rehearsal

For a config that loads models and data sets by hub id (config/paper_rehearsal.yaml:
config/paper.yaml with sizes and locations changed), this

1. writes tiny stand-in repositories under the config's hub ids (rehearsal/models.py:
   random-weight models of the real architectures and tokenizers; rehearsal/build_data.py:
   data sets in the real schemas, including every data set of the config's lm-eval tasks)
   into ``<HF_HOME>/rehearsal_hub/``;
2. writes the two files the paper config expects the user to download, at the config's
   paths under ``--directory``: SafeNLP's ``toxiGen.json`` and the Kaggle Jigsaw CSVs
   (from the embedded stand-in builders, corpora/embedded.py, in the real formats); two
   ToxiGen training statements are copied into the prompts, so that the workflow's
   removal of training rows that equal an evaluation prompt has something to remove;
3. runs ``scripts/prefetch.py --config ... --directory ...`` itself, unchanged, against
   ``rehearsal.fake_hub.FakeHub`` serving those repositories (``HF_ENDPOINT``), so the
   cache is filled by prefetch's own calls (``snapshot_download``, ``load_dataset``,
   lm-eval's task loading) exactly as on a machine with a network.

The workflow then runs offline (``offline: true``) on that cache. HF_HOME is the one the
workflow's jobs use: the environment's, else the config's ``hf_home`` under ``--directory``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Data set sizes: enough rows for the rehearsal's mixture (n_per_domain) after the workflow's
# removal of rows that equal evaluation items, and for its prompts and Jigsaw splits.
SIZES = {"toxigen_rows": 256, "wikitext_paragraphs": 256, "eval_rows": 4}
LOCAL_STAND_INS = {"seed": 0, "toxicity_rows": 60, "prompts": 40, "general_paragraphs": 60,
                   "jigsaw_train": 100, "jigsaw_test": 60}
SHARED_WITH_TRAINING = 2  # ToxiGen training statements also written as SafeNLP prompts


def benchmark_tasks(config: dict) -> list[str]:
    """The config's lm-eval tasks that come from the hub (not those the workflow writes: embedded_*, heldout_*)."""
    from evaluation.benchmarks import is_workflow_task

    tasks = []
    for suite in (config.get("evaluation", {}).get("benchmarks") or {}).values():
        if isinstance(suite, dict):
            tasks += [task for task in suite["tasks"] if not is_workflow_task(task) and task not in tasks]
    return tasks


def write_local_files(config: dict, directory: Path, toxigen_rows: list[dict]) -> list[Path]:
    """SafeNLP's toxiGen.json and the Kaggle Jigsaw folder at the config's ``path``s, in their formats."""
    from corpora.embedded import build_all

    written = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = build_all(tmp, LOCAL_STAND_INS)
        prompts_source = config["data"]["toxicity_prompts"]["source"]
        if "path" in prompts_source:
            prompts = json.loads(paths["safenlp_toxigen"].read_text())
            for row, statement in zip(prompts, toxigen_rows[:SHARED_WITH_TRAINING]):
                row["text"] = statement["generation"]
            target = directory / prompts_source["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(prompts, indent=2, ensure_ascii=False) + "\n")
            written.append(target)
        jigsaw = config.get("jigsaw") or {}
        if jigsaw.get("enabled") and "path" in (jigsaw.get("data") or {}).get("source", {}):
            target = directory / jigsaw["data"]["source"]["path"]
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(paths["jigsaw"], target)
            written.append(target)
    return written


def build(config_file: str, directory: str) -> dict:
    from rehearsal import build_data, lm_eval_data
    from rehearsal.fake_hub import FakeHub
    from rehearsal.hub_cache import hub_env
    from rehearsal.models import hub_model_ids, write_model_repo
    from scripts import prefetch

    start = time.perf_counter()
    config = prefetch.load_config(config_file)
    if not config.get("offline"):
        raise SystemExit(f"{config_file}: a rehearsal runs offline from the cache it builds; set `offline: true`")
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    hf_home = Path(prefetch.hf_home(config, directory))
    repos_root = hf_home / build_data.HUB_FOLDER

    models = hub_model_ids(config)
    for hub_id in models:
        write_model_repo(repos_root, hub_id)
    tasks = benchmark_tasks(config)
    manager = lm_eval_data.paper_task_manager(tasks) if tasks else None
    repos = build_data.data_repos(SIZES["toxigen_rows"], SIZES["wikitext_paragraphs"], tasks, SIZES["eval_rows"],
                                  manager=manager)
    build_data.write_data_repos(repos_root, repos)
    toxigen = repos[build_data.TOXIGEN[0]]["configs"][build_data.TOXIGEN[1]]["train"]
    local = write_local_files(config, directory, toxigen)

    command = [sys.executable, str(REPO / "scripts" / "prefetch.py"), "--config", str(Path(config_file).resolve()),
               "--directory", str(directory)]
    with FakeHub(repos_root) as hub:
        print(f"prefetch from the rehearsal hub at {hub.endpoint}: {' '.join(command)}", flush=True)
        done = subprocess.run(command, env=hub_env(hf_home, hub.endpoint), cwd=REPO)
        errors = [request for request in hub.requests if request[2] >= 400]
    if done.returncode != 0:
        raise SystemExit(f"scripts/prefetch.py failed against the rehearsal hub (exit {done.returncode}); "
                         f"requests answered with an error: {errors[-20:]}")
    return {"hf_home": str(hf_home), "models": models, "data_sets": sorted(repos), "local_files": [str(p) for p in local],
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the rehearsal config, e.g. config/paper_rehearsal.yaml")
    parser.add_argument("--directory", default=".", help="the workflow's working directory (snakemake --directory)")
    args = parser.parse_args(argv)
    summary = build(args.config, args.directory)
    print(f"rehearsal cache {summary['hf_home']}: {len(summary['models'])} models, {len(summary['data_sets'])} data "
          f"sets, local files {summary['local_files']}, {summary['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
