"""``training.precision``: which dtypes weights and matmuls get, and a bf16_mixed run on CPU."""
import pytest
import torch

import methods
from methods._trainer import TrainingConfig, fine_tune, training_arguments
from modeling.load import pick_dtype, training_dtypes

FP32, BF16 = torch.float32, torch.bfloat16
ROWS = [
    {"text": f"Sentence number {i} about the weather and the sea.", "domain": d, "toxicity": 0.0}
    for i, d in enumerate(["general", "toxicity"] * 8)
]
TINY_TRAINING = dict(max_steps=4, batch_size=4, max_length=16, learning_rate=1e-2, save_steps=2, logging_steps=1)


def _gpu(monkeypatch, bf16: bool):
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr("torch.cuda.is_bf16_supported", lambda *args, **kwargs: bf16)


@pytest.mark.parametrize("precision, weights, compute", [
    ("fp32", FP32, FP32), ("bf16", BF16, BF16), ("bf16_mixed", FP32, BF16), ("auto", FP32, FP32),
])
def test_training_dtypes_on_cpu(precision, weights, compute, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert training_dtypes(precision, "cpu") == (weights, compute)


@pytest.mark.parametrize("precision, weights, compute", [
    ("fp32", FP32, FP32), ("bf16", BF16, BF16), ("bf16_mixed", FP32, BF16), ("auto", FP32, BF16),
])
def test_training_dtypes_on_a_bf16_gpu(precision, weights, compute, monkeypatch):
    _gpu(monkeypatch, bf16=True)
    assert training_dtypes(precision, "cuda") == (weights, compute)


def test_auto_on_a_gpu_without_bf16_trains_and_infers_in_fp32(monkeypatch):
    _gpu(monkeypatch, bf16=False)
    assert training_dtypes("auto", "cuda") == (FP32, FP32)
    assert pick_dtype("auto", "cuda") == FP32


def test_inference_dtypes(monkeypatch):
    _gpu(monkeypatch, bf16=True)
    assert [pick_dtype(p, "cuda") for p in ("auto", "fp32", "bf16", "bf16_mixed", "fp16")] == [
        BF16, FP32, BF16, BF16, torch.float16]  # auto infers in bf16 on a GPU, trains in bf16_mixed
    assert pick_dtype("auto", "cpu") == FP32


def test_unknown_precision_names_the_known_ones():
    with pytest.raises(ValueError, match="'bf32' is not one of auto, fp32, bf16, bf16_mixed"):
        training_dtypes("bf32", "cpu")
    with pytest.raises(ValueError, match="'fp16' is not one of"):
        training_dtypes("fp16", "cuda")  # inference only: fp16 training would need a loss scaler
    with pytest.raises(ValueError, match="'bf32' is not one of"):
        pick_dtype("bf32", "cpu")


def test_trainer_autocasts_when_the_compute_dtype_is_bf16(tmp_path):
    assert training_arguments(TrainingConfig(), tmp_path, 0, BF16, "cpu").bf16
    assert not training_arguments(TrainingConfig(), tmp_path, 0, FP32, "cpu").bf16


def test_rl_reference_model_is_bf16_under_bf16_mixed(tmp_path):
    """An fp32 policy's frozen reference needs no fp32 copy; LoRA builds no reference at all."""
    rl = methods.build_method("rl", {})
    mixed = rl._rloo_args(TrainingConfig(), tmp_path, 0, FP32, BF16, "cpu")
    assert mixed.bf16 and mixed.model_init_kwargs == {"dtype": "bfloat16"}
    pure = rl._rloo_args(TrainingConfig(), tmp_path, 0, BF16, BF16, "cpu")
    assert pure.bf16 and pure.model_init_kwargs is None
    lora = rl._rloo_args(TrainingConfig(lora={"r": 4}), tmp_path, 0, FP32, BF16, "cpu")
    assert lora.model_init_kwargs is None
    assert not rl._rloo_args(TrainingConfig(), tmp_path, 0, FP32, FP32, "cpu").bf16


def test_bf16_mixed_trains_fp32_weights_under_bf16_autocast_on_cpu(tiny_model_dir, tmp_path, monkeypatch):
    """fp32 master weights (saved in fp32, every one updated), matmuls in bf16: a Linear layer
    of the model being trained holds fp32 weights and returns bf16 outputs."""
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    seen = {}

    class WatchFirstProjection(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            seen["bf16"] = args.bf16
            projection = model.model.layers[0].self_attn.q_proj

            def hook(module, inputs, output):
                seen.setdefault("dtypes", (module.weight.dtype, output.dtype))
            projection.register_forward_hook(hook)

    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    config = TrainingConfig(**TINY_TRAINING, precision="bf16_mixed")
    summary = fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS, config, tmp_path / "out",
                        tmp_path / "state", seed=0, callbacks=[WatchFirstProjection()])
    assert summary["steps"] == 4
    assert seen == {"bf16": True, "dtypes": (FP32, BF16)}
    before, after = load_file(str(tiny_model_dir / "model.safetensors")), load_file(str(tmp_path / "out" / "model.safetensors"))
    assert before.keys() == after.keys() and all(value.dtype == FP32 for value in after.values())
    changed = {key for key in before if not (before[key] == after[key]).all()}
    assert any("q_proj" in key for key in changed) and any("mlp" in key for key in changed)  # full fine-tuning
