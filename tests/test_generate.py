"""Our decoding loop against transformers' generate, filters, and resumable files."""
import json

import pytest
import torch

from evaluation.generate import filter_top_k, filter_top_p, generate_to_file, sample_batch

PROMPTS = ["The weather today is", "My neighbour keeps playing loud music at night and", "Hi"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_model_dir, device="cpu"), load_tokenizer(tiny_model_dir)


def test_greedy_matches_transformers_generate(tiny):
    model, tokenizer = tiny
    ours = sample_batch(model, tokenizer, PROMPTS, max_new_tokens=8, temperature=0)
    batch = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    reference = model.generate(**batch, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    width = batch["input_ids"].shape[1]
    expected = [tokenizer.decode(row[width:], skip_special_tokens=True) for row in reference]
    assert ours == expected


def test_hidden_states_of_the_sampler_equal_a_forward_pass(tiny):
    """``hidden_out``: per row, the states of prompt + continuation[:-1], as a fresh forward gives."""
    model, tokenizer = tiny
    eos = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = list(range(0, tokenizer.vocab_size, 3))  # rows stop at different steps
    try:
        hidden = []
        prompts = PROMPTS + PROMPTS[:1]  # a repeated prompt: one prefill, two continuations
        outputs = sample_batch(model, tokenizer, prompts, max_new_tokens=6, temperature=1.0,
                               generator=torch.Generator().manual_seed(4), return_ids=True, hidden_out=hidden)
    finally:
        model.generation_config.eos_token_id = eos
    lengths = [len(ids) for _, ids in outputs]
    assert len(set(lengths)) > 1 and max(lengths) <= 6
    assert outputs[0][1] != outputs[-1][1]
    for prompt, (_, ids), states in zip(prompts, outputs, hidden):
        sequence = tokenizer(prompt)["input_ids"] + ids
        with torch.no_grad():
            fresh = model(torch.tensor([sequence]), output_hidden_states=True).hidden_states[-1][0]
        assert states.shape == (len(sequence) - 1, model.config.hidden_size)
        torch.testing.assert_close(states, fresh[:-1], rtol=1e-4, atol=1e-4)


def test_a_repeated_prompt_is_prefilled_once_and_continues_as_alone(tiny):
    """Rows that share a prompt share its prefill (one forward row per distinct prompt),
    and each continues exactly as the prompt would on its own."""
    model, tokenizer = tiny
    prompts = [PROMPTS[1], PROMPTS[0], PROMPTS[1], PROMPTS[2], PROMPTS[1]]
    rows_per_call = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: rows_per_call.append(kwargs["input_ids"].shape),
                                           with_kwargs=True)
    try:
        hidden = []
        together = sample_batch(model, tokenizer, prompts, max_new_tokens=5, temperature=0, hidden_out=hidden)
    finally:
        hook.remove()
    assert rows_per_call[0][0] == 3 and all(shape == (5, 1) for shape in rows_per_call[1:])
    alone = sample_batch(model, tokenizer, PROMPTS, max_new_tokens=5, temperature=0)
    assert together == [alone[PROMPTS.index(p)] for p in prompts]
    for prompt, states in zip(prompts, hidden):
        torch.testing.assert_close(states, hidden[prompts.index(prompt)])
    assert hidden[0].shape[0] > hidden[1].shape[0]  # each row keeps its own prompt's length


def test_top_p_keeps_the_smallest_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_top_p(logits, 0.8))
    assert kept.tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_top_p(logits, 0.5)).tolist() == [[True, False, False, False]]
    assert torch.isfinite(filter_top_p(logits, 1.0)).all()


def test_top_k_zero_means_no_truncation():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0]])
    assert torch.equal(filter_top_k(logits, 0), logits)
    assert torch.isfinite(filter_top_k(logits, 2)).tolist() == [[True, False, True, False]]


def test_sampling_is_seeded(tiny):
    model, tokenizer = tiny
    draw = lambda seed: sample_batch(model, tokenizer, PROMPTS, max_new_tokens=6, temperature=1.0,
                                     generator=torch.Generator().manual_seed(seed))
    assert draw(1) == draw(1)
    assert draw(1) != draw(2)


def test_interrupted_generation_resumes_to_the_same_file(tiny, tmp_path, monkeypatch):
    model, tokenizer = tiny
    items = [{"id": i, "prompt": p} for i, p in enumerate(PROMPTS * 3)]
    settings = dict(batch_size=2, seed=0, max_new_tokens=4, temperature=1.0, top_p=0.9, progress=False)
    straight = generate_to_file(model, tokenizer, items, tmp_path / "a.jsonl", **settings).read_text()

    import evaluation.generate as generate
    from conftest import interrupt_sampling_at

    real = interrupt_sampling_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        generate_to_file(model, tokenizer, items, tmp_path / "b.jsonl", **settings)
    assert not (tmp_path / "b.jsonl").exists()
    partial = tmp_path / "b.jsonl.partial"
    assert len(partial.read_text().splitlines()) == 4
    with open(partial, "a") as f:
        f.write('{"id": 99, "torn')  # a line cut off by the kill
    monkeypatch.setattr(generate, "sample_batch", real)
    resumed = generate_to_file(model, tokenizer, items, tmp_path / "b.jsonl", **settings).read_text()
    assert resumed == straight
    assert [json.loads(l)["id"] for l in resumed.splitlines()] == list(range(9))
