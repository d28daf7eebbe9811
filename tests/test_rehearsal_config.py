"""config/paper_rehearsal.yaml is config/paper.yaml with only sizes and locations changed.

The rehearsal (make rehearsal, part of make test) is the only run of the paper profile's
code paths on every commit; if its config drifted from the paper's in anything but the
keys below, it would rehearse another experiment.
"""
import copy
import fnmatch
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

_NADO_SIZES = ("layers", "width", "heads", "n_prompts", "max_new_tokens", "sample_batch_size", "epochs", "batch_size")
# Sizes: how much data, how many steps, how big the auxiliary model, how many documents scored.
SIZE_KEYS = (
    "data.mixture.n_per_domain",
    "data.mixture.heldout_per_domain",
    "scorer.batch_size",
    *(f"training.{key}" for key in ("max_steps", "batch_size", "gradient_accumulation_steps", "max_length",
                                    "save_steps", "logging_steps")),
    *(f"methods.rl.{key}" for key in ("rl_steps", "prompts_per_step", "samples_per_prompt", "max_new_tokens",
                                      "gradient_accumulation_steps", "save_steps")),
    *(f"methods.*.nado.{key}" for key in _NADO_SIZES),
    *(f"jigsaw.methods.*.nado.{key}" for key in _NADO_SIZES),
    *(f"evaluation.toxicity.{key}" for key in ("n_prompts", "max_new_tokens", "batch_size", "bootstrap_resamples")),
    "evaluation.winrate.n_prompts",
    "evaluation.winrate.n_controls",
    "evaluation.winrate.batch_size",
    "evaluation.benchmarks.*.limit",
    "evaluation.benchmarks.batch_size",
    "jigsaw.n_train",
    "jigsaw.n_test",
)
# Locations: where the cache and the data files are, and that there is no network.
LOCATION_KEYS = ("offline", "hf_home", "data.*.source.path", "jigsaw.data.source.path")
# Entries only the rehearsal has: the paper config's documented alternatives (LoRA, N processes).
ADDED_KEYS = ("methods.sft_lora", "methods.sft_2proc")


def _flatten(value, prefix=""):
    """{dotted.path: leaf}; a mapping entry is a leaf of its own only when empty."""
    if isinstance(value, dict) and value:
        out = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _allowed(path: str) -> bool:
    if any(fnmatch.fnmatchcase(path, pattern) for pattern in SIZE_KEYS + LOCATION_KEYS):
        return True
    return any(path == key or path.startswith(key + ".") for key in ADDED_KEYS)


def drift(paper: dict, rehearsal: dict) -> list[str]:
    """Keys whose values differ between the two configs outside the allowed lists."""
    flat_paper, flat_rehearsal = _flatten(paper), _flatten(rehearsal)
    missing = object()
    return sorted(
        path for path in set(flat_paper) | set(flat_rehearsal)
        if flat_paper.get(path, missing) != flat_rehearsal.get(path, missing) and not _allowed(path)
    )


def _load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


def test_rehearsal_differs_from_the_paper_config_only_in_sizes_and_locations():
    assert drift(_load("paper.yaml"), _load("paper_rehearsal.yaml")) == []


def test_rehearsal_really_is_smaller():
    paper, rehearsal = _load("paper.yaml"), _load("paper_rehearsal.yaml")
    assert rehearsal["training"]["max_steps"] < paper["training"]["max_steps"]
    assert rehearsal["offline"] is True
    assert [spec["hub_id"] for spec in rehearsal["models"].values()] == ["huggyllama/llama-7b", "tiiuae/falcon-7b"]


@pytest.mark.parametrize("path, value", [
    ("training.precision", "fp32"),
    ("training.optim", "adamw_torch"),
    ("training.gradient_checkpointing", False),
    ("methods.regularized.schedule", "sequential"),
    ("methods.regularized.nado.consistency_weight", 0.5),
    ("scorer.hub_id", "s-nlp/roberta_toxicity_classifier"),
    ("models.llama-7b.hub_id", "meta-llama/Llama-2-7b-hf"),
    ("evaluation.benchmarks.mmlu.num_fewshot", 0),
    ("evaluation.toxicity.temperature", 1.0),
    ("methods.nado_extra", {}),
])
def test_drift_outside_the_lists_is_caught(path, value):
    rehearsal = copy.deepcopy(_load("paper_rehearsal.yaml"))
    node = rehearsal
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    node[leaf] = value
    assert path in drift(_load("paper.yaml"), rehearsal)


def test_size_changes_are_allowed():
    rehearsal = copy.deepcopy(_load("paper_rehearsal.yaml"))
    rehearsal["training"]["max_steps"] = 7
    rehearsal["methods"]["regularized"]["nado"] = dict(rehearsal["methods"]["regularized"]["nado"], layers=3)
    assert drift(_load("paper.yaml"), rehearsal) == []
