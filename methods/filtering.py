"""``filtering``: drop training examples the toxicity scorer flags, then ``sft``.

The paper's Filtering baseline; the threshold is our choice (0.5, the scorer's
decision boundary), configurable.
"""
import dataclasses

from methods._registry import MethodConfig, register_method
from methods.sft import SFT


@dataclasses.dataclass
class FilteringConfig(MethodConfig):
    threshold: float = 0.5  # drop rows with toxicity >= threshold


@register_method("filtering")
class Filtering(SFT):
    config_class = FilteringConfig

    def prepare_data(self, rows):
        missing = [i for i, row in enumerate(rows, 1) if "toxicity" not in row]
        if missing:
            raise ValueError(
                f"filtering needs a 'toxicity' score on every training row (row {missing[0]} has none): "
                f"train on the scored mixture written by the `score_mixture` rule"
            )
        kept = [row for row in rows if row["toxicity"] < self.config.threshold]
        if not kept:
            raise ValueError(f"filtering at threshold {self.config.threshold} dropped every training row")
        return kept
