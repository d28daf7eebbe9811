"""What training jobs measure (tokens/s, peak memory) and the cost table that reports it."""
import json

import pytest

import methods
from evaluation.tables import cost_table
from methods._trainer import TrainingConfig, combine_measurements, encode_rows, fine_tune
from modeling.load import load_tokenizer

ROWS = [
    {"text": f"Sentence number {i} about the weather and the sea.", "domain": d, "toxicity": 0.0}
    for i, d in enumerate(["general", "toxicity"] * 8)
]
# 4 steps x 4 rows: the 16 rows exactly once.
TINY_TRAINING = dict(max_steps=4, batch_size=4, max_length=16, learning_rate=1e-2, save_steps=2, logging_steps=1)


def _all_tokens(model_dir):
    return sum(len(row["input_ids"]) for row in encode_rows(load_tokenizer(model_dir), ROWS, TINY_TRAINING["max_length"]))


def test_summary_counts_trained_tokens_and_memory_on_cpu(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)  # the CPU path, also on a GPU machine
    summary = fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS, TrainingConfig(**TINY_TRAINING),
                        tmp_path / "out", tmp_path / "state", seed=0)
    assert summary["train_tokens"] == _all_tokens(tiny_model_dir)  # non-padding tokens only
    assert summary["train_wall_s"] > 0
    assert summary["tokens_per_s"] == pytest.approx(summary["train_tokens"] / summary["train_wall_s"], rel=0.01)
    assert summary["peak_gpu_mb"] is None and summary["peak_rss_mb"] > 0
    logged = json.loads((tmp_path / "out" / "training_log.json").read_text())
    assert {key: logged[key] for key in ("train_tokens", "tokens_per_s", "peak_gpu_mb")} == {
        key: summary[key] for key in ("train_tokens", "tokens_per_s", "peak_gpu_mb")}


def test_a_resumed_run_counts_only_its_own_tokens(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    config, sft = TrainingConfig(**TINY_TRAINING), methods.build_method("sft", {})
    with pytest.raises(KeyboardInterrupt):
        fine_tune(sft, str(tiny_model_dir), ROWS, config, tmp_path / "out", tmp_path / "state", seed=0, callbacks=[Crash()])
    before = json.loads((tmp_path / "state" / "checkpoint-2" / "trainer_state.json").read_text())["num_input_tokens_seen"]
    summary = fine_tune(sft, str(tiny_model_dir), ROWS, config, tmp_path / "out", tmp_path / "state", seed=0)
    assert summary["resumed_from"].endswith("checkpoint-2")
    assert 0 < before < _all_tokens(tiny_model_dir)
    assert summary["train_tokens"] == _all_tokens(tiny_model_dir) - before  # steps 3-4 only, as the wall time


def test_bf16_gradient_checkpointing_and_lora_train_on_cpu(tiny_model_dir, tmp_path, monkeypatch):
    """The GPU smoke config's training set-up (config/gpu_smoke.yaml), on CPU: bf16 weights
    and autocast, gradient checkpointing, LoRA with peft's default target modules."""
    import torch
    from safetensors.torch import load_file

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    config = TrainingConfig(**TINY_TRAINING, precision="bf16", gradient_checkpointing=True,
                            lora={"r": 4, "alpha": 8, "dropout": 0.0})
    summary = fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS, config, tmp_path / "out",
                        tmp_path / "state", seed=0)
    assert summary["steps"] == 4 and summary["tokens_per_s"] > 0
    before, after = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(tmp_path / "out" / "model.safetensors"))
    assert before.keys() == after.keys() and all(value.dtype == torch.bfloat16 for value in after.values())
    changed = {key for key in before if not (before[key].to(torch.bfloat16) == after[key]).all()}
    assert changed and all("q_proj" in key or "v_proj" in key for key in changed)  # peft's Llama defaults


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_summary_records_peak_gpu_memory_on_cuda(tiny_model_dir, tmp_path):
    import torch

    torch.cuda.reset_peak_memory_stats()
    torch.ones(256, 2**20, device="cuda")  # 1 GiB allocated before training: the meter's reset must drop it
    summary = fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS,
                        TrainingConfig(**TINY_TRAINING), tmp_path / "out", tmp_path / "state", seed=0)
    assert 0 < summary["peak_gpu_mb"] < 1024
    assert summary["train_tokens"] == _all_tokens(tiny_model_dir) and summary["tokens_per_s"] > 0


def test_phases_combine_into_one_jobs_measurements():
    sft = {"train_tokens": 300, "train_wall_s": 2.0, "peak_gpu_mb": 900.0, "peak_rss_mb": 500.0}
    rl = {"train_tokens": 100, "train_wall_s": 3.0, "peak_gpu_mb": 1200.0, "peak_rss_mb": 400.0}
    assert combine_measurements([sft, rl]) == {"train_tokens": 400, "train_wall_s": 5.0, "tokens_per_s": 80.0,
                                               "peak_gpu_mb": 1200.0, "peak_rss_mb": 500.0}
    cpu = combine_measurements([{**sft, "peak_gpu_mb": None}])
    assert cpu["peak_gpu_mb"] is None and cpu["tokens_per_s"] == 150.0


def _benchmark(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\tcpu_time\n{seconds}\t0:00:01\t512.0\t{seconds}\n")
    return path


def _manifest(path, alias, method, extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"alias": alias, "path": "x", "base_path": "x", "method": method, "seed": 0, "extra": extra}))
    return path


def test_cost_table_adds_what_training_jobs_measured(tmp_path):
    bench = tmp_path / "benchmarks"
    files = [
        _benchmark(bench / "train/m/sft/seed0.tsv", 10.0),
        _benchmark(bench / "generate_toxicity/m/sft/seed0.tsv", 4.0),
        _benchmark(bench / "jigsaw_train/m/sft/seed0.tsv", 6.0),  # same names as the main grid's: the job tells them apart
        _benchmark(bench / "train/m/filtering/seed0.tsv", 8.0),
    ]
    manifests = [
        _manifest(tmp_path / "sft.json", "m", "sft", {"tokens_per_s": 1500.0, "peak_gpu_mb": 2048.5}),
        _manifest(tmp_path / "jigsaw.json", "m", "jigsaw:sft", {"tokens_per_s": 700.0, "peak_gpu_mb": 1024.0}),
        _manifest(tmp_path / "filtering.json", "m", "filtering", {"steps": 4}),  # an older run: measured nothing
    ]
    table = cost_table(files, manifests).set_index(["job", "method"])
    assert table.loc[("train", "sft"), ["tokens_per_s", "peak_gpu_mb"]].tolist() == [1500.0, 2048.5]
    assert table.loc[("jigsaw_train", "sft"), ["tokens_per_s", "peak_gpu_mb"]].tolist() == [700.0, 1024.0]
    for job, method in [("generate_toxicity", "sft"), ("train", "filtering")]:
        assert table.loc[(job, method), ["tokens_per_s", "peak_gpu_mb"]].isna().all()
    assert list(cost_table(files).columns[-3:]) == ["tokens_per_s", "peak_gpu_mb", "builds_on"]  # even with no manifests


def test_cost_table_csv_leaves_cpu_gpu_memory_empty(tmp_path):
    files = [_benchmark(tmp_path / "benchmarks/train/m/sft/seed0.tsv", 10.0)]
    manifests = [_manifest(tmp_path / "sft.json", "m", "sft", {"tokens_per_s": 120.5, "peak_gpu_mb": None})]
    cost_table(files, manifests).to_csv(tmp_path / "cost.csv", index=False)
    header, row = (tmp_path / "cost.csv").read_text().splitlines()
    assert header.endswith(",tokens_per_s,peak_gpu_mb,builds_on") and row.endswith(",120.5,,")


def test_training_cost_of_a_model_that_continues_another_entry_includes_it(tmp_path):
    from evaluation.tables import training_cost_summary

    bench = tmp_path / "benchmarks"
    files = [_benchmark(bench / f"train/m/{method}/seed{seed}.tsv", wall)
             for method, seed, wall in [("sft", 0, 10.0), ("sft", 1, 12.0), ("rl", 0, 5.0), ("rl", 1, 7.0)]]
    manifests = [_manifest(tmp_path / "rl0.json", "m", "rl", {"builds_on": "sft"})]  # seed 0's; seed 1 trained its own
    table = cost_table(files, manifests)
    assert table.set_index(["method", "seed"]).loc[("rl", "0"), "builds_on"] == "sft"
    summary = training_cost_summary(table).set_index("method")
    assert summary.loc["rl", "wall_s"] == round(((5.0 + 10.0) + 7.0) / 2, 1)  # seed 1 did not build on sft
    assert summary.loc["sft", "wall_s"] == 11.0
    with pytest.raises(ValueError, match="builds on sft, whose train job has no benchmark file"):
        training_cost_summary(table[table["method"] != "sft"])
