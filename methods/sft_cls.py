"""``sft_cls``: fine-tuning with a sequence-classification head, the Jigsaw table's
"SFT (classification)" row (METHOD.md section 5; Meng et al., Findings of EMNLP 2024).

The base LM gets a 2-class head (``AutoModelForSequenceClassification``, the last
non-padding token's hidden state -> toxic / not toxic) and is fine-tuned with
cross-entropy on (comment, label) pairs, through the shared Trainer settings of
``methods/_trainer.py`` (``TrainingConfig``: steps, learning rate, batch size,
max_length, precision, checkpoints and resume in the state folder, LoRA).

The paper also reports this model's generation toxicity, so ``fine_tune`` leaves a
causal-LM folder in ``out_dir``: the fine-tuned backbone with the *base* model's LM
head (the head was not trained; a base model with tied embeddings is untied so its
head stays the base's). The classifier itself is saved in ``out_dir/classifier/``.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from methods._registry import Method, register_method

NUM_LABELS = 2  # 0 = not toxic, 1 = toxic (Jigsaw's `toxic` column)
CLASSIFIER_DIR = "classifier"  # inside the checkpoint's model folder


def encode_examples(tokenizer, rows: list[dict], max_length: int) -> list[dict]:
    """Token ids (the tokenizer's special tokens, cut to ``max_length``) and class labels."""
    return [
        {"input_ids": tokenizer(row["text"], truncation=True, max_length=max_length)["input_ids"], "label": row["label"]}
        for row in rows
    ]


class ClassificationCollator:
    """Right-pads a batch; ``labels`` are the class labels."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict:
        import torch

        from methods._trainer import right_pad

        input_ids, attention_mask = right_pad([f["input_ids"] for f in features], self.pad_token_id)
        labels = torch.tensor([f["label"] for f in features], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@register_method("sft_cls")
class SFTClassification(Method):
    trains = True

    def prepare_data(self, rows: list[dict]) -> list[dict]:
        """Classifier examples ``{text: comment, label}`` (Jigsaw rows carry ``comment``;
        other rows use ``text``)."""
        examples = []
        for number, row in enumerate(rows, 1):
            if "label" not in row:
                raise ValueError(
                    f"sft_cls needs a 'label' (0/1) on every training row; row {number} has none "
                    f"(columns: {', '.join(row)}). Train it on the Jigsaw rows (results/jigsaw/data/train.jsonl)"
                )
            if row["label"] not in (0, 1):
                raise ValueError(f"sft_cls: row {number} has label {row['label']!r}; labels must be 0 or 1")
            examples.append({"text": row.get("comment", row.get("text")), "label": int(row["label"])})
        if len({example["label"] for example in examples}) < NUM_LABELS:
            raise ValueError(f"sft_cls: the {len(examples)} training rows hold one class only; a classifier needs both")
        return examples

    def compute_loss(self, model, batch):
        """Cross-entropy of the head's logits against the class labels; logs batch accuracy."""
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        accuracy = (out.logits.argmax(-1) == batch["labels"]).float().mean()
        return out.loss, {"accuracy": accuracy.detach()}

    def fine_tune(self, base_path, rows, config, out_dir, state_dir, seed, scorer=None, callbacks=None) -> dict:
        from transformers import AutoModelForSequenceClassification, set_seed

        from methods._trainer import _method_trainer_class, _wrap_lora, last_checkpoint, throughput_meter, training_arguments
        from modeling.load import load_tokenizer, pick_device, training_dtypes

        set_seed(seed)
        device = pick_device()
        weights_dtype, compute_dtype = training_dtypes(config.precision, device)
        tokenizer = load_tokenizer(base_path, padding_side="right")
        model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=NUM_LABELS, dtype=weights_dtype)
        model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-padding token
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            model.config.use_cache = False
        if config.lora:
            model = _wrap_lora(model, config.lora, task_type="SEQ_CLS")
        meter = throughput_meter()
        trainer = _method_trainer_class()(
            model=model, args=training_arguments(config, state_dir, seed, compute_dtype, device),
            train_dataset=encode_examples(tokenizer, rows, config.max_length),
            data_collator=ClassificationCollator(tokenizer.pad_token_id), method=self,
            callbacks=list(callbacks or []) + [meter],
        )
        resume_from = last_checkpoint(state_dir)
        if resume_from:
            print(f"resuming from {resume_from}", flush=True)
        trainer.train(resume_from_checkpoint=resume_from)

        classifier = trainer.model.merge_and_unload() if config.lora else trainer.model
        out_dir = Path(out_dir)
        tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
        shutil.rmtree(tmp_dir, ignore_errors=True)
        causal_lm_with_backbone(base_path, classifier, weights_dtype).save_pretrained(tmp_dir)
        classifier.save_pretrained(tmp_dir / CLASSIFIER_DIR)
        tokenizer.padding_side = "left"
        tokenizer.save_pretrained(tmp_dir)
        tokenizer.save_pretrained(tmp_dir / CLASSIFIER_DIR)
        summary = {
            "steps": trainer.state.global_step,
            "resumed_from": resume_from,
            "n_train_rows": len(rows),
            "classifier_path": str((out_dir / CLASSIFIER_DIR).resolve()),
            **meter.summary(),
            "log_history": trainer.state.log_history,
        }
        (tmp_dir / "training_log.json").write_text(json.dumps(summary, indent=2) + "\n")
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp_dir.rename(out_dir)  # the final folder appears only when complete
        return summary


def causal_lm_with_backbone(base_path: str | os.PathLike, classifier, dtype=None):
    """The base causal LM with ``classifier``'s backbone weights and its own (base) LM head.

    With tied input/output embeddings the fine-tuned input embeddings would replace the
    head, so the head is untied (``tie_word_embeddings: false``) and keeps the base's weights.
    """
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=dtype)
    head = model.get_output_embeddings()
    if head.weight is model.get_input_embeddings().weight:
        head.weight = torch.nn.Parameter(head.weight.detach().clone())
    model.config.tie_word_embeddings = False
    model.base_model.load_state_dict(classifier.base_model.state_dict(), strict=True)
    return model
