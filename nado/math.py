"""The closed form and the NADO training losses, in log space (METHOD.md sections 1-2).

Indexing: ``c[:, t, v]`` is read at position t (after consuming tokens ``y_0..y_t``),
so ``R(x, y_<=t, v) = sigmoid(c[:, t, v])`` and the R of the token actually taken at
position t is ``sigmoid(c[:, t-1, y_t])``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def guided_log_probs(log_p: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """``log q = log_softmax(log p + logsigmoid(c))``: p reweighted by R, renormalised."""
    return torch.log_softmax(log_p + F.logsigmoid(c), dim=-1)


def bernoulli_kl(log_a: torch.Tensor, log1m_a: torch.Tensor, log_b: torch.Tensor, log1m_b: torch.Tensor) -> torch.Tensor:
    """``KL(Bern(a) || Bern(b))`` from log-probabilities (never ``log`` of a probability)."""
    return log_a.exp() * (log_a - log_b) + log1m_a.exp() * (log1m_a - log1m_b)


def token_r_logits(c: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``c[:, t-1, y_t]`` for t >= 1, shape [B, T-1]: the logit of R after taking y_t."""
    return c[:, :-1, :].gather(-1, input_ids[:, 1:, None]).squeeze(-1)


def consistency_positions(continuation_mask: torch.Tensor) -> torch.Tensor:
    """bool [B, T]: the positions t (1 <= t <= T-2) where ``E_t`` pairs with ``R_t``.

    Both y_t and y_{t+1} are continuation tokens there; the consistency term reads the
    vocabulary-wide ``c_t`` and ``log p_t`` at these positions only."""
    mask = continuation_mask.bool()
    pairs = torch.zeros_like(mask)
    pairs[:, 1:-1] = mask[:, 1:-1] & mask[:, 2:]
    return pairs


def nado_losses(
    c: torch.Tensor,
    base_log_p: torch.Tensor,
    input_ids: torch.Tensor,
    continuation_mask: torch.Tensor,
    labels: torch.Tensor,
    consistency_weight: float = 1.0,
    consistency_kl: str = "expected_to_token",
) -> dict[str, torch.Tensor]:
    """The NADO objective for a batch, from dense tensors.

    - ``c``: auxiliary logits [B, T, V]; ``base_log_p``: the base LM's log-probs [B, T, V]
      (``base_log_p[:, t]`` is p(. | y_<=t)); ``input_ids`` [B, T];
    - ``continuation_mask`` [B, T]: 1 on continuation tokens (prompt and padding are 0);
    - ``labels`` [B]: the oracle's value for the whole sequence, in [0, 1].

    ``bce``: binary cross-entropy of ``sigmoid(c_{t-1}[y_t])`` against the label, over
    continuation tokens (``binary_cross_entropy_with_logits`` on the raw logit: one
    sigmoid, not the prototype's two). ``consistency``: at continuation positions t that
    have a next continuation token, the Bernoulli KL between ``R_t = sigmoid(c_{t-1}[y_t])``
    and ``E_t = sum_v p(v | y_<=t) sigmoid(c_t[v])`` (the consistency identity
    ``R(y_<=t) = E_p[R(y_<=t, v)]``). Both are means over their positions.
    """
    r_logit = F.pad(token_r_logits(c, input_ids), (1, 0))  # [B, T]: column t is R_t's logit, t >= 1
    pairs = consistency_positions(continuation_mask)
    return nado_objective(r_logit, continuation_mask, labels, c[pairs], base_log_p[pairs],
                          consistency_weight, consistency_kl)


def nado_objective(r_logit: torch.Tensor, continuation_mask: torch.Tensor, labels: torch.Tensor, c_pairs: torch.Tensor,
                   log_p_pairs: torch.Tensor, consistency_weight: float = 1.0,
                   consistency_kl: str = "expected_to_token") -> dict[str, torch.Tensor]:
    """``nado_losses`` from the parts it reads, so a caller computes only those.

    - ``r_logit`` [B, T]: ``c_{t-1}[y_t]`` in column t (column 0 is not read);
    - ``c_pairs``, ``log_p_pairs`` [N, V]: ``c_t`` and ``log p_t`` at
      ``consistency_positions(continuation_mask)``, in row-major order.

    The vocabulary-wide work is then N x V, with N the consistency positions, instead of
    B x T x V (prompt and padding positions are most of T).
    """
    if consistency_kl not in ("expected_to_token", "token_to_expected"):
        raise ValueError(f"consistency_kl must be expected_to_token or token_to_expected, got {consistency_kl!r}")
    tokens = continuation_mask.bool().clone()
    tokens[:, 0] = False  # y_0 has no R: nothing precedes it
    pairs = consistency_positions(continuation_mask)
    target = labels.to(r_logit.dtype)[:, None].expand_as(r_logit)
    bce = F.binary_cross_entropy_with_logits(r_logit[tokens], target[tokens], reduction="sum") / tokens.sum().clamp(min=1)

    log_e = torch.logsumexp(log_p_pairs + F.logsigmoid(c_pairs), dim=-1)  # [N]
    log1m_e = torch.logsumexp(log_p_pairs + F.logsigmoid(-c_pairs), dim=-1)
    r_pairs = r_logit[pairs]
    log_r, log1m_r = F.logsigmoid(r_pairs), F.logsigmoid(-r_pairs)
    if consistency_kl == "expected_to_token":
        kl = bernoulli_kl(log_e, log1m_e, log_r, log1m_r)
    else:
        kl = bernoulli_kl(log_r, log1m_r, log_e, log1m_e)
    consistency = kl.sum() / pairs.sum().clamp(min=1)
    return {"loss": bce + consistency_weight * consistency, "bce": bce, "consistency": consistency}


class _GuidedKL(torch.autograd.Function):
    """``KL(q || p_theta)`` per row with q built from stopgrad(p_theta); gradient ``p - q``.

    One fused pass instead of autograd through two log-softmaxes: the [N, V] tensors
    are the training step's largest after the logits themselves. With ``q = p r / Z``
    (``Z = sum_v p r``), ``KL = sum_v q log(q / p) = sum_v q log r - log Z``; and since q is
    held fixed, ``d KL / d logits = p - q``.

    Computed in fp32 whatever the logits' dtype (bf16 under autocast), and in a form that
    keeps a small KL accurate: a young NADO's r is nearly flat (KL ~1e-6), and
    ``sum q log r - log Z`` is then the difference of two numbers near log 0.5, each summed
    over the vocabulary: fp32 noise of either sign (fp32 does not even sum p to exactly 1).
    Instead log r is shifted by its mean under p (``s = log r - m``; q and the KL are
    unchanged by any shift), so ``Z = 1 + sum_v p expm1(s)`` and ``KL = sum_v q s - log1p(Z - 1)``
    subtract only small second-order terms. ``m`` is kept within 60 of ``max log r`` so
    ``exp(s)`` cannot overflow.
    """

    @staticmethod
    def forward(ctx, logits, log_r):
        p = torch.softmax(logits.float(), dim=-1)
        mean = torch.linalg.vecdot(p, log_r, dim=-1).unsqueeze(-1)
        shift = log_r - torch.maximum(mean, log_r.amax(dim=-1, keepdim=True) - 60.0)
        ratio_m1 = torch.expm1(shift)
        z_minus_1 = torch.linalg.vecdot(p, ratio_m1, dim=-1).unsqueeze(-1)
        q = torch.addcmul(p, p, ratio_m1).div_(1 + z_minus_1)  # p exp(shift) / Z
        del ratio_m1
        kl = torch.linalg.vecdot(q, shift, dim=-1) - torch.log1p(z_minus_1).squeeze(-1)
        ctx.save_for_backward(p.sub_(q))  # p - q, in p's storage
        ctx.logits_dtype = logits.dtype
        return kl

    @staticmethod
    def backward(ctx, grad_kl):
        (p_minus_q,) = ctx.saved_tensors
        return (grad_kl.unsqueeze(-1) * p_minus_q).to(ctx.logits_dtype), None


def guided_kl(logits: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Per-position ``KL(q_t || p_theta,t)`` with ``q_t = softmax(stopgrad(log p_theta,t) + logsigmoid(c_t))``.

    The regularizer of the paper's fine-tuning objective (METHOD.md section 3): the
    desired distribution first, q built from the *current* model. Its gradient is the
    soft-label cross-entropy's (``CE(q, p) = KL(q || p) + H(q)`` with q fixed), but the
    value returned is the KL itself. ``logits`` and ``c`` are [..., V]; the result has
    their leading shape (e.g. [B, T], or [N] for N selected positions). No gradient
    flows into ``c``.
    """
    if logits.shape != c.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and NADO logits c {tuple(c.shape)} must have the same shape")
    return _GuidedKL.apply(logits, F.logsigmoid(c.detach().float()))
