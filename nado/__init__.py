"""NADO: the neurally-decomposed oracle (Meng et al., NeurIPS 2022), as a component.

Given a base LM ``p`` and a sequence-level oracle ``C(x, y)`` in [0, 1], an auxiliary
model outputs, for every prefix and every vocabulary entry ``v``, a logit ``c_t[v]``
with ``R(x, y_<=t, v) = sigmoid(c_t[v])``, the probability that a continuation sampled
from ``p`` after that prefix satisfies ``C``. Decoding from
``log q_t = log_softmax(log p_t + logsigmoid(c_t))`` samples from
``q*(y|x) ∝ p(y|x) C(x, y)`` when R is consistent (METHOD.md sections 1-2).

- ``nado.math``: the closed form and the training losses (pure tensor functions).
- ``nado.model``: the auxiliary model (a few transformer layers over the frozen base
  model's last hidden states, a zero-initialised vocabulary head); save/load.
- ``nado.sampling``: prompts -> ancestral samples of the current LM -> labels.
- ``nado.train``: fitting the auxiliary model, with checkpoints and resume.
- ``nado.decode``: the token guide for our decoding loop, and an lm-eval model class.
- ``nado.settings``: the options (``nado:`` in a method's config entry).

Nothing here imports torch at package import time.
"""
