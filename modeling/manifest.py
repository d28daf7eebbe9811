"""The model manifest: one JSON file that says how to load a model.

Fields:
- ``alias``: the short model name from the config (``smollm2-135m``, ``llama-7b``).
- ``path``: a Hugging Face model folder (``config.json`` + weights + tokenizer) that
  ``AutoModelForCausalLM.from_pretrained`` and ``lm_eval --model hf`` load directly.
- ``base_path``: the base model this one was derived from (same as ``path`` for a base
  model).
- ``nado_path``: a NADO auxiliary-model folder used at decoding time, or ``None``.
- ``method`` / ``seed``: provenance, for tables and error messages.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path


@dataclasses.dataclass
class ModelManifest:
    alias: str
    path: str
    base_path: str
    method: str = "base"
    seed: int | None = None
    nado_path: str | None = None
    extra: dict = dataclasses.field(default_factory=dict)


def write_manifest(manifest: ModelManifest, file: str | os.PathLike) -> None:
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(file.suffix + ".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(manifest), indent=2) + "\n")
    tmp.replace(file)  # atomic: a half-written manifest never looks complete


def read_manifest(file: str | os.PathLike) -> ModelManifest:
    file = Path(file)
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"model manifest {file} does not exist: run the workflow rule that makes it "
            f"(`snakemake {file}`)"
        ) from None
    except json.JSONDecodeError as err:
        raise ValueError(
            f"model manifest {file} is not valid JSON ({err}); delete it and rerun "
            f"`snakemake {file}`"
        ) from None
    known = {f.name for f in dataclasses.fields(ModelManifest)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"model manifest {file} has unknown fields {sorted(unknown)}")
    return ModelManifest(**data)
