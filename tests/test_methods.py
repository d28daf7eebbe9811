"""The method registry and the shared training loop, on a tiny random model."""
import dataclasses

import pytest

import methods
from methods._registry import Method, MethodConfig, register_method
from methods._trainer import CausalCollator, TrainingConfig, fine_tune

ROWS = [
    {"text": f"Sentence number {i} about the weather and the sea.", "domain": d, "toxicity": t}
    for i, (d, t) in enumerate([("general", 0.1), ("toxicity", 0.9), ("toxicity", 0.2), ("general", 0.0)] * 4)
]


def test_unknown_method_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown method type 'ppo'; known methods: .*base.*filtering.*sft"):
        methods.build_method("ppo", {})
    with pytest.raises(ValueError, match=r"^methods\.strict: unknown method type 'filterng'"):  # the entry is named
        methods.build_method("strict", {"type": "filterng"})


def test_unknown_option_is_rejected_with_known_ones():
    with pytest.raises(ValueError, match=r"methods.filtering: unknown option\(s\) \['treshold'\].*threshold"):
        methods.build_method("filtering", {"treshold": 0.5})


def test_entry_name_and_type_can_differ():
    method = methods.build_method("filtering_strict", {"type": "filtering", "threshold": 0.2})
    assert method.name == "filtering" and method.config.threshold == 0.2


def test_register_rejects_duplicates_and_non_methods():
    with pytest.raises(ValueError, match="already registered"):
        register_method("sft")(type("Other", (Method,), {}))
    with pytest.raises(TypeError, match="subclass of Method"):
        register_method("thing")(object)


def test_filtering_drops_flagged_rows_only():
    method = methods.build_method("filtering", {"threshold": 0.5})
    kept = method.prepare_data(ROWS)
    assert len(kept) == 12 and all(row["toxicity"] < 0.5 for row in kept)
    assert methods.build_method("sft", {}).prepare_data(ROWS) == ROWS
    with pytest.raises(ValueError, match="score_mixture"):
        method.prepare_data([{"text": "x"}])


def test_collator_masks_padding_in_labels():
    batch = CausalCollator(pad_token_id=0)([{"input_ids": [5, 6, 7], "domain": 1}, {"input_ids": [8], "domain": 0}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["labels"].tolist() == [[5, 6, 7], [8, -100, -100]]
    assert batch["domain"].tolist() == [1, 0]


def test_training_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['lr'\]"):
        TrainingConfig.from_dict({"lr": 1e-3})


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


TINY_TRAINING = dict(max_steps=4, batch_size=4, max_length=16, learning_rate=1e-2, save_steps=2, logging_steps=1)


def test_sft_changes_parameters(tiny_model_dir, tmp_path):
    summary = fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS,
                        TrainingConfig(**TINY_TRAINING), tmp_path / "out", tmp_path / "state", seed=0)
    assert summary["steps"] == 4 and summary["resumed_from"] is None
    before, after = _weights(tiny_model_dir), _weights(tmp_path / "out")
    assert before.keys() == after.keys()
    assert any(not (before[k] == after[k]).all() for k in before)


def test_lora_is_merged_into_a_plain_checkpoint(tiny_model_dir, tmp_path):
    config = TrainingConfig(**TINY_TRAINING, lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]})
    summary = fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS, config, tmp_path / "out",
                        tmp_path / "state", seed=0)
    assert summary["lora_modules"] == ["q_proj", "v_proj"] and summary["world_size"] == 1  # recorded in training_log.json
    before, after = _weights(tiny_model_dir), _weights(tmp_path / "out")
    assert before.keys() == after.keys()  # no lora_A / lora_B left: lm_eval --model hf loads it
    changed = {k for k in before if not (before[k] == after[k]).all()}
    assert changed and all("q_proj" in k or "v_proj" in k for k in changed)


def test_interrupted_training_resumes_to_identical_weights(tiny_model_dir, tmp_path):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt("simulated kill")

    config = TrainingConfig(**TINY_TRAINING)
    sft = methods.build_method("sft", {})
    fine_tune(sft, str(tiny_model_dir), ROWS, config, tmp_path / "straight", tmp_path / "s1", seed=0)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(sft, str(tiny_model_dir), ROWS, config, tmp_path / "resumed", tmp_path / "s2", seed=0, callbacks=[Crash()])
    assert not (tmp_path / "resumed").exists()  # no partial output that looks complete
    summary = fine_tune(sft, str(tiny_model_dir), ROWS, config, tmp_path / "resumed", tmp_path / "s2", seed=0)
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["steps"] == 4
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    for key in straight:
        assert (straight[key] == resumed[key]).all(), key


def test_option_types_are_checked_when_the_config_is_read():
    """A wrongly typed option fails where the workflow parses the config, naming entry and option."""
    from methods._trainer import TrainingConfig

    with pytest.raises(ValueError, match=r"methods\.strong\.kl_weight: expected float, got 'high'"):
        methods.build_method("strong", {"type": "regularized", "kl_weight": "high"})
    with pytest.raises(ValueError, match=r"methods\.strong\.nado\.layers: expected int, got 'two'"):
        methods.build_method("strong", {"type": "regularized", "nado": {"layers": "two"}})
    with pytest.raises(ValueError, match=r"methods\.x\.training\.max_steps: expected int, got '10'"):
        TrainingConfig.from_dict({"max_steps": "10"}, where="methods.x.training")
    with pytest.raises(ValueError, match=r"training\.gradient_checkpointing: expected bool, got 1"):
        TrainingConfig.from_dict({"gradient_checkpointing": 1})
    # YAML's 1 for a float option, null for an optional one, and either type of a union are fine
    assert methods.build_method("r", {"type": "regularized", "kl_weight": 1, "kl_weight_general": None}).config.kl_weight == 1
    assert TrainingConfig.from_dict({"fsdp": "full_shard", "lora": None}).fsdp == "full_shard"


def test_a_second_registration_of_a_name_names_both_files():

    with pytest.raises(ValueError, match=r"already registered by methods\.sft \(.*methods/sft\.py\); .*test_methods.*registers it again"):
        @register_method("sft")
        class AnotherSFT(Method):
            pass


def test_every_numeric_field_of_a_row_reaches_compute_loss_in_batch_order(tiny_model_dir, tmp_path):
    """A method sees its rows' data in the loss: batch[name] holds row b's value at position b
    (NaN where a row lacks the field); text and strings stay out."""
    import math

    from methods.sft import SFT
    from modeling.load import load_tokenizer

    rows = [{"text": f"Row {i} says hello.", "domain": "general", "toxicity": i / 10, "source": "x",
             **({"weight": float(i)} if i % 2 else {})} for i in range(8)]
    seen = []

    class Recording(SFT):  # a method of a user's, unregistered
        def compute_loss(self, model, batch):
            seen.append({key: value.tolist() for key, value in batch.items()})
            return super().compute_loss(model, batch)

    config = TrainingConfig(max_steps=2, batch_size=4, max_length=16, save_steps=10, logging_steps=1)
    fine_tune(Recording(MethodConfig(type="sft")), str(tiny_model_dir), rows, config, tmp_path / "out", tmp_path / "state", seed=0)
    tokenizer = load_tokenizer(tiny_model_dir)
    checked = 0
    for batch in seen:
        assert "source" not in batch and "text" not in batch
        for b, (ids, mask) in enumerate(zip(batch["input_ids"], batch["attention_mask"])):
            text = tokenizer.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=True)
            i = int(text.split()[1])
            assert batch["toxicity"][b] == pytest.approx(i / 10)
            assert (batch["weight"][b] == float(i)) if i % 2 else math.isnan(batch["weight"][b])
            checked += 1
    assert checked == 8


def test_a_row_field_named_like_a_batch_entry_is_rejected():
    from methods._trainer import row_fields

    with pytest.raises(ValueError, match=r"\['labels'\].*rename them in prepare_data"):
        row_fields([{"text": "a", "labels": 1}])
    assert row_fields([{"text": "a", "toxicity": 0.5, "flag": True, "domain": "general"}, {"text": "b", "label": 1}]) == \
        ["flag", "label", "toxicity"]


def test_group_by_length_batches_pad_less_and_see_every_row(tiny_model_dir, tmp_path):
    from methods.sft import SFT

    class Recording(SFT):
        def __init__(self):
            super().__init__(MethodConfig())
            self.masks = []

        def compute_loss(self, model, batch):
            self.masks.append(batch["attention_mask"].clone())
            return super().compute_loss(model, batch)

    words = "one two three four five six seven eight nine ten eleven twelve thirteen".split()
    rows = [{"text": " ".join(words[: 1 + (7 * i) % 13]), "domain": "general", "id": i} for i in range(64)]
    padding = {}
    for grouped in (False, True):
        method = Recording()
        config = TrainingConfig(**{**TINY_TRAINING, "max_steps": 16, "save_steps": 100, "group_by_length": grouped})
        fine_tune(method, str(tiny_model_dir), rows, config, tmp_path / f"out{grouped}", tmp_path / f"s{grouped}", seed=0)
        masks = method.masks
        assert sum(mask.shape[0] for mask in masks) == 64  # one epoch: every row once, either way
        padding[grouped] = sum((mask == 0).sum().item() for mask in masks) / sum(mask.numel() for mask in masks)
    assert padding[True] < 0.5 * padding[False], padding
