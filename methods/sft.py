"""``sft``: plain fine-tuning on the training mixture with the LM loss only.

The mixture is ToxiGen and WikiText in equal proportions (the paper's setup; the
embedded default uses stand-ins with the same columns).
"""
from methods._registry import Method, register_method


@register_method("sft")
class SFT(Method):
    trains = True

    def compute_loss(self, model, batch):
        """Mean next-token cross-entropy over non-padding tokens; no extra logs."""
        outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
        return outputs.loss, {}
