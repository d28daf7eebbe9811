"""scripts/prefetch.py: what each config needs from the network (planning only; nothing is fetched)."""
import os
from pathlib import Path

import pytest

from corpora.loaders import SAFENLP_TOXIGEN_URL
from modeling.hub import fetch_hint, hf_download_command, hub_allow_patterns
from scripts.prefetch import EMBEDDED_DIR, Item, hf_home, lm_eval_datasets, load_config, main, plan

REPO = Path(__file__).resolve().parent.parent
COMMONSENSE = ["boolq", "piqa", "social_iqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa"]


def summary(items):
    return [(item.kind, item.source, item.needed_by, item.target) for item in items]


def test_paper_config_plan_is_exactly_what_it_names():
    items = plan(load_config(REPO / "config" / "paper.yaml"))
    assert summary(items) == [
        ("model", "huggyllama/llama-7b", "models.llama-7b", None),
        ("model", "tiiuae/falcon-7b", "models.falcon-7b", None),
        ("model", "facebook/opt-30b", "judges.opt-30b", None),
        ("dataset", "skg/toxigen-data", "data.toxicity_train", None),
        ("dataset", "Salesforce/wikitext", "data.general_train", None),
        ("url", SAFENLP_TOXIGEN_URL, "data.toxicity_prompts", "resources/data/safenlp/toxiGen.json"),
        ("kaggle", "jigsaw-toxic-comment-classification-challenge", "jigsaw.data", "resources/data/jigsaw"),
        ("model", "tomh/toxigen_roberta", "scorer", None),
        ("lm_eval", "mmlu", "evaluation.benchmarks.mmlu", None),
    ] + [("lm_eval", task, "evaluation.benchmarks.commonsense", None) for task in COMMONSENSE] + [
        ("lm_eval", "wikitext", "evaluation.benchmarks.perplexity", None)]  # heldout_toxicity: written by the workflow
    toxigen, wikitext = items[3], items[4]
    assert (toxigen.subset, toxigen.split) == ("train", "train")
    assert (wikitext.subset, wikitext.split) == ("wikitext-103-raw-v1", "train")
    assert all(item.weights for item in items if item.kind == "model")
    # the data sets lm-eval 0.4.13 reads for them (its own task YAMLs)
    mmlu = items[8].datasets
    assert len(mmlu) == 57 and {path for path, _ in mmlu} == {"cais/mmlu"}
    assert ("cais/mmlu", "abstract_algebra") in mmlu and ("cais/mmlu", "world_religions") in mmlu
    assert {item.source: item.datasets for item in items[9:]} == {
        "wikitext": (("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1"),),
        "boolq": (("aps/super_glue", "boolq"),),
        "piqa": (("baber/piqa", None),),
        "social_iqa": (("lighteval/siqa", None),),
        "hellaswag": (("Rowan/hellaswag", None),),
        "winogrande": (("allenai/winogrande", "winogrande_xl"),),
        "arc_easy": (("allenai/ai2_arc", "ARC-Easy"),),
        "arc_challenge": (("allenai/ai2_arc", "ARC-Challenge"),),
        "openbookqa": (("allenai/openbookqa", "main"),),
    }


@pytest.mark.parametrize("name", ["ci.yaml", "config.yaml"])
def test_offline_configs_need_nothing_from_the_network(name):
    # random / pypi_gguf models, embedded stand-ins built by the workflow, profanity_check, embedded_* tasks
    assert plan(load_config(REPO / "config" / name)) == []


def test_sources_that_are_local_or_built_are_skipped_and_the_rest_deduplicated():
    config = load_config(REPO / "config" / "ci.yaml")
    config["models"]["local-7b"] = {"source": "hub", "hub_id": "huggyllama/llama-7b", "path": "/models/llama-7b"}
    config["models"]["random-7b"] = {"source": "random", "architecture": "llama",
                                     "tokenizer": {"source": "hub", "hub_id": "huggyllama/llama-7b", "revision": "abc"}}
    config["judges"] = {"judge": {"source": "hub", "hub_id": "facebook/opt-30b"},
                        "judge-again": {"source": "hub", "hub_id": "facebook/opt-30b"}}
    config["scorer"] = {"backend": "detoxify", "model_type": "unbiased", "checkpoint": "ckpt/unbiased.ckpt"}
    config["jigsaw"]["scorer"] = {"backend": "detoxify", "model_type": "unbiased", "checkpoint": "ckpt/unbiased.ckpt"}
    assert plan(config) == [
        Item("model", "huggyllama/llama-7b", "models.random-7b.tokenizer", revision="abc", weights=False),
        Item("model", "facebook/opt-30b", "judges.judge, judges.judge-again"),
        Item("url", "https://github.com/unitaryai/detoxify/releases/download/v0.3-alpha/toxic_debiased-c7548aa0.ckpt",
             "scorer.checkpoint, jigsaw.scorer.checkpoint", target="ckpt/unbiased.ckpt"),
        Item("model", "roberta-base", "scorer.huggingface_config_path, jigsaw.scorer.huggingface_config_path",
             weights=False),
    ]


def test_detoxify_tables_match_the_installed_package():
    from detoxify.detoxify import MODEL_URLS

    from scripts.prefetch import DETOXIFY_BASE_MODELS, DETOXIFY_URLS

    assert DETOXIFY_URLS == MODEL_URLS
    assert set(DETOXIFY_BASE_MODELS) == set(MODEL_URLS)


def test_constants_shared_with_the_workflow_agree():
    assert f'EMBEDDED = "{EMBEDDED_DIR}"' in (REPO / "rules" / "common.smk").read_text()
    assert "url=SAFENLP_TOXIGEN_URL" in (REPO / "rules" / "data.smk").read_text()


def test_unknown_lm_eval_task_resolves_to_nothing():
    assert lm_eval_datasets("no_such_task_anywhere") == ()


def test_hf_home_follows_the_workflow(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HOME", raising=False)
    assert hf_home({"hf_home": ".cache/huggingface"}, tmp_path) == str(tmp_path / ".cache" / "huggingface")
    assert hf_home({"hf_home": None}, tmp_path) == os.path.expanduser("~/.cache/huggingface")
    monkeypatch.setenv("HF_HOME", "/elsewhere")  # rules/common.smk: the environment's HF_HOME wins
    assert hf_home({"hf_home": ".cache/huggingface"}, tmp_path) == "/elsewhere"


def test_dry_run_lists_without_network(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--config", str(REPO / "config" / "paper.yaml"), "--dry-run", "--directory", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert "18 item(s) from the network" in out
    assert "[9/18] lm_eval  mmlu (reads cais/mmlu x 57 configs)   [evaluation.benchmarks.mmlu]" in out


def test_fetch_refuses_to_run_offline(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--config", str(REPO / "config" / "paper.yaml")]) == 2
    assert "unset HF_HUB_OFFLINE" in capsys.readouterr().err


def test_weights_in_one_format_only():
    both = ["config.json", "model-00001-of-00002.safetensors", "pytorch_model-00001-of-00002.bin", "tokenizer.model"]
    assert hub_allow_patterns(both) == ["*.json", "*.model", "*.txt", "*.py", "*.tiktoken", "*.jinja", "*.safetensors"]
    assert hub_allow_patterns(["config.json", "pytorch_model-00001-of-00007.bin"])[-1] == "*.bin"
    assert "*.safetensors" not in hub_allow_patterns(both, weights=False) and "*.bin" not in hub_allow_patterns(both, weights=False)


def test_download_hints_name_the_prefetch_and_one_command():
    assert hf_download_command("skg/toxigen-data", repo_type="dataset") == "hf download skg/toxigen-data --repo-type dataset"
    assert hf_download_command("a/b", revision="v1", local_dir="DIR") == "hf download a/b --revision v1 --local-dir DIR"
    hint = fetch_hint("huggyllama/llama-7b")
    assert "`make prefetch CONFIG=<your config>`" in hint and "`hf download huggyllama/llama-7b`" in hint
