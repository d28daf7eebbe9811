"""NADO: exact math on small tensors and an enumerable world; training on a synthetic oracle."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from nado.math import bernoulli_kl, guided_kl, guided_log_probs, nado_losses, token_r_logits


def test_q_is_p_times_r_renormalised():
    torch.manual_seed(0)
    log_p = torch.log_softmax(torch.randn(3, 7), dim=-1)
    c = torch.randn(3, 7) * 3
    q = guided_log_probs(log_p, c).exp()
    r = torch.sigmoid(c)
    expected = log_p.exp() * r / (log_p.exp() * r).sum(-1, keepdim=True)
    torch.testing.assert_close(q, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(q.sum(-1), torch.ones(3))


def test_log_space_survives_extreme_logits():
    log_p = torch.log_softmax(torch.tensor([[0.0, -200.0, 5.0]]), dim=-1)
    c = torch.tensor([[-300.0, 80.0, 0.0]])
    log_q = guided_log_probs(log_p, c)
    assert torch.isfinite(log_q[:, 1:]).all() and torch.isclose(log_q.exp().sum(), torch.tensor(1.0))


def test_zero_logits_leave_p_unchanged():
    log_p = torch.log_softmax(torch.randn(2, 4, 9), dim=-1)
    torch.testing.assert_close(guided_log_probs(log_p, torch.zeros_like(log_p)), log_p)


# A tiny enumerable world: vocabulary {0, 1, 2}, sequences of exactly 3 tokens.
VOCAB, LENGTH = 3, 3


def _world(seed=0):
    g = torch.Generator().manual_seed(seed)
    prefixes = [p for n in range(LENGTH) for p in itertools.product(range(VOCAB), repeat=n)]
    p_next = {prefix: torch.softmax(torch.randn(VOCAB, generator=g) * 2, 0) for prefix in prefixes}
    oracle = {y: float(torch.rand(1, generator=g)) * 0.9 + 0.05 for y in itertools.product(range(VOCAB), repeat=LENGTH)}
    return p_next, oracle


def _p_seq(p_next, y):
    return math.prod(float(p_next[y[:t]][y[t]]) for t in range(len(y)))


def _r(p_next, oracle, prefix):
    """R(prefix) = E_p[C | prefix], by enumeration: the consistent R."""
    rest = LENGTH - len(prefix)
    return sum(_p_seq(p_next, prefix + tail) / _p_seq(p_next, prefix) * oracle[prefix + tail]
               for tail in itertools.product(range(VOCAB), repeat=rest))


def test_consistent_r_gives_exactly_the_target_distribution():
    p_next, oracle = _world()
    z = sum(_p_seq(p_next, y) * oracle[y] for y in oracle)
    for y in oracle:
        q_y = 1.0
        for t in range(LENGTH):
            prefix = y[:t]
            r_next = torch.tensor([_r(p_next, oracle, prefix + (v,)) for v in range(VOCAB)], dtype=torch.float64)
            c = torch.log(r_next) - torch.log1p(-r_next)  # logit of R
            log_q = guided_log_probs(torch.log(p_next[prefix].double()), c)
            q_y *= float(log_q[y[t]].exp())
        assert q_y == pytest.approx(_p_seq(p_next, y) * oracle[y] / z, rel=1e-9)


def test_consistency_term_is_the_explicit_bernoulli_kl():
    torch.manual_seed(1)
    batch, length, vocab = 2, 5, 6
    c = torch.randn(batch, length, vocab)
    log_p = torch.log_softmax(torch.randn(batch, length, vocab), -1)
    ids = torch.randint(0, vocab, (batch, length))
    mask = torch.tensor([[0, 1, 1, 1, 1], [0, 0, 1, 1, 0]])  # prompt, continuation, padding
    labels = torch.tensor([0.8, 0.1])
    for direction in ("expected_to_token", "token_to_expected"):
        out = nado_losses(c, log_p, ids, mask, labels, consistency_weight=0.5, consistency_kl=direction)
        kls, bces = [], []
        for b in range(batch):
            for t in range(1, length):
                if not mask[b, t]:
                    continue
                r_t = torch.sigmoid(c[b, t - 1, ids[b, t]])
                bces.append(-(labels[b] * torch.log(r_t) + (1 - labels[b]) * torch.log(1 - r_t)))
                if t + 1 < length and mask[b, t + 1]:
                    e_t = (log_p[b, t].exp() * torch.sigmoid(c[b, t])).sum()
                    a, bb = (e_t, r_t) if direction == "expected_to_token" else (r_t, e_t)
                    kls.append(a * torch.log(a / bb) + (1 - a) * torch.log((1 - a) / (1 - bb)))
        torch.testing.assert_close(out["consistency"], torch.stack(kls).mean(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out["bce"], torch.stack(bces).mean(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out["loss"], out["bce"] + 0.5 * out["consistency"])


def test_bernoulli_kl_is_zero_on_equal_and_positive_otherwise():
    a = torch.tensor([0.2, 0.7])
    b = torch.tensor([0.2, 0.1])
    kl = bernoulli_kl(a.log(), (1 - a).log(), b.log(), (1 - b).log())
    assert kl[0].abs() < 1e-7 and kl[1] > 0
    assert token_r_logits(torch.arange(24.).view(1, 4, 6), torch.tensor([[0, 2, 5, 1]])).tolist() == [[2.0, 11.0, 13.0]]


def test_unknown_kl_direction_is_rejected():
    with pytest.raises(ValueError, match="consistency_kl"):
        nado_losses(torch.zeros(1, 3, 2), torch.zeros(1, 3, 2), torch.zeros(1, 3, dtype=torch.long),
                    torch.ones(1, 3), torch.ones(1), consistency_kl="sideways")


def test_guided_kl_value_and_gradient_match_autograd_through_the_definition():
    torch.manual_seed(0)
    logits = (3 * torch.randn(5, 7, dtype=torch.float64)).requires_grad_(True)
    c = 4 * torch.randn(5, 7, dtype=torch.float64)
    log_p = torch.log_softmax(logits, dim=-1)
    log_q = torch.log_softmax(log_p.detach() + F.logsigmoid(c), dim=-1)
    reference = (log_q.exp() * (log_q - log_p)).sum(-1)
    (grad_reference,) = torch.autograd.grad(reference.sum() * 2, logits)
    kl = guided_kl(logits, c)
    (grad,) = torch.autograd.grad(kl.sum() * 2, logits)
    torch.testing.assert_close(kl.double(), reference, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grad.double(), grad_reference, rtol=1e-5, atol=1e-7)
    # the gradient of KL(q || p_theta) with q held fixed is p - q
    torch.testing.assert_close(grad_reference, 2 * (log_p.exp() - log_q.exp()).detach())
    assert (kl >= -1e-7).all()


@pytest.mark.parametrize("logits_dtype", [torch.float32, torch.bfloat16])
def test_guided_kl_of_a_nearly_flat_r_is_accurate_and_not_negative(logits_dtype):
    """A young NADO's R is nearly constant, so KL(q || p) is tiny: computed as the difference
    of two numbers near log 0.5 over a 49k vocabulary it would be fp32 rounding noise, often
    negative (bf16 logits, as under autocast, included). Shifting log R by a constant changes
    neither q nor the KL, and leaves only small numbers to subtract."""
    torch.manual_seed(0)
    logits = (3 * torch.randn(16, 49152)).to(logits_dtype)
    c = 1e-2 * torch.randn(16, 49152)
    log_p = torch.log_softmax(logits.double(), dim=-1)
    log_q = torch.log_softmax(log_p + F.logsigmoid(c.double()), dim=-1)
    reference = (log_q.exp() * (log_q - log_p)).sum(-1)  # float64, ~1e-5
    kl = guided_kl(logits.requires_grad_(True), c)
    assert kl.dtype == torch.float32 and (kl >= 0).all()
    torch.testing.assert_close(kl.double(), reference, rtol=1e-3, atol=0)


def test_guided_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        guided_kl(torch.zeros(2, 5), torch.zeros(2, 4))
