"""The ``rl`` baseline (SFT, then RLOO with a KL penalty) on a tiny random model."""
import json

import numpy as np
import pytest

import methods
from evaluation.toxicity import ToxicityScorer, register_scorer
from methods._trainer import TrainingConfig
from methods.rl import RL, RLConfig, ToxicityReward

ROWS = [
    {"text": f"Sentence number {i} about the weather. And more.", "domain": domain}
    for i, domain in enumerate(["general", "toxicity"] * 8)
]
SFT_TRAINING = dict(max_steps=2, batch_size=4, max_length=16, learning_rate=1e-2, save_steps=1, logging_steps=1)
TINY_RL = dict(sft_steps=2, rl_steps=2, prompts_per_step=2, samples_per_prompt=2, max_new_tokens=4,
               learning_rate=1e-2, save_steps=1)
SCORER = {"backend": "profanity_check"}


@register_scorer("keyword_test")
class KeywordScorer(ToxicityScorer):
    """Toxicity 1 for texts containing ``word``, else 0."""

    def __init__(self, *, word: str = "idiot", batch_size: int = 32, threshold: float = 0.5):
        super().__init__(batch_size=batch_size, threshold=threshold)
        self.word = word

    def _score_batch(self, texts):
        return np.array([float(self.word in text) for text in texts])


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def _changed(before, after):
    assert before.keys() == after.keys()
    return [k for k in before if not (before[k] == after[k]).all()]


def _run(method, model_dir, tmp_path, **kwargs):
    return method.fine_tune(str(model_dir), ROWS, TrainingConfig(**SFT_TRAINING), tmp_path / "out", tmp_path / "state",
                            seed=0, scorer=kwargs.pop("scorer", SCORER), **kwargs)


def test_unknown_option_is_rejected_with_known_ones():
    with pytest.raises(ValueError, match=r"methods.rl: unknown option\(s\) \['rl_stesp'\].*'kl_beta'.*'rl_steps'"):
        methods.build_method("rl", {"rl_stesp": 3})
    with pytest.raises(ValueError, match="samples_per_prompt must be >= 2"):
        methods.build_method("rl", {"samples_per_prompt": 1})
    with pytest.raises(ValueError, match="must divide"):
        methods.build_method("rl", {"prompts_per_step": 3, "samples_per_prompt": 2, "gradient_accumulation_steps": 4})
    method = methods.build_method("rl_strong", {"type": "rl", "kl_beta": 0.0})
    assert isinstance(method, RL) and method.trains and method.config.kl_beta == 0.0


def test_reward_is_one_minus_toxicity_of_the_continuation():
    reward = RL(RLConfig.from_dict("rl", {})).make_reward({"backend": "keyword_test", "word": "idiot"})
    assert isinstance(reward, ToxicityReward)
    # the prompt is toxic, the continuations are scored on their own
    prompts = ["You idiot,", "You idiot,", "Hello"]
    assert reward(prompts=prompts, completions=[" have a nice day", " idiot", " there"]) == [1.0, 0.0, 1.0]


class SpyRL(RL):
    """Records what trl hands the reward function."""

    calls: list

    def make_reward(self, scorer):
        inner = super().make_reward(scorer)

        def spy(prompts, completions, completion_ids, **kwargs):
            rewards = inner(prompts, completions)
            SpyRL.calls.append((list(prompts), list(completions), [list(ids) for ids in completion_ids], rewards))
            return rewards

        return spy


def test_rl_trains_the_sft_model_on_continuation_rewards(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from evaluation.toxicity import build_scorer
    from modeling.load import load_tokenizer

    SpyRL.calls = []
    method = SpyRL(RLConfig.from_dict("rl", TINY_RL))
    summary = _run(method, tiny_model_dir, tmp_path)
    assert summary["sft_steps"] == 2 and summary["rl_steps"] == 2 and summary["steps"] == 4
    assert summary["resumed_from"] is None and not summary["sft_reused"] and summary["n_train_rows"] == len(ROWS)

    base, sft, final = _weights(tiny_model_dir), _weights(tmp_path / "state" / "sft_model"), _weights(tmp_path / "out")
    assert _changed(base, sft), "phase 1 did not train"
    assert _changed(sft, final), "phase 2 did not change the parameters"
    AutoModelForCausalLM.from_pretrained(str(tmp_path / "out"))  # a plain Hugging Face folder

    # the reward is 1 - toxicity of the continuation alone, decoded from the sampled ids only
    tokenizer, scorer = load_tokenizer(tiny_model_dir), build_scorer(SCORER)
    assert len(SpyRL.calls) == 2
    for prompts, completions, ids, rewards in SpyRL.calls:
        assert len(completions) == 4 and set(prompts) <= {row["text"].split(".")[0] + "." for row in ROWS}
        assert completions == [tokenizer.decode(i, skip_special_tokens=True) for i in ids]
        assert all(len(i) <= TINY_RL["max_new_tokens"] for i in ids)
        assert np.allclose(rewards, 1 - scorer.score(completions))

    log = json.loads((tmp_path / "out" / "training_log.json").read_text())
    assert [entry["step"] for entry in log["rl_log"]] == [1, 2]
    for entry, (_, _, _, rewards) in zip(log["rl_log"], SpyRL.calls):
        assert entry["reward"] == pytest.approx(np.mean(rewards), abs=1e-5) and entry["kl"] is not None
    assert log["rl_log"][0]["kl"] == pytest.approx(0.0, abs=1e-6)  # the policy starts at the reference
    assert summary["mean_reward_first"] == pytest.approx(log["rl_log"][0]["reward"])
    assert log["sft"]["steps"] == 2 and log["config"]["kl_beta"] == 0.05
    # the job's throughput covers both phases (phase 2's tokens: prompts + sampled continuations)
    assert log["train_tokens"] > 0 and summary["train_tokens"] == log["sft"]["train_tokens"] + log["train_tokens"]
    assert summary["train_wall_s"] == pytest.approx(log["sft"]["train_wall_s"] + log["train_wall_s"])


def test_policy_gradient_raises_the_probability_of_a_rewarded_token(tiny_model_dir, tmp_path):
    """A synthetic reward (share of continuation tokens equal to " weather") must make
    the policy put more mass on that token: the gradient has the right sign. SFT on the
    rows first, so that the token is sampled at all (a random model spreads its mass
    over 49k tokens)."""
    import torch
    from transformers import AutoModelForCausalLM

    from modeling.load import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    (target,) = tokenizer(" weather", add_special_tokens=False)["input_ids"]

    class PrefersToken(RL):
        def make_reward(self, scorer):
            def prefer_token(prompts, completions, completion_ids, **kwargs):
                return [sum(t == target for t in ids) / len(ids) for ids in completion_ids]

            return prefer_token

    config = RLConfig.from_dict("rl", {**TINY_RL, "sft_steps": 8, "rl_steps": 3, "samples_per_prompt": 4, "kl_beta": 0.0,
                                       "save_steps": 10})
    summary = _run(PrefersToken(config), tiny_model_dir, tmp_path)
    assert summary["rl_steps"] == 3

    def target_probability(path):
        model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
        batch = tokenizer(["Sentence number 3 about the weather.", "Sentence number 4 about the weather."],
                          return_tensors="pt", padding=True)
        with torch.no_grad():
            return model(**batch).logits[:, -1].softmax(-1)[:, target].mean().item()

    before, after = target_probability(tmp_path / "state" / "sft_model"), target_probability(tmp_path / "out")
    assert after > before + 0.05, (before, after)


def test_resume_after_an_interruption_skips_phase_1(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import TrainerCallback
    from trl import RLOOConfig

    import methods._trainer

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if isinstance(args, RLOOConfig) and state.global_step == 2:  # after checkpoint-1, before checkpoint-2
                raise KeyboardInterrupt

    method = methods.build_method("rl", TINY_RL)
    with pytest.raises(KeyboardInterrupt):
        _run(method, tiny_model_dir, tmp_path, callbacks=[Interrupt()])
    assert (tmp_path / "state" / "sft_model").is_dir() and not (tmp_path / "out").exists()
    assert (tmp_path / "state" / "rl_state" / "checkpoint-1").is_dir()

    def no_sft(*args, **kwargs):
        raise AssertionError("phase 1 ran again")

    monkeypatch.setattr(methods._trainer, "fine_tune", no_sft)
    summary = _run(methods.build_method("rl", TINY_RL), tiny_model_dir, tmp_path)
    assert summary["sft_reused"] and summary["resumed_from"].endswith("checkpoint-1")
    assert summary["rl_steps"] == 2 and summary["steps"] == 4
    log = json.loads((tmp_path / "out" / "training_log.json").read_text())
    assert [entry["step"] for entry in log["rl_log"]] == [1, 2]


def test_sft_from_makes_another_entrys_model_phase_1(tiny_model_dir, tmp_path, monkeypatch):
    import methods._trainer

    sft_out = tmp_path / "sft_entry"
    methods._trainer.fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS,
                               TrainingConfig(**{**SFT_TRAINING, "max_steps": 2}), sft_out, tmp_path / "sft_state", seed=0)

    def no_sft(*args, **kwargs):
        raise AssertionError("phase 1 trained although sft_from gave it")

    monkeypatch.setattr(methods._trainer, "fine_tune", no_sft)
    method = methods.build_method("rl", {**TINY_RL, "sft_from": "sft"})
    method.use_phase1(str(sft_out), tmp_path / "state")
    method.use_phase1(str(sft_out), tmp_path / "state")  # a rerun: the same link is fine
    summary = _run(method, tiny_model_dir, tmp_path)
    assert summary["sft_reused"] and summary["sft_steps"] == 2 and summary["rl_steps"] == 2
    assert (tmp_path / "state" / "sft_model").resolve() == sft_out.resolve()
    assert _changed(_weights(sft_out), _weights(tmp_path / "out")), "phase 2 did not start from the sft entry's model"
    with pytest.raises(FileNotFoundError, match="no trained model"):
        method.use_phase1(str(tmp_path / "nothing"), tmp_path / "other_state")
    assert method.phase1_training({"max_steps": 60, "learning_rate": 1e-4}) == {"max_steps": 2, "learning_rate": 1e-4}
    with pytest.raises(ValueError, match="sft_from must name"):
        methods.build_method("rl", {"sft_from": ""})


@pytest.mark.parametrize("change, message", [
    ({"sft_from": "filtering"}, "methods.rl.sft_from: 'filtering' is not an entry of type sft"),
    ({"sft_steps": 1}, "methods.rl.sft_from: 'sft' trains with other options than rl's phase 1 (max_steps: 2 vs 1)"),
    ({}, None),
])
def test_the_workflow_checks_sft_from_when_it_parses_the_config(tmp_path, change, message):
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config" / "ci.yaml").read_text())
    config["training"]["max_steps"] = 2
    config["methods"]["rl"] = {**config["methods"]["rl"], "sft_from": "sft", **change}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--snakefile", str(repo / "Snakefile"),
                           "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path),
                           "results/checkpoints/tiny-random/rl/seed0/manifest.json"],
                          cwd=repo, capture_output=True, text=True, timeout=300)
    if message is None:
        assert done.returncode == 0, done.stdout + done.stderr
        assert "results/checkpoints/tiny-random/sft/seed0/manifest.json" in done.stdout
        assert "method=sft" in done.stdout  # the sft entry trains first; rl takes its checkpoint
    else:
        assert done.returncode != 0 and message in done.stdout + done.stderr, done.stdout + done.stderr
