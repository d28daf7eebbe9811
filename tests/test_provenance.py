"""A resumable or reused file is taken up only by the settings and inputs that made it
(corpora/provenance.py): generation partials, NADO's unlabelled samples."""
import json
import runpy
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from corpora.jsonl import read_jsonl, write_jsonl
from corpora.provenance import claim_file, claim_settings_file
from evaluation.generate import generate_to_file

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["The weather today is", "My neighbour keeps playing loud music at night and", "Hi"]


# --- claim_file -----------------------------------------------------------------------


def test_a_file_is_kept_for_the_same_settings_and_inputs_only(tmp_path, capsys):
    data, made = tmp_path / "prompts.jsonl", tmp_path / "samples.jsonl"
    data.write_text('{"prompt": "a"}\n')
    assert claim_file(made, {"temperature": 1.0}, inputs=[data]) is False  # nothing to reuse yet
    made.write_text("rows of run A\n")
    assert claim_file(made, {"temperature": 1.0}, inputs=[data]) is True  # a rerun of A: reuse
    assert made.read_text() == "rows of run A\n"
    assert claim_file(made, {"temperature": 0.5}, inputs=[data]) is False  # other settings: discarded
    assert not made.exists() and claim_settings_file(made).is_file()
    assert "other settings" in capsys.readouterr().out
    made.write_text("rows of run B\n")
    data.write_text('{"prompt": "b"}\n')  # the input changed
    assert claim_file(made, {"temperature": 0.5}, inputs=[data]) is False and not made.exists()


def test_a_file_without_its_settings_is_not_reused(tmp_path):
    made = tmp_path / "samples.jsonl"
    made.write_text("left by a version that recorded no settings\n")
    assert claim_file(made, {"temperature": 1.0}) is False and not made.exists()


# --- generation partials ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_model_dir, device="cpu"), load_tokenizer(tiny_model_dir)


ITEMS = [{"id": i, "prompt": p} for i, p in enumerate(PROMPTS * 3)]
SETTINGS_A = dict(batch_size=2, seed=0, max_new_tokens=4, temperature=1.0, top_p=0.9, progress=False)
SETTINGS_B = {**SETTINGS_A, "max_new_tokens": 6}


def _interrupt(model, tokenizer, out, monkeypatch, **settings):
    """Run until the third batch, as a killed job would; tag the finished rows."""
    import evaluation.generate as generate
    from conftest import interrupt_sampling_at

    real = interrupt_sampling_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        generate_to_file(model, tokenizer, ITEMS, out, **settings)
    monkeypatch.setattr(generate, "sample_batch", real)
    partial = out.with_name(out.name + ".partial")
    rows = read_jsonl(partial)
    assert len(rows) == 4
    partial.write_text("".join(json.dumps({**row, "before_kill": True}) + "\n" for row in rows))


@pytest.mark.parametrize("changed", ["sampling settings", "model", "prompts"])
def test_a_partial_from_other_settings_or_model_is_not_resumed(tiny, tmp_path, monkeypatch, changed):
    model, tokenizer = tiny
    out = tmp_path / "toxicity.jsonl"
    settings = SETTINGS_B if changed == "sampling settings" else SETTINGS_A
    provenance = {"model": "checkpoints/sft/model" if changed == "model" else "checkpoints/base/model"}
    items = [{**item, "prompt": item["prompt"] + " then"} for item in ITEMS] if changed == "prompts" else ITEMS
    straight = read_jsonl(generate_to_file(model, tokenizer, items, tmp_path / "straight.jsonl", **settings, provenance=provenance))

    _interrupt(model, tokenizer, out, monkeypatch, **SETTINGS_A, provenance={"model": "checkpoints/base/model"})
    rows = read_jsonl(generate_to_file(model, tokenizer, items, out, **settings, provenance=provenance))
    assert not any(row.get("before_kill") for row in rows), f"resumed a partial file made before the {changed} changed"
    assert rows == straight
    assert not out.with_name(out.name + ".partial").exists()
    assert not claim_settings_file(out.with_name(out.name + ".partial")).exists()  # the claim goes with the partial


def test_a_partial_from_the_same_settings_and_model_is_resumed(tiny, tmp_path, monkeypatch):
    model, tokenizer = tiny
    out, provenance = tmp_path / "toxicity.jsonl", {"model": "checkpoints/base/model"}
    straight = read_jsonl(generate_to_file(model, tokenizer, ITEMS, tmp_path / "straight.jsonl", **SETTINGS_A, provenance=provenance))
    _interrupt(model, tokenizer, out, monkeypatch, **SETTINGS_A, provenance=provenance)
    rows = read_jsonl(generate_to_file(model, tokenizer, ITEMS, out, **SETTINGS_A, provenance=provenance))
    assert [row.pop("before_kill", False) for row in rows] == [True] * 4 + [False] * 5
    assert rows == straight


# --- NADO samples (scripts/nado_samples.py) -----------------------------------------------------


def _run_nado_samples(folder: Path, manifest: Path, data: Path, nado: dict, scorer: dict) -> Path:
    """scripts/nado_samples.py as Snakemake runs it (a `snakemake` object in its globals)."""
    out = folder / "samples.jsonl"
    job = SimpleNamespace(
        wildcards=SimpleNamespace(model="tiny", method="nado", seed="0"),
        params=SimpleNamespace(method={"nado": nado}, scorer=scorer),
        input=SimpleNamespace(manifest=str(manifest), data=str(data)),
        output=[str(out)], log=[], threads=1,
    )
    runpy.run_path(str(ROOT / "scripts" / "nado_samples.py"), init_globals={"snakemake": job}, run_name="__main__")
    return out


def test_nado_samples_are_reused_only_by_the_settings_and_model_that_drew_them(tiny_model_dir, tmp_path, monkeypatch):
    from modeling.manifest import ModelManifest, write_manifest

    import scripts._common

    monkeypatch.setattr(scripts._common, "start_job", lambda snakemake: None)  # no log, threads or GPUs to set up here
    other_model = shutil.copytree(tiny_model_dir, tmp_path / "other-model")  # same weights, another model
    manifests = {}
    for name, path in (("base", tiny_model_dir), ("other", other_model)):
        manifests[name] = tmp_path / f"{name}.manifest.json"
        write_manifest(ModelManifest(alias="tiny", path=str(path), base_path=str(path)), manifests[name])
    data = tmp_path / "train_mixture.scored.jsonl"
    write_jsonl([{"text": f"Statement {i} about the weather. More.", "domain": "toxicity"} for i in range(6)], data)
    folder = tmp_path / "results" / "nado"
    folder.mkdir(parents=True)  # Snakemake makes the output folder
    unlabelled = folder / "samples.unlabelled.jsonl"
    nado_a = {"n_prompts": 3, "samples_per_prompt": 2, "max_new_tokens": 4, "sample_batch_size": 6}
    good, broken = {"backend": "profanity_check", "threshold": 0.5}, {"backend": "no_such_scorer"}

    def run_then_fail_in_labelling(manifest, nado):
        with pytest.raises(ValueError, match="no_such_scorer"):
            _run_nado_samples(folder, manifest, data, nado, broken)
        rows = read_jsonl(unlabelled)
        was_reused = all(row.get("tag") == "earlier" for row in rows)
        write_jsonl([{**row, "tag": "earlier"} for row in rows], unlabelled)  # mark what a rerun would reuse
        return was_reused

    run_then_fail_in_labelling(manifests["base"], nado_a)
    assert run_then_fail_in_labelling(manifests["base"], nado_a)  # same job rerun: the samples are kept
    assert not run_then_fail_in_labelling(manifests["base"], {**nado_a, "max_new_tokens": 5}), "reused after the settings changed"
    assert not run_then_fail_in_labelling(manifests["other"], {**nado_a, "max_new_tokens": 5}), "reused after the model changed"
    rows = read_jsonl(_run_nado_samples(folder, manifests["other"], data, {**nado_a, "max_new_tokens": 5}, good))
    assert len(rows) == 6 and all(row["tag"] == "earlier" and "label" in row for row in rows)  # labelled the kept samples
    assert not unlabelled.exists() and not claim_settings_file(unlabelled).exists()  # done: nothing left to reuse
