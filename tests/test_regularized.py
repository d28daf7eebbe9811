"""The paper's regularized fine-tuning on a tiny random model."""
import pytest
import torch

import methods
from methods._trainer import CausalCollator, TrainingConfig, encode_rows, fine_tune
from methods.regularized import Regularized
from nado.math import guided_kl
from nado.model import build_nado
from nado.settings import NADOSettings

ROWS = [
    {"text": f"Sentence number {i} about the weather and the sea, and {word}.", "domain": d, "toxicity": 0.1}
    for i, (d, word) in enumerate([("general", "tides"), ("toxicity", "idiots"), ("toxicity", "kindness"), ("general", "waves")] * 4)
]
SMALL_NADO = {"layers": 1, "width": 32, "heads": 2, "n_prompts": 6, "samples_per_prompt": 2, "max_new_tokens": 4,
              "sample_batch_size": 6, "epochs": 2, "batch_size": 4}
TRAINING = dict(max_steps=4, batch_size=4, max_length=24, learning_rate=1e-2, save_steps=2, logging_steps=1)
SCORER = {"backend": "profanity_check", "threshold": 0.5}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_model_dir, device="cpu"), load_tokenizer(tiny_model_dir, padding_side="right")


def _batch(tokenizer, rows):
    return CausalCollator(tokenizer.pad_token_id)(encode_rows(tokenizer, rows, 24))


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_config_is_validated():
    with pytest.raises(ValueError, match="schedule must be one of"):
        methods.build_method("regularized", {"schedule": "sometimes"})
    with pytest.raises(ValueError, match=r"methods.regularized.nado: unknown option\(s\) \['layer'\]"):
        methods.build_method("regularized", {"nado": {"layer": 2}})
    assert methods.build_method("regularized_adaptive", {}).config.kl_weight_general == 0.0
    assert methods.build_method("regularized", {}).config.schedule == "parallel"


def test_adaptive_weight_is_zero_on_general_rows(tiny):
    model, tokenizer = tiny
    adaptive = methods.build_method("regularized_adaptive", {"kl_weight": 2.0})
    assert adaptive.example_weights(torch.tensor([0, 1, 0])).tolist() == [0.0, 2.0, 0.0]
    plain = methods.build_method("regularized", {"kl_weight": 2.0})
    assert plain.example_weights(torch.tensor([0, 1])).tolist() == [2.0, 2.0]
    torch.manual_seed(0)
    nado = build_nado(model.config, NADOSettings(layers=1, width=32, heads=2))
    torch.nn.init.normal_(nado.head.weight, std=2.0)
    adaptive.active_nado = plain.active_nado = nado
    general = _batch(tokenizer, [r for r in ROWS if r["domain"] == "general"][:3])
    lm_only = model(input_ids=general["input_ids"], attention_mask=general["attention_mask"], labels=general["labels"]).loss
    loss, logs = adaptive.compute_loss(model, general)
    torch.testing.assert_close(loss, lm_only)  # weight 0: the regularizer vanishes
    assert "kl" not in logs  # ... and is not even evaluated: no position is regularized
    loss_plain, logs_plain = plain.compute_loss(model, general)
    assert loss_plain > lm_only + 1e-4
    assert logs_plain["kl"] > 0


def _dense_reference(method, model, batch):
    """The objective written out over every position: LM loss + sum w_b KL_bt [t predicts] / #predicting."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                output_hidden_states=True)
    c, _ = method.active_nado(out.hidden_states[-1].detach(), attention_mask=batch["attention_mask"])
    log_p = torch.log_softmax(out.logits, dim=-1)
    log_q = torch.log_softmax(log_p.detach() + torch.nn.functional.logsigmoid(c), dim=-1)
    kl = (log_q.exp() * (log_q - log_p)).sum(-1)  # [B, T]
    predicts = torch.zeros_like(kl)
    predicts[:, :-1] = (batch["labels"][:, 1:] != -100).float()
    weights = method.example_weights(batch["domain"])[:, None]
    return out.loss + (weights * kl * predicts).sum() / predicts.sum()


@pytest.mark.parametrize("name", ["regularized", "regularized_adaptive"])
def test_loss_on_covered_positions_equals_the_dense_objective(tiny, name):
    """Evaluating the KL only where it counts changes neither the loss nor its gradient."""
    model, tokenizer = tiny
    method = methods.build_method(name, {"kl_weight": 1.5})
    torch.manual_seed(1)
    method.active_nado = build_nado(model.config, NADOSettings(layers=1, width=32, heads=2))
    torch.nn.init.normal_(method.active_nado.head.weight, std=1.0)
    batch = _batch(tokenizer, ROWS[:4])  # both domains, different lengths: padding in every row but one
    assert (batch["labels"] == -100).any()
    grads = []
    for loss_fn in (method.compute_loss, lambda m, b: (_dense_reference(method, m, b), None)):
        model.zero_grad()
        loss, _ = loss_fn(model, batch)
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (fast, fast_grads), (dense, dense_grads) = grads
    torch.testing.assert_close(fast, dense, rtol=1e-5, atol=1e-6)
    for a, b in zip(fast_grads, dense_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    model.zero_grad()


def test_kl_under_bf16_autocast_is_computed_in_fp32(tiny):
    """Under Trainer's bf16 (accelerate's autocast) the logits are bf16-rounded, but the KL
    and its weighting are fp32: the loss equals the objective written out in float64 on the
    same outputs."""
    from conftest import as_accelerate_bf16

    model, tokenizer = tiny
    autocast_model = as_accelerate_bf16(model)
    method = methods.build_method("regularized", {"kl_weight": 1.5})
    torch.manual_seed(1)
    method.active_nado = build_nado(model.config, NADOSettings(layers=1, width=32, heads=2))
    torch.nn.init.normal_(method.active_nado.head.weight, std=0.05)  # a young NADO: a small KL
    batch = _batch(tokenizer, ROWS[:4])
    loss, logs = method.compute_loss(autocast_model, batch)
    out = autocast_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
                         output_hidden_states=True)
    with torch.no_grad():
        c, _ = method.active_nado(out.hidden_states[-1], attention_mask=batch["attention_mask"])
    log_p = torch.log_softmax(out.logits.double(), dim=-1)
    log_q = torch.log_softmax(log_p + torch.nn.functional.logsigmoid(c.double()), dim=-1)
    kl = (log_q.exp() * (log_q - log_p)).sum(-1)
    predicts = torch.zeros_like(kl)
    predicts[:, :-1] = (batch["labels"][:, 1:] != -100).double()
    assert out.logits.dtype == torch.float32 and 0 < logs["kl"] < 0.05
    torch.testing.assert_close(logs["kl"].double(), kl[predicts.bool()].mean(), rtol=1e-4, atol=0)
    regularizer = (loss - out.loss).double()  # fp32 rounding of the LM loss (~11) leaves ~1e-5 of it
    torch.testing.assert_close(regularizer, 1.5 * (kl * predicts).sum() / predicts.sum(), rtol=1e-3, atol=0)


class _ZeroNADO(Regularized):
    """Regularized with a fixed zero-initialised NADO and no NADO training."""

    def training_callbacks(self, context):
        torch.manual_seed(123)
        self.active_nado = build_nado(context.model.config, NADOSettings(layers=1, width=32, heads=2))
        return []


def test_zero_nado_makes_training_match_sft_step_for_step(tiny_model_dir, tmp_path):
    # SGD: with q = p the KL gradient is float32 rounding noise (~1e-9), which Adam would
    # rescale to full-size steps on parameters whose LM gradient is also ~0.
    config = TrainingConfig(**TRAINING, optim="sgd")
    sft = fine_tune(methods.build_method("sft", {}), str(tiny_model_dir), ROWS, config, tmp_path / "sft", tmp_path / "s1", seed=0)
    zero = _ZeroNADO(methods.build_method("regularized", {}).config)
    reg = fine_tune(zero, str(tiny_model_dir), ROWS, config, tmp_path / "reg", tmp_path / "s2", seed=0)
    sft_losses = [r["loss"] for r in sft["log_history"] if "loss" in r]
    reg_logs = [r for r in reg["log_history"] if "loss" in r]
    assert [r["loss"] for r in reg_logs] == pytest.approx(sft_losses, rel=1e-5)
    assert all(abs(r["kl"]) < 1e-6 for r in reg_logs)
    a, b = _weights(tmp_path / "sft"), _weights(tmp_path / "reg")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-7)


def test_kl_gradient_moves_p_toward_q(tiny):
    from transformers import AutoModelForCausalLM

    model, tokenizer = tiny
    student = AutoModelForCausalLM.from_config(model.config)
    student.load_state_dict(model.state_dict())
    torch.manual_seed(0)
    nado = build_nado(model.config, NADOSettings(layers=1, width=32, heads=2))
    torch.nn.init.normal_(nado.head.weight, std=2.0)
    batch = _batch(tokenizer, ROWS[:4])
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    kls = []
    for _ in range(6):
        out = student(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)
        with torch.no_grad():
            c, _ = nado(out.hidden_states[-1], attention_mask=batch["attention_mask"])
        kl = (guided_kl(out.logits, c) * batch["attention_mask"]).sum() / batch["attention_mask"].sum()
        kls.append(kl.item())
        optimizer.zero_grad()
        kl.backward()
        optimizer.step()
    assert kls[-1] < 0.8 * kls[0], kls
    assert all(later <= earlier + 1e-6 for earlier, later in zip(kls, kls[1:])), kls


@pytest.mark.parametrize("schedule", ["sequential", "parallel"])
def test_each_schedule_runs_its_iterations(tiny_model_dir, tmp_path, schedule):
    method = methods.build_method("regularized", {"schedule": schedule, "iterations": 3, "nado": SMALL_NADO})
    config = TrainingConfig(**{**TRAINING, "max_steps": 6})
    summary = fine_tune(method, str(tiny_model_dir), ROWS, config, tmp_path / "out", tmp_path / "state", seed=0, scorer=SCORER)
    records = summary["iterations"]
    assert summary["steps"] == 6 and summary["schedule"] == schedule
    if schedule == "sequential":  # NADO_i before LLM_i, for i = 1..3
        assert [(r["nado_iteration"], r["active_from_step"]) for r in records] == [(1, 0), (2, 2), (3, 4)]
    else:  # NADO_1 first; NADO_2 trains during iteration 2 (from step 2) and is used in iteration 3
        assert [(r["nado_iteration"], r["active_from_step"]) for r in records] == [(1, 0), (2, 4)]
    assert all(0.0 <= r["mean_label"] <= 1.0 for r in records)
    seconds = summary["iteration_seconds"]  # where the NADO side's time went, one entry per NADO
    assert [s["nado_iteration"] for s in seconds] == [r["nado_iteration"] for r in records]
    assert all(s[key] >= 0 for s in seconds for key in ("sampling_s", "labelling_s", "cache_s", "nado_training_s"))
    logged = [r for r in summary["log_history"] if "kl" in r]
    assert logged and all(r["kl"] >= 0 for r in logged)
    assert (tmp_path / "state" / "nado_iter1" / "samples.unlabelled.jsonl").exists()


@pytest.mark.parametrize("precision, name, schedule", [
    ("bf16_mixed", "regularized", "parallel"), ("bf16_mixed", "regularized_adaptive", "sequential"),
    ("bf16", "regularized", "parallel"),
])
def test_regularized_runs_its_iterations_under_bf16_autocast_on_cpu(tiny_model_dir, tmp_path, precision, name, schedule):
    """``bf16_mixed`` (the paper config's) and ``bf16``: Trainer (accelerate) runs the model's forward
    under bf16 autocast, on CPU as on a GPU, so the sampler's states, the NADO cache and the KL
    all see bf16-rounded numbers; every iteration's NADO is trained and used."""
    method = methods.build_method(name, {"schedule": schedule, "iterations": 3, "nado": SMALL_NADO})
    config = TrainingConfig(**{**TRAINING, "max_steps": 6, "precision": precision})
    summary = fine_tune(method, str(tiny_model_dir), ROWS, config, tmp_path / "out", tmp_path / "state", seed=0, scorer=SCORER)
    assert summary["steps"] == 6
    assert [r["nado_iteration"] for r in summary["iterations"]] == ([1, 2] if schedule == "parallel" else [1, 2, 3])
    logged = [r["kl"] for r in summary["log_history"] if "kl" in r]
    assert logged and all(0 <= kl < float("inf") for kl in logged)
    assert all(0 < r["nado_bce"] < float("inf") for r in summary["iterations"])


def test_iterations_beyond_max_steps_are_rejected_with_the_entry_named():
    """K iterations need K fine-tuning steps at least: more would repeat iteration boundaries."""
    method = methods.build_method("reg_many", {"type": "regularized", "iterations": 7})
    with pytest.raises(ValueError, match=r"methods.reg_many: iterations \(7\) is larger than max_steps \(6\)"):
        method.check_training(TrainingConfig(max_steps=6), where="methods.reg_many")
    method.check_training(TrainingConfig(max_steps=7), where="methods.reg_many")
    with pytest.raises(ValueError, match=r"iterations \(7\) is larger than max_steps \(6\)"):  # direct library use too
        fine_tune(method, "unused", ROWS, TrainingConfig(max_steps=6), "unused", "unused", seed=0)


@pytest.mark.parametrize("block, entry", [("methods", "regularized_sequential"), ("jigsaw", "regularized_lm")])
def test_the_workflow_rejects_iterations_beyond_max_steps_when_it_parses_the_config(tmp_path, block, entry):
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    config = yaml.safe_load((repo / "config" / "ci.yaml").read_text())
    steps = {**config["training"], **config.get(block, {}).get("training", {})}["max_steps"]
    entries = config["jigsaw"]["methods"] if block == "jigsaw" else config["methods"]
    entries[entry]["training"] = {"learning_rate": 1e-3}  # an entry's own overrides are merged in
    entries[entry]["iterations"] = steps + 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(repo / "Snakefile"),
                           "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path)],
                          cwd=repo, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    where = "jigsaw.methods" if block == "jigsaw" else "methods"
    assert f"{where}.{entry}: iterations ({steps + 1}) is larger than max_steps ({steps})" in done.stdout + done.stderr


@pytest.mark.parametrize("precision", ["fp32", "bf16_mixed"])
def test_parallel_schedule_resumes_to_identical_weights(tiny_model_dir, tmp_path, precision):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:  # mid iteration 2: a NADO is training in parallel
                raise KeyboardInterrupt("simulated kill")

    entry = {"schedule": "parallel", "iterations": 3, "nado": SMALL_NADO}
    config = TrainingConfig(**{**TRAINING, "max_steps": 6, "precision": precision})
    fine_tune(methods.build_method("regularized", entry), str(tiny_model_dir), ROWS, config,
              tmp_path / "straight", tmp_path / "s1", seed=0, scorer=SCORER)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(methods.build_method("regularized", entry), str(tiny_model_dir), ROWS, config,
                  tmp_path / "resumed", tmp_path / "s2", seed=0, scorer=SCORER, callbacks=[Crash()])
    summary = fine_tune(methods.build_method("regularized", entry), str(tiny_model_dir), ROWS, config,
                        tmp_path / "resumed", tmp_path / "s2", seed=0, scorer=SCORER)
    assert summary["resumed_from"].endswith("checkpoint-2")
    straight, resumed = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-5, atol=1e-7)


def test_parallel_nado_in_a_background_thread_matches_interleaving(tiny_model_dir, tmp_path):
    """`parallel_device` trains the next NADO in a thread (a second GPU in practice; here the
    CPU): the schedule's result is the same as interleaving its steps."""
    config = TrainingConfig(**{**TRAINING, "max_steps": 6})
    results = {}
    for mode, device in (("interleaved", None), ("threaded", "cpu")):
        entry = {"schedule": "parallel", "iterations": 3, "nado": SMALL_NADO, "parallel_device": device}
        summary = fine_tune(methods.build_method("regularized", entry), str(tiny_model_dir), ROWS, config,
                            tmp_path / mode, tmp_path / f"state-{mode}", seed=0, scorer=SCORER)
        results[mode] = (summary["iterations"], _weights(tmp_path / mode))
    assert results["threaded"][0] == results["interleaved"][0]
    for key, value in results["interleaved"][1].items():
        torch.testing.assert_close(results["threaded"][1][key], value)
