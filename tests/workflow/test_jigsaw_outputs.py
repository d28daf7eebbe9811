"""Checks on the Jigsaw table of a finished workflow run (pytest tests/workflow --workdir DIR)."""
import json
from pathlib import Path

import pandas as pd
import pytest
from safetensors.torch import load_file

REQUIRED = ["model", "method", "api_toxicity", "api_toxicity_ci_low", "api_toxicity_ci_high", "classify_roc_auc",
            "n_test", "scorer", "seed"]


@pytest.fixture(scope="module")
def jigsaw(config):
    if not (config.get("jigsaw") or {}).get("enabled"):
        pytest.skip("the run's config does not enable the Jigsaw variant")
    return config


def test_jigsaw_table_has_every_model_and_method(workdir, jigsaw):
    table = pd.read_csv(workdir / "results/tables/jigsaw.csv")
    assert set(REQUIRED) <= set(table.columns)
    expected = {(model, method) for model in jigsaw["models"] for method in jigsaw["jigsaw"]["methods"]}
    assert set(zip(table["model"], table["method"])) == expected and len(table) == len(expected)
    assert (workdir / "results/plots/jigsaw.png").stat().st_size > 0


def test_jigsaw_numbers_are_sane_and_traceable(workdir, jigsaw):
    table = pd.read_csv(workdir / "results/tables/jigsaw.csv")
    for column in ("api_toxicity", "classify_roc_auc"):
        assert table[column].between(0, 1).all(), column
        assert (table[f"{column}_ci_low"] <= table[column] + 1e-9).all()
        assert (table[column] <= table[f"{column}_ci_high"] + 1e-9).all()
    assert (table["n_test"] == jigsaw["jigsaw"]["n_test"]).all()
    for row in table.itertuples():
        folder = workdir / f"results/jigsaw/metrics/{row.model}/{row.method}/seed0"
        assert json.loads((folder / "auc.json").read_text())["roc_auc"] == pytest.approx(row.classify_roc_auc, abs=1e-4)
        assert json.loads((folder / "toxicity.json").read_text())["mean_toxicity"] == pytest.approx(row.api_toxicity, abs=1e-4)


def test_sft_cls_leaves_a_causal_lm_with_the_base_head_and_a_classifier(workdir, jigsaw):
    entries = [name for name, entry in jigsaw["jigsaw"]["methods"].items() if entry.get("type") == "sft_cls"]
    if not entries:
        pytest.skip("no sft_cls entry in jigsaw.methods")
    from transformers import AutoModelForCausalLM

    for model in jigsaw["models"]:
        manifest = json.loads((workdir / f"results/jigsaw/checkpoints/{model}/{entries[0]}/seed{jigsaw['seeds'][0]}/manifest.json").read_text())
        heads = [AutoModelForCausalLM.from_pretrained(manifest[key]).get_output_embeddings().weight  # tied or not
                 for key in ("path", "base_path")]
        assert (heads[0] == heads[1]).all()
        assert "score.weight" in load_file(str(Path(manifest["extra"]["classifier_path"]) / "model.safetensors"))
