"""The rehearsal's model stand-ins behave as the paper's models do where the suite's code
depends on it, and a prefetched hub model loads offline (modeling.prepare.resolve_hub)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rehearsal import models

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tokenizers():
    return {"llama": models.llama_tokenizer(), "falcon": models.falcon_tokenizer(), "opt": models.opt_tokenizer(),
            "roberta": models.roberta_tokenizer()}


def test_llama_stand_in_prepends_bos_like_llama(tokenizers):
    tokenizer = tokenizers["llama"]
    ids = tokenizer("The referee was late.")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id == 1 and tokenizer.eos_token_id == 2
    assert tokenizer.pad_token is None  # as huggyllama/llama-7b: the suite sets pad = eos
    assert tokenizer.convert_ids_to_tokens(ids[1]).startswith("▁")  # sentencepiece-style word marks
    assert tokenizer.decode(ids, skip_special_tokens=True) == "The referee was late."
    assert tokenizer.convert_tokens_to_ids("<0xC3>") != tokenizer.unk_token_id  # byte fallback


def test_falcon_stand_in_prepends_nothing(tokenizers):
    tokenizer = tokenizers["falcon"]
    ids = tokenizer("The referee was late.")["input_ids"]
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id not in ids
    assert tokenizer.decode(ids) == "The referee was late."
    assert tokenizer.pad_token is None


def test_opt_and_roberta_stand_ins_wrap_as_theirs(tokenizers):
    opt = tokenizers["opt"]("Which is better?")["input_ids"]
    assert opt[0] == tokenizers["opt"].convert_tokens_to_ids("</s>") == 2
    assert tokenizers["opt"].pad_token_id == 1
    roberta = tokenizers["roberta"]("hi there")["input_ids"]
    assert roberta[0] == 0 and roberta[-1] == 2


def test_falcon_keeps_its_module_names_and_lora_targets_them(tokenizers):
    from methods._trainer import _wrap_lora

    model = models._falcon(tokenizers["falcon"])
    names = [name for name, _ in model.named_modules()]
    assert any(name.endswith("self_attention.query_key_value") for name in names)
    assert not any(name.endswith("q_proj") for name in names)
    wrapped = _wrap_lora(model, {"r": 4, "alpha": 8})  # no target_modules: peft's own per architecture
    lora = [name for name, _ in wrapped.named_modules() if name.endswith("lora_A")]
    assert lora and all("query_key_value" in name for name in lora)


def test_scorer_stand_in_has_the_real_label_names(tokenizers):
    model = models._roberta_classifier(tokenizers["roberta"])
    assert model.config.id2label == {0: "LABEL_0", 1: "LABEL_1"}  # tomh/toxigen_roberta: LABEL_1 = toxic


def test_every_hub_model_of_the_paper_config_has_a_stand_in():
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    ids = models.hub_model_ids(config)
    assert set(ids) == {"huggyllama/llama-7b", "tiiuae/falcon-7b", "facebook/opt-30b", "tomh/toxigen_roberta"}
    assert set(ids) <= set(models.STAND_INS)
    with pytest.raises(KeyError, match="no rehearsal stand-in"):
        models.build_model_folder("org/unknown", "/nonexistent")


def _run(code: str, env: dict) -> str:
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_a_prefetched_model_with_two_weight_formats_loads_offline(tmp_path):
    """Real repositories hold a README, .gitattributes and .bin beside .safetensors; prefetch takes
    one weight format. The offline load must accept that snapshot (before the fix, snapshot_download
    without patterns raised IncompleteSnapshotError on it)."""
    from rehearsal.fake_hub import FakeHub
    from rehearsal.hub_cache import hub_env

    repos, home = tmp_path / "repos", tmp_path / "hf_home"
    folder = models.write_model_repo(repos, "tiiuae/falcon-7b")
    assert {"README.md", "pytorch_model.bin", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    fetch = ("from pathlib import Path\nfrom scripts.prefetch import Item, fetch\n"
             f"print(fetch(Item('model', 'tiiuae/falcon-7b', 'models.falcon-7b'), Path('.'), Path({str(home)!r}))[0])")
    with FakeHub(repos) as hub:
        _run(fetch, hub_env(home, hub.endpoint))
    offline = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    offline.pop("HF_ENDPOINT", None)
    resolved = _run("import os, json\nfrom modeling.prepare import resolve_hub\n"
                    "print(json.dumps(sorted(os.listdir(resolve_hub('tiiuae/falcon-7b')))))", offline)
    files = json.loads(resolved)
    assert "model.safetensors" in files and "pytorch_model.bin" not in files and "README.md" not in files
