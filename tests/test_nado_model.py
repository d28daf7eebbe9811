"""The NADO component on tiny models: zero-init is a no-op, training learns an oracle,
checkpoints resume, and lm-eval scores under q."""
import json

import pytest
import torch

from conftest import as_accelerate_bf16
from nado.decode import NADOGuide
from nado.model import NADOArchitecture, NADOModel, build_nado, load_nado, save_nado
from nado.settings import NADOSettings
from nado.train import BaseOutputCache, NADOTrainer, base_outputs, collate


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_model_dir, device="cpu"), load_tokenizer(tiny_model_dir)


def test_zero_initialised_head_leaves_sampling_identical(tiny):
    from evaluation.generate import sample_batch

    model, tokenizer = tiny
    torch.manual_seed(0)
    guide = NADOGuide(build_nado(model.config, NADOSettings(layers=1, width=32, heads=2)))
    prompts = ["The weather today is", "A much longer prompt about the sea and the sky", "Hi"]
    draw = lambda g: sample_batch(model, tokenizer, prompts, max_new_tokens=6, temperature=1.0,
                                  generator=torch.Generator().manual_seed(3), guide=g)
    assert draw(guide) == draw(None)


def test_guide_with_cache_matches_a_full_forward(tiny):
    """Incremental decoding (KV cache in base and NADO) gives the full-sequence logits."""
    model, tokenizer = tiny
    torch.manual_seed(0)
    nado = build_nado(model.config, NADOSettings(layers=2, width=32, heads=2))
    torch.nn.init.normal_(nado.head.weight, std=0.5)
    batch = tokenizer(["one two three four", "five"], return_tensors="pt", padding=True)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    guide = NADOGuide(nado)
    guide.reset(2)
    with torch.no_grad():
        out = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions[:, :-1],
                    use_cache=True, output_hidden_states=True)
        guide(out.hidden_states[-1], mask[:, :-1], positions[:, :-1])
        step = model(input_ids=ids[:, -1:], attention_mask=mask, position_ids=positions[:, -1:],
                     past_key_values=out.past_key_values, use_cache=True, output_hidden_states=True)
        incremental = guide(step.hidden_states[-1], mask, positions[:, -1:])
        full = model(input_ids=ids, attention_mask=mask, position_ids=positions, output_hidden_states=True)
        c, _ = nado(full.hidden_states[-1], attention_mask=mask, position_ids=positions)
    torch.testing.assert_close(incremental, torch.nn.functional.logsigmoid(c[:, -1]), rtol=1e-4, atol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    nado = NADOModel(NADOArchitecture(base_hidden_size=16, vocab_size=10, layers=1, width=8, heads=2))
    torch.nn.init.normal_(nado.head.weight)
    save_nado(nado, tmp_path / "n", extra={"note": 1})
    loaded = load_nado(tmp_path / "n")
    hidden = torch.randn(1, 3, 16)
    torch.testing.assert_close(loaded(hidden)[0], nado.eval()(hidden)[0])
    with pytest.raises(FileNotFoundError, match="not a NADO folder"):
        load_nado(tmp_path)


def test_selected_positions_are_the_full_forward_indexed():
    nado = NADOModel(NADOArchitecture(base_hidden_size=16, vocab_size=10, layers=1, width=8, heads=2)).eval()
    torch.nn.init.normal_(nado.head.weight)
    hidden, mask = torch.randn(3, 5, 16), torch.tensor([[1] * 5, [1, 1, 1, 0, 0], [1] * 4 + [0]])
    positions = torch.tensor([[0, 1, 0, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 1, 0]], dtype=torch.bool)
    full, _ = nado(hidden, attention_mask=mask)
    selected, _ = nado(hidden, attention_mask=mask, positions=positions)
    assert selected.shape == (int(positions.sum()), 10)
    torch.testing.assert_close(selected, full[positions])


def _ragged_examples(tokenizer, n_new=(5, 1, 3, 4)):
    """Examples with prompts of different lengths and continuations of ``n_new`` tokens."""
    torch.manual_seed(2)
    prompts = ["The weather today is", "Hi", "A much longer prompt about the sea, the sky and the hills", "Two words"]
    return [{"input_ids": tokenizer(p)["input_ids"] + torch.randint(5, 200, (n,)).tolist(),
             "prompt_len": len(tokenizer(p)["input_ids"]), "label": label, "row": i}
            for i, (p, n, label) in enumerate(zip(prompts, n_new, (0.9, 0.2, 0.5, 1.0)))]


def test_trainer_losses_equal_the_dense_objective_value_and_gradient(tiny):
    """The trainer's vocabulary-wide work only at consistency positions changes nothing."""
    from nado.math import nado_losses

    model, tokenizer = tiny
    examples = _ragged_examples(tokenizer)
    torch.manual_seed(0)
    settings = NADOSettings(layers=1, width=16, heads=2, batch_size=4, consistency_weight=0.7)
    trainer = NADOTrainer(build_nado(model.config, settings), model, examples, settings, seed=0, pad_token_id=0)
    for p in trainer.nado.parameters():
        torch.nn.init.normal_(p, std=0.3)
    batch = collate(examples, 0, "cpu")
    hidden = trainer.cache.hidden_batch(list(range(4)), batch["input_ids"].shape[1])
    ours = trainer.losses(batch, hidden)
    params = [p for name, p in trainer.nado.named_parameters() if "embed_tokens" not in name]  # inputs are hidden states
    ours_grads = torch.autograd.grad(ours["loss"], params)
    dense_hidden, log_p = base_outputs(model, batch)
    c, _ = trainer.nado(dense_hidden, attention_mask=batch["attention_mask"])
    dense = nado_losses(c, log_p, batch["input_ids"], batch["continuation_mask"], batch["labels"], consistency_weight=0.7)
    dense_grads = torch.autograd.grad(dense["loss"], params)
    assert dense["consistency"] > 0 and dense["bce"] > 0
    for key in ("loss", "bce", "consistency"):
        torch.testing.assert_close(ours[key], dense[key], rtol=1e-5, atol=1e-6)
    for mine, theirs in zip(ours_grads, dense_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-6)


def test_cache_keeps_the_positions_that_predict_a_token_and_reuses_known_states(tiny):
    model, tokenizer = tiny
    examples = _ragged_examples(tokenizer)
    computed = BaseOutputCache(model, examples, 0, batch_size=3)
    assert [len(h) for h in computed.hidden] == [len(e["input_ids"]) - 1 for e in examples]
    batch = collate(examples, 0, "cpu")
    full, _ = base_outputs(model, batch)
    for row, example in zip(range(4), examples):
        torch.testing.assert_close(computed.hidden[row], full[row, : len(example["input_ids"]) - 1], rtol=1e-4, atol=1e-5)

    calls = []
    hook = model.register_forward_hook(lambda module, args, kwargs_out: calls.append(1))
    try:
        known = {e["row"]: h.clone() for e, h in zip(examples, computed.hidden)}
        reused = BaseOutputCache(model, examples, 0, batch_size=3, known_hidden=known)
        assert len(calls) == 1  # one example, to check the reused states against the model
        assert all(reused.hidden[i] is known[e["row"]] for i, e in enumerate(examples))
        calls.clear()
        known[2] = known[2][:-1]  # a state of the wrong length is not trusted: that example is recomputed
        partial = BaseOutputCache(model, examples, 0, batch_size=3, known_hidden=known)
        assert len(calls) == 1 and partial.hidden[0] is known[0]
        torch.testing.assert_close(partial.hidden[2], computed.hidden[2])
        known = {e["row"]: h + 0.5 for e, h in zip(examples, computed.hidden)}
        with pytest.raises(RuntimeError, match="sampler's hidden states differ"):
            BaseOutputCache(model, examples, 0, batch_size=3, known_hidden=known)
    finally:
        hook.remove()


def _sampled_examples(model, tokenizer, prompts=("The weather today is", "Hi", "A much longer prompt about the sea")):
    """Ancestral samples of ``model`` as NADO examples, with the sampler's hidden states (row index -> [L-1, H])."""
    from evaluation.generate import sample_batch

    hidden = []
    samples = sample_batch(model, tokenizer, list(prompts), max_new_tokens=8, temperature=1.0,
                           generator=torch.Generator().manual_seed(0), return_ids=True, hidden_out=hidden)
    examples = [{"input_ids": tokenizer(p)["input_ids"] + ids, "prompt_len": len(tokenizer(p)["input_ids"]),
                 "label": 1.0, "row": i} for i, (p, (_, ids)) in enumerate(zip(prompts, samples))]
    return examples, dict(enumerate(hidden))


def test_cache_under_bf16_autocast_reuses_the_samplers_states_and_gives_the_models_p(tiny):
    """Under autocast the states and logits are bf16-rounded: the cache's output layer runs under
    the forward's own autocast (so it reproduces the logits) and its checks use bf16 tolerances."""
    model, tokenizer = tiny
    autocast_model = as_accelerate_bf16(model)
    examples, known = _sampled_examples(autocast_model, tokenizer)
    cache = BaseOutputCache(autocast_model, examples, tokenizer.pad_token_id, batch_size=2, known_hidden=known)
    assert all(cache.hidden[i] is known[i] for i in range(len(examples)))
    batch = collate(examples, tokenizer.pad_token_id, "cpu")
    with torch.no_grad():
        out = autocast_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
    mask = batch["attention_mask"].bool()
    # log p of the consistency term is the model's own, bf16 output layer and all (fp32 would be ~1e-2 off)
    torch.testing.assert_close(cache.log_p(out.hidden_states[-1][mask]), torch.log_softmax(out.logits[mask].float(), -1))
    settings = NADOSettings(layers=1, width=16, heads=2, batch_size=2, epochs=1)
    trainer = NADOTrainer(build_nado(model.config, settings), None, examples, settings, seed=0,
                          pad_token_id=tokenizer.pad_token_id, cache=cache)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in trainer.fit(progress=False))


def test_cache_checks_under_bf16_autocast_still_catch_a_wrong_head_and_wrong_states(tiny):
    model, tokenizer = tiny
    autocast_model = as_accelerate_bf16(model)
    examples, known = _sampled_examples(autocast_model, tokenizer)
    shifted = {i: torch.roll(h, 1, dims=0) for i, h in known.items()}  # states of the neighbouring positions
    with pytest.raises(RuntimeError, match="sampler's hidden states differ"):
        BaseOutputCache(autocast_model, examples, tokenizer.pad_token_id, known_hidden=shifted)
    scaled = {i: h * 1.1 for i, h in known.items()}  # 10% off: far beyond bf16 rounding (~0.4%)
    with pytest.raises(RuntimeError, match="sampler's hidden states differ"):
        BaseOutputCache(autocast_model, examples, tokenizer.pad_token_id, known_hidden=scaled)
    # An output layer that reads something other than the last hidden state (here: 10% more of it;
    # the cache's copy of the layer, which copies its hooks, reads the state itself).
    head = autocast_model.get_output_embeddings()
    hook = head.register_forward_pre_hook(lambda module, args: (args[0] * 1.1,) if module is head else None)
    try:
        for reused in (known, None):
            with pytest.raises(RuntimeError, match="not its output layer's input"):
                BaseOutputCache(autocast_model, examples, tokenizer.pad_token_id, known_hidden=reused)
    finally:
        hook.remove()


VOCAB, FORBIDDEN = 12, set(range(6))  # oracle: the continuation contains no token < 6


def _oracle_world(seed=0, n_prompts=96, new_tokens=3):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, bos_token_id=None, eos_token_id=None, pad_token_id=0)
    model = LlamaForCausalLM(config).eval().requires_grad_(False)
    prompts = torch.randint(6, VOCAB, (n_prompts, 4))
    samples = model.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=True, top_k=0, top_p=1.0,
                             max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=0)
    examples = []
    for row in samples.tolist():
        continuation = row[4:]
        examples.append({"input_ids": row, "prompt_len": 4, "label": float(not FORBIDDEN & set(continuation))})
    return model, prompts, examples


def _forbidden_mass(model, nado, prompts):
    """Mean probability, at the first continuation step, of a forbidden token: (p, q)."""
    batch = collate([{"input_ids": p, "prompt_len": 4, "label": 1.0} for p in prompts.tolist()], 0, "cpu")
    hidden, log_p = base_outputs(model, batch)
    with torch.no_grad():
        c, _ = nado(hidden)
    log_q = torch.log_softmax(log_p + torch.nn.functional.logsigmoid(c), -1)
    forbidden = sorted(FORBIDDEN)
    return log_p[:, -1, forbidden].exp().sum(-1).mean().item(), log_q[:, -1, forbidden].exp().sum(-1).mean().item()


def test_training_on_a_synthetic_oracle_lowers_violations(tmp_path):
    model, prompts, examples = _oracle_world()
    settings = NADOSettings(layers=1, width=32, heads=2, epochs=30, batch_size=32, learning_rate=3e-3)
    torch.manual_seed(0)
    nado = build_nado(model.config, settings)
    p_mass, q_mass_before = _forbidden_mass(model, nado, prompts)
    assert q_mass_before == pytest.approx(p_mass, abs=1e-6)  # zero head: q = p
    history = NADOTrainer(nado, model, examples, settings, seed=0, pad_token_id=0).fit(progress=False)
    assert history[-1]["bce"] < history[0]["bce"]
    _, q_mass = _forbidden_mass(model, nado, prompts)
    assert 0.3 < p_mass  # about half the vocabulary is forbidden under p
    assert q_mass < 0.6 * p_mass, (p_mass, q_mass)


def test_interrupted_nado_training_resumes_where_it_stopped(tmp_path):
    model, _, examples = _oracle_world(n_prompts=40)
    settings = NADOSettings(layers=1, width=16, heads=2, epochs=4, batch_size=16)

    def fresh():
        torch.manual_seed(0)
        return NADOTrainer(build_nado(model.config, settings), model, examples, settings, seed=0, pad_token_id=0)

    straight = fresh()
    straight.fit(progress=False)
    first = fresh()
    steps_per_epoch = first.steps_per_epoch
    for _ in range(steps_per_epoch * 2 + 1):  # two epochs saved, then "killed" mid-epoch
        first.step()
        if first.step_index % steps_per_epoch == 0:
            first.save_state(tmp_path)
    resumed = fresh()
    resumed.fit(state_dir=tmp_path, progress=False)
    assert resumed.step_index == straight.step_index == settings.epochs * steps_per_epoch
    for key, value in straight.nado.state_dict().items():
        torch.testing.assert_close(resumed.nado.state_dict()[key], value)


@pytest.mark.slow
def test_lm_eval_scores_under_q(tiny_model_dir, tmp_path):
    from evaluation.benchmarks import run_suite, write_embedded_tasks

    rows = [{"question": f"Which is bigger, {a} or {b}?", "choices": [str(a), str(b)], "answer": int(b > a)}
            for a, b in [(3, 9), (12, 4), (7, 8), (20, 2)]]
    for name in ("physical", "science", "everyday"):
        (tmp_path / "data/commonsense").mkdir(parents=True, exist_ok=True)
        (tmp_path / f"data/commonsense/{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    mmlu = [{"question": "q?", "subject": "s", "choices": ["a", "b", "c", "d"], "answer": 1}] * 2
    (tmp_path / "data/mmlu").mkdir()
    for split in ("dev", "test"):
        (tmp_path / f"data/mmlu/{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mmlu))
    write_embedded_tasks(tmp_path / "data", tmp_path / "tasks")

    from modeling.load import load_causal_lm

    base = load_causal_lm(tiny_model_dir, device="cpu")
    torch.manual_seed(0)
    nado = build_nado(base.config, NADOSettings(layers=1, width=32, heads=2))
    save_nado(nado, tmp_path / "zero")
    torch.nn.init.normal_(nado.head.weight, std=3.0)
    save_nado(nado, tmp_path / "random")

    def loglikelihoods(nado_path):
        summary = run_suite(str(tiny_model_dir), ["embedded_commonsense_physical"], 0, include_path=tmp_path / "tasks",
                            batch_size=4, device="cpu", nado_path=nado_path, log_samples=False)
        return summary["tasks"]["embedded_commonsense_physical"], summary

    plain, _ = loglikelihoods(None)
    zero, _ = loglikelihoods(str(tmp_path / "zero"))
    assert zero["value"] == plain["value"]

    from nado.decode import register_lm_eval_model

    lm_class = register_lm_eval_model()
    lm = lm_class(pretrained=str(tiny_model_dir), nado=str(tmp_path / "random"), device="cpu", batch_size=2)
    plain_lm = lm_class(pretrained=str(tiny_model_dir), nado=str(tmp_path / "zero"), device="cpu", batch_size=2)
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        guided = lm._model_call(ids)
        unguided = plain_lm._model_call(ids)
        expected_plain = torch.log_softmax(base(ids).logits, -1)
        hidden = base(ids, output_hidden_states=True).hidden_states[-1]
        c, _ = lm.nado_model(hidden)
    torch.testing.assert_close(unguided, expected_plain, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(guided, torch.log_softmax(expected_plain + torch.nn.functional.logsigmoid(c), -1), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(guided, unguided)
