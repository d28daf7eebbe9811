"""rehearsal/: the paper config's hub data sets as tiny stand-ins, read offline by the real readers.

The cache is filled through datasets' own online code path from rehearsal.fake_hub, and
then read with HF_HUB_OFFLINE=1 by corpora/loaders.py and by lm-eval's own tasks, in a
subprocess whose HF_HOME is the rehearsal's (huggingface_hub and datasets read it at import).
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from rehearsal import build_data, lm_eval_data
from rehearsal.build_data import TOXIGEN, WIKITEXT, build_rehearsal_data
from rehearsal.fake_hub import FakeHub

ROOT = Path(__file__).resolve().parents[1]
# A cheap cross-section of the paper's tasks: a named config with a 5-shot dev split
# (one MMLU subject), a named config (ARC), a default config with process_docs
# (HellaSwag), Python-function prompts (WinoGrande).
SOME_TASKS = ("mmlu_anatomy", "arc_easy", "hellaswag", "winogrande")
SIZES = {"toxigen_rows": 40, "wikitext_paragraphs": 30, "eval_rows": 3}


def offline_env(hf_home) -> dict:
    return os.environ | {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                         "PYTHONPATH": str(ROOT)}


def run_offline(hf_home, *args, check=True):
    result = subprocess.run([sys.executable, *args], env=offline_env(hf_home), cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def rehearsal_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("rehearsal") / "hf_home"
    summary = build_rehearsal_data(home, benchmark_tasks=SOME_TASKS, **SIZES)
    assert summary["built"]
    return home, summary


def tree_digest(folder: Path) -> dict:
    """Relative path -> sha256 of every file under ``folder``, lock files aside."""
    return {path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and not path.name.endswith(".lock")}


# --------------------------------------------------------------------------- layout
def test_cache_holds_the_hub_snapshot_and_the_prepared_arrow_cache(rehearsal_home):
    home, summary = rehearsal_home
    assert set(summary["repos"]) == {"skg/toxigen-data", "Salesforce/wikitext", "cais/mmlu", "allenai/ai2_arc",
                                     "Rowan/hellaswag", "allenai/winogrande"}
    configs = {"skg/toxigen-data": "train", "Salesforce/wikitext": "wikitext-103-raw-v1", "cais/mmlu": "anatomy",
               "allenai/ai2_arc": "ARC-Easy", "Rowan/hellaswag": "default", "allenai/winogrande": "winogrande_xl"}
    for repo_id, commit in summary["repos"].items():
        org, name = repo_id.split("/")
        hub = home / "hub" / f"datasets--{org}--{name}"
        assert (hub / "refs" / "main").read_text() == commit
        readme = (hub / "snapshots" / commit / "README.md").read_text()
        card = yaml.safe_load(readme.split("---")[1])
        assert [entry["config_name"] for entry in card["configs"]] == [configs[repo_id]]
        # what datasets 5.2 reads with HF_HUB_OFFLINE=1 (packaged_modules/cache/cache.py)
        prepared = home / "datasets" / f"{org}___{name}" / configs[repo_id] / "0.0.0" / commit
        info = json.loads((prepared / "dataset_info.json").read_text())
        assert info["builder_name"] == "parquet" and info["config_name"] == configs[repo_id]
        assert all((prepared / f"{name}-{split}.arrow").is_file() for split in info["splits"])


def test_readme_declares_configs_and_features_as_push_to_hub_does(rehearsal_home):
    from datasets import ClassLabel, List
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    home, summary = rehearsal_home
    card = DatasetCard.load(home / build_data.HUB_FOLDER / "datasets" / "cais" / "mmlu" / "README.md")
    assert MetadataConfigs.from_dataset_card_data(card.data)["anatomy"]["data_files"] == [
        {"split": split, "path": f"anatomy/{split}-*"} for split in ("test", "validation", "dev")]
    features = DatasetInfosDict.from_dataset_card_data(card.data)["anatomy"].features
    assert features["answer"] == ClassLabel(names=["A", "B", "C", "D"])
    assert isinstance(features["choices"], List)


def test_a_second_build_does_nothing(rehearsal_home):
    home, summary = rehearsal_home
    again = build_rehearsal_data(home, benchmark_tasks=SOME_TASKS, **SIZES)
    assert not again["built"] and again["repos"] == summary["repos"] and again["seconds"] < 2


# --------------------------------------------------------------------------- read offline
def test_loaders_and_lm_eval_read_the_cache_offline(rehearsal_home):
    home, _ = rehearsal_home
    result = json.loads(run_offline(home, "-m", "rehearsal.verify", *SOME_TASKS).stdout)
    toxigen, wikitext = result["corpora"]["toxigen"], result["corpora"]["wikitext"]
    assert toxigen["records"] == SIZES["toxigen_rows"]
    assert toxigen["first"]["domain"] == "toxicity" and toxigen["first"]["label"] in (0, 1)
    # blank rows and " = Heading = " rows are dropped by load_wikitext; the paragraphs remain
    assert wikitext["records"] == SIZES["wikitext_paragraphs"]
    assert not wikitext["first"]["text"].startswith("=")
    tasks = result["tasks"]
    assert {name: (row["docs"], row["fewshot"]) for name, row in tasks.items()} == {
        "mmlu_anatomy": (3, 5), "arc_easy": (3, 0), "hellaswag": (3, 0), "winogrande": (3, 0)}
    assert tasks["mmlu_anatomy"]["requests"] == 12 and tasks["winogrande"]["requests"] == 6
    context, continuation = tasks["mmlu_anatomy"]["example"]
    assert context.startswith("The following are multiple choice questions (with answers) about anatomy.")
    assert context.count("\nAnswer:") == 6 and continuation == " A"  # 5 dev shots + the question; lm-eval's letters
    context, continuation = tasks["hellaswag"]["example"]
    assert context.startswith("Arriving somewhere: ")  # lm-eval's process_docs: activity_label + ": " + ctx


def test_offline_datasets_read_the_prepared_cache_not_the_snapshot(rehearsal_home, tmp_path):
    """Why the cache is filled by an online load: with only the hub snapshot (what
    `hf download --repo-type dataset` leaves), datasets 5.2 cannot load the id offline."""
    home, _ = rehearsal_home
    shutil.copytree(home / "hub", tmp_path / "hub", symlinks=True)
    code = ("from corpora.loaders import load; "
            f"load('toxigen', {{'hub_id': {TOXIGEN[0]!r}, 'config': {TOXIGEN[1]!r}, 'split': {TOXIGEN[2]!r}}})")
    result = run_offline(tmp_path, "-c", code, check=False)
    assert result.returncode != 0 and "DataError" in result.stderr and "OfflineModeIsEnabled" in result.stderr


# --------------------------------------------------------------------------- against the paper config
def test_rehearsed_sources_are_the_paper_configs():
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    sources = {name: config["data"][name]["source"] for name in ("toxicity_train", "general_train")}
    assert sources["toxicity_train"] == dict(zip(("hub_id", "config", "split"), TOXIGEN))
    assert sources["general_train"] == dict(zip(("hub_id", "config", "split"), WIKITEXT))
    tasks = [task for suite in ("mmlu", "commonsense") for task in config["evaluation"]["benchmarks"][suite]["tasks"]]
    assert tuple(tasks) == lm_eval_data.PAPER_TASKS


def test_schemas_cover_every_data_set_and_split_the_paper_tasks_read():
    manager = lm_eval_data.paper_task_manager()
    needed = lm_eval_data.required_data(manager=manager)
    assert len(needed) == 57 + 8 and {path for path, _ in needed} <= set(lm_eval_data.SCHEMAS)
    repos = lm_eval_data.benchmark_repos(manager=manager)
    for (path, name), need in needed.items():
        splits = repos[path]["configs"][name or "default"]
        assert set(need["splits"].values()) <= set(splits), (path, name)
        scored = need["splits"].get("test") or need["splits"]["validation"]
        assert len(splits[scored]) == 4
    mmlu = repos["cais/mmlu"]["configs"]
    assert len(mmlu) == 57 and all(len(splits["dev"]) == 5 for splits in mmlu.values())  # 5 shots, first_n
    # fields typed as lm-eval's processing expects them (e.g. int(doc["label"]) of a str)
    assert all(isinstance(row["label"], str) for row in repos["Rowan/hellaswag"]["configs"]["default"]["validation"])
    assert {row["answer"] for row in repos["allenai/winogrande"]["configs"]["winogrande_xl"]["validation"]} <= {"1", "2"}
    assert all(row["answerKey"] in row["choices"]["label"]
               for row in repos["allenai/ai2_arc"]["configs"]["ARC-Challenge"]["test"])


def test_fake_hub_answers_as_the_hub_does(rehearsal_home):
    home, summary = rehearsal_home
    with FakeHub(home / build_data.HUB_FOLDER) as hub:
        def get(path, method="GET"):
            try:
                with urllib.request.urlopen(urllib.request.Request(hub.endpoint + path, method=method)) as reply:
                    return reply.status, reply.headers, reply.read()
            except urllib.error.HTTPError as error:
                return error.code, error.headers, error.read()

        status, headers, _ = get("/datasets/cais/mmlu/resolve/main/README.md", "HEAD")
        assert status == 200 and headers["X-Repo-Commit"] == summary["repos"]["cais/mmlu"] and headers["ETag"]
        status, headers, _ = get("/datasets/cais/mmlu/resolve/main/anatomy/dev-00000-of-00001.parquet", "HEAD")
        assert status == 200 and len(headers["X-Linked-Etag"].strip('"')) == 64  # LFS: named by its sha256
        assert get("/datasets/cais/mmlu/resolve/main/mmlu.py", "HEAD")[1]["X-Error-Code"] == "EntryNotFound"
        assert get("/datasets/cais/nothing/resolve/main/README.md")[:2][0] == 401
        status, _, body = get("/api/datasets/cais/mmlu/tree/main/anatomy")
        assert status == 200 and sorted(entry["path"] for entry in json.loads(body)) == [
            f"anatomy/{split}-00000-of-00001.parquet" for split in ("dev", "test", "validation")]


# --------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_paper_task_manager_resolves_the_same_yamls_as_lm_evals_full_index():
    from lm_eval.tasks import TaskManager

    full, small = TaskManager(), lm_eval_data.paper_task_manager()
    for name in lm_eval_data.PAPER_TASKS + ("mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities"):
        leaves = lm_eval_data.leaf_tasks(full, name)
        assert leaves == lm_eval_data.leaf_tasks(small, name)
        for leaf in leaves:
            assert full.task_index[leaf].yaml_path == small.task_index[leaf].yaml_path
            assert full.task_index[leaf].cfg == small.task_index[leaf].cfg


@pytest.mark.slow
def test_prefetch_against_the_fake_hub_leaves_the_same_cache(rehearsal_home, tmp_path):
    """scripts/prefetch.py's own plan() and fetch() (lm-eval items through lm-eval itself)
    fill a fresh HF_HOME byte for byte as the rehearsal build does."""
    from rehearsal.hub_cache import hub_env

    home, summary = rehearsal_home
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from scripts import prefetch\n"
        "config = prefetch.load_config('config/paper.yaml')\n"
        f"config['evaluation']['benchmarks'] = {{'some': {{'tasks': {list(SOME_TASKS)!r}, 'num_fewshot': 0}}}}\n"
        "items = [item for item in prefetch.plan(config) if item.kind in ('dataset', 'lm_eval')]\n"
        "for item in items:\n"
        "    prefetch.fetch(item, Path('.'), Path(sys.argv[1]))\n"
        "print(json.dumps([item.source for item in items]))\n"
    )
    fresh = tmp_path / "hf_home"
    with FakeHub(home / build_data.HUB_FOLDER) as hub:
        result = subprocess.run([sys.executable, "-c", code, str(fresh)], env=hub_env(fresh, hub.endpoint), cwd=ROOT,
                                capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == ["skg/toxigen-data", "Salesforce/wikitext", *SOME_TASKS]
    for part in ("hub", "datasets"):
        # cache-*.arrow: the .map() caches of lm-eval's process_docs (hellaswag), written when a
        # task is instantiated -- by prefetch here, by the first benchmark job otherwise
        built, fetched = ({k: v for k, v in tree_digest(where / part).items()
                           if not k.startswith(".locks") and not Path(k).name.startswith("cache-")}
                          for where in (home, fresh))
        assert fetched == built


@pytest.mark.slow
def test_paper_benchmarks_run_offline_on_a_tiny_llama(tmp_path, tiny_model_dir):
    """evaluation.benchmarks.run_suite, unchanged, on the paper's tasks: mmlu 5-shot and the
    commonsense set 0-shot, lm-eval's own task definitions, data from the rehearsal cache."""
    home = tmp_path / "hf_home"
    build_rehearsal_data(home, toxigen_rows=8, wikitext_paragraphs=8, eval_rows=1)
    code = (
        "import json, sys\n"
        "from evaluation.benchmarks import PAPER_COMMONSENSE_TASKS, PAPER_MMLU_TASKS, run_suite\n"
        "out = {}\n"
        "for tasks, shots in ((PAPER_MMLU_TASKS, 5), (PAPER_COMMONSENSE_TASKS, 0)):\n"
        "    summary = run_suite(sys.argv[1], list(tasks), shots, limit=1, device='cpu', bootstrap_iters=0)\n"
        "    out |= {name: row['n'] for name, row in summary['tasks'].items()}\n"
        "print(json.dumps(out))\n"
    )
    result = run_offline(home, "-c", code, str(tiny_model_dir))
    counts = json.loads(result.stdout.splitlines()[-1])
    assert counts == {"mmlu": 57} | {task: 1 for task in lm_eval_data.PAPER_COMMONSENSE_TASKS}
