"""``nado``: NADO decoding (Meng et al., NeurIPS 2022), the paper's "NADO decoding" rows.

The base model, unchanged, plus an auxiliary model trained on the base model's own
samples labelled by the toxicity scorer; generation and the utility benchmarks both
run under ``q = softmax(log p + logsigmoid(c))`` (nado/). In the workflow it is the
``base`` method with a different decoder: no fine-tuning, a ``train_nado`` job.
"""
import dataclasses

from methods._registry import MethodConfig, register_method
from methods.base import Base
from nado.settings import NADOSettings


@dataclasses.dataclass
class NADOMethodConfig(MethodConfig):
    nado: dict = dataclasses.field(default_factory=dict)  # NADOSettings options (nado/settings.py)

    def __post_init__(self):
        self.settings = NADOSettings.from_dict(self.nado, where=f"{self.where}.nado")


@register_method("nado")
class NADODecoding(Base):
    config_class = NADOMethodConfig
    guided = True  # decodes under q: the workflow trains a NADO for it
