"""``base``: the pretrained model, no fine-tuning (the paper's "Baseline" rows)."""
from methods._registry import Method, register_method


@register_method("base")
class Base(Method):
    trains = False
