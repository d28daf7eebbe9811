"""Hub data set repositories in the hub's own layout, and an HF_HOME filled from them.

Why not write the cache by hand: with ``HF_HUB_OFFLINE=1`` datasets 5.2 never reads a
hub snapshot. ``datasets.load.dataset_module_factory`` calls
``_raise_if_offline_mode_is_enabled()`` before anything else for a hub id; the
``ConnectionError`` falls through to ``CachedDatasetModuleFactory``, whose module
(``datasets/packaged_modules/cache/cache.py``, ``_find_hash_in_cache``) reads the
*prepared* Arrow cache that an earlier online ``load_dataset`` left:
``$HF_DATASETS_CACHE/<org>___<name>/<config>/<version>/<commit>/`` holding
``dataset_info.json`` and ``<name>-<split>.arrow`` (``$HF_DATASETS_CACHE`` defaults to
``$HF_HOME/datasets``). The hub snapshot that the same online call leaves
(``$HF_HOME/hub/datasets--<org>--<name>/snapshots/<commit>/``: README.md and the
parquet files) is not consulted offline at all.

So the cache is filled the way ``make prefetch`` fills it (scripts/prefetch.py: the
same ``datasets.load_dataset`` calls, online): each repository is written as the hub
holds it (``write_dataset_repo``: one parquet file per split, README.md whose YAML
front matter has ``configs:`` with ``data_files`` per split and ``dataset_info:``, as
``Dataset.push_to_hub`` writes them), served by ``rehearsal.fake_hub.FakeHub``, and
``fill_hf_home`` runs the real online ``load_dataset`` calls against it in a
subprocess (``HF_ENDPOINT`` is read when huggingface_hub and datasets are imported).
Both layers of a real prefetch result: hub snapshot and prepared Arrow cache.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping, Sequence

# A load: (hub id, config name or None, split or None), as datasets.load_dataset takes them.
Load = tuple


def repo_folder(repos_root: str | os.PathLike, repo_id: str, repo_type: str = "dataset") -> Path:
    """Where ``FakeHub(repos_root)`` serves a repository from."""
    return Path(repos_root) / f"{repo_type}s" / repo_id


def config_data_dir(config_name: str) -> str:
    """The folder of a config's files in the repository: ``data`` for ``default``, else the
    config's name (``Dataset.push_to_hub``'s ``data_dir``, the layout of e.g. cais/mmlu)."""
    return "data" if config_name == "default" else config_name


def write_dataset_repo(
    repos_root: str | os.PathLike,
    repo_id: str,
    configs: Mapping[str, Mapping[str, Sequence[dict]]],
    features: Mapping | None = None,
    default_config: str | None = None,
) -> Path:
    """Write a data set repository's files as the hub holds them; return its folder.

    ``configs``: ``{config_name: {split: [row, ...]}}``; ``"default"`` is the config of a
    repository that has one unnamed config (``load_dataset(repo_id)``). ``features``:
    ``{config_name: datasets.Features}`` (the real schema; inferred from the rows where
    absent). Files: ``<config>/<split>-00000-of-00001.parquet`` (``data/`` for the
    default config) and README.md with ``configs:`` and ``dataset_info:``, as
    ``Dataset.push_to_hub`` writes them. Files of the folder that are not written again
    are removed, so the repository holds exactly ``configs``.
    """
    import datasets
    from datasets.info import DatasetInfo, DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    if repo_id.count("/") != 1:
        raise ValueError(f"a hub repository id is 'org/name', got {repo_id!r}")
    folder = repo_folder(repos_root, repo_id)
    folder.mkdir(parents=True, exist_ok=True)
    written: set[Path] = set()
    infos, metadata = {}, {}
    for config_name, splits in configs.items():
        if not splits:
            raise ValueError(f"{repo_id}: config {config_name!r} has no splits")
        data_dir = config_data_dir(config_name)
        info = DatasetInfo(config_name=config_name, splits=SplitDict(), download_size=0, dataset_size=0)
        for split, rows in splits.items():
            if not rows:
                raise ValueError(f"{repo_id}: config {config_name!r} split {split!r} has no rows")
            table = datasets.Dataset.from_list(list(rows), features=(features or {}).get(config_name))
            path = folder / data_dir / f"{split}-00000-of-00001.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_if_changed(path, _parquet_bytes(table))
            written.add(path)
            info.features = table.features
            info.splits.add(SplitInfo(name=split, num_bytes=table.data.nbytes, num_examples=len(table),
                                      dataset_name=None))
            info.download_size += path.stat().st_size
            info.dataset_size += table.data.nbytes
        info.size_in_bytes = info.download_size + info.dataset_size
        infos[config_name] = info
        metadata[config_name] = {
            "data_files": [{"split": split, "path": f"{data_dir}/{split}-*"} for split in splits]
        }
        if config_name == default_config:
            metadata[config_name]["default"] = True
    card_data = DatasetCardData()
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    MetadataConfigs(metadata).to_dataset_card_data(card_data)
    readme = folder / "README.md"
    body = f"Rehearsal stand-in for the hub data set {repo_id}: tiny generated rows in its real schema.\n"
    _write_if_changed(readme, str(DatasetCard(f"---\n{card_data}\n---\n{body}")).encode())
    written.add(readme)
    for stale in [p for p in folder.rglob("*") if p.is_file() and p not in written]:
        stale.unlink()
    return folder


def _parquet_bytes(table) -> bytes:
    """The parquet file ``Dataset.push_to_hub`` uploads for a shard (``Dataset.to_parquet``)."""
    import io

    from datasets import utils as progress

    buffer = io.BytesIO()
    was_disabled = progress.are_progress_bars_disabled()
    progress.disable_progress_bars()
    try:
        table.to_parquet(buffer)
    finally:
        if not was_disabled:
            progress.enable_progress_bars()
    return buffer.getvalue()


def _write_if_changed(path: Path, content: bytes) -> None:
    """Keep a file's bytes and mtime when its content is unchanged (idempotent rebuilds)."""
    if path.is_file() and path.read_bytes() == content:
        return
    path.write_bytes(content)


# --------------------------------------------------------------------------- filling HF_HOME
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
CACHE_VARIABLES = ("HF_DATASETS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")  # derived from HF_HOME
TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH")  # the fake hub needs none


def hub_env(hf_home: str | os.PathLike, endpoint: str, base: Mapping[str, str] | None = None) -> dict:
    """The environment of a process that talks to the fake hub at ``endpoint`` as to the
    real one and fills ``hf_home``: ``base`` (default ``os.environ``) without the offline,
    cache-location and token variables, with ``HF_HOME`` and ``HF_ENDPOINT`` set. Use it to
    run ``scripts/prefetch.py`` itself against ``FakeHub``."""
    base = os.environ if base is None else base
    env = {key: value for key, value in base.items() if key not in OFFLINE_VARIABLES + CACHE_VARIABLES + TOKEN_VARIABLES}
    return env | {
        "HF_HOME": str(Path(hf_home).resolve()),
        "HF_ENDPOINT": endpoint,
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # a HEAD to an S3 bucket: unreachable here, and not the cache's business
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                    base.get("PYTHONPATH")])),
    }


def fill_hf_home(hf_home: str | os.PathLike, repos_root: str | os.PathLike, loads: Iterable[Load],
                 timeout: float = 900) -> dict:
    """Fill ``hf_home`` with ``loads`` (``(hub_id, config, split)``; ``split`` None = all
    splits, as lm-eval loads) through the online code path of datasets, from ``FakeHub(repos_root)``.

    Runs ``datasets.load_dataset(hub_id, config, split=split)`` in a subprocess with
    ``hub_env``; the caller's environment is left alone. Returns ``{"seconds", "requests", "loads"}``.
    """
    from rehearsal.fake_hub import FakeHub

    loads = [list(load) for load in loads]
    start = time.perf_counter()
    with FakeHub(repos_root) as hub:
        result = subprocess.run(
            [sys.executable, "-m", "rehearsal.hub_cache", json.dumps(loads)],
            env=hub_env(hf_home, hub.endpoint), capture_output=True, text=True, timeout=timeout,
        )
        requests = list(hub.requests)
    if result.returncode != 0:
        failed = [f"{method} {path} -> {status}" for method, path, status in requests if status >= 400]
        raise RuntimeError(
            f"filling {hf_home} from the rehearsal hub failed (exit {result.returncode}):\n"
            f"{result.stderr[-4000:]}\nrequests answered with an error: {failed[-20:]}"
        )
    return {"seconds": time.perf_counter() - start, "requests": requests, "loads": loads}


def _load_all(loads: list[list]) -> None:
    """The subprocess of ``fill_hf_home``: the same calls as scripts/prefetch.py (data) and
    lm-eval's ``ConfigurableTask.download`` (benchmarks), online."""
    import datasets

    for hub_id, config_name, split in loads:
        datasets.load_dataset(hub_id, config_name, split=split)


if __name__ == "__main__":
    _load_all(json.loads(sys.argv[1]))
