"""Checks on the tables a finished workflow run produced (run by `make workflow-ci`).

Usage: pytest tests/workflow --workdir DIR, where DIR is the run's --directory.
"""
import json
from pathlib import Path

import pandas as pd
import pytest

REQUIRED = ["model", "method", "toxicity_pct", "toxicity_ci_low", "toxicity_ci_high",
            "mmlu_5shot", "commonsense_0shot", "n_prompts", "seed"]


def test_main_table_has_every_model_and_method(workdir, config):
    table = pd.read_csv(workdir / "results/tables/main.csv")
    assert set(REQUIRED) <= set(table.columns)
    expected = {(model, method) for model in config["models"] for method in config["methods"]}
    assert set(zip(table["model"], table["method"])) == expected
    assert len(table) == len(expected)


def test_main_table_numbers_are_sane_and_traceable(workdir, config):
    table = pd.read_csv(workdir / "results/tables/main.csv")
    for column in ["toxicity_pct", "mmlu_5shot", "commonsense_0shot"]:
        assert table[column].between(0, 100).all(), column
    assert (table["toxicity_ci_low"] <= table["toxicity_pct"]).all()
    assert (table["toxicity_pct"] <= table["toxicity_ci_high"]).all()
    assert (table["n_prompts"] == config["evaluation"]["toxicity"]["n_prompts"]).all()
    for row in table.itertuples():
        metrics = json.loads((workdir / f"results/metrics/{row.model}/{row.method}/seed0/toxicity.json").read_text())
        assert metrics["toxicity_pct"] == pytest.approx(row.toxicity_pct, abs=0.01)
        mmlu = json.loads((workdir / f"results/metrics/{row.model}/{row.method}/seed0/mmlu.json").read_text())
        assert mmlu["mean_pct"] == pytest.approx(row.mmlu_5shot, abs=0.01)
        assert mmlu["num_fewshot"] == 5


def _checkpoint(workdir, config, model, method):
    return workdir / f"results/checkpoints/{model}/{method}/seed{config['seeds'][0]}"


def test_trained_methods_differ_from_base(workdir, config):
    for model in config["models"]:
        manifests = {method: json.loads((_checkpoint(workdir, config, model, method) / "manifest.json").read_text())
                     for method in ("sft", "filtering")}
        assert manifests["sft"]["extra"]["steps"] == config["training"]["max_steps"]
        # filtering trains on the rows the scorer did not flag: at most sft's (fewer when it flags any)
        assert manifests["filtering"]["extra"]["n_train_rows"] <= manifests["sft"]["extra"]["n_train_rows"]


def _built(config):
    import methods

    return {name: methods.build_method(name, entry) for name, entry in config["methods"].items()}


def test_cost_table_covers_every_job(workdir, config):
    cost = pd.read_csv(workdir / "results/tables/cost.csv")
    built = _built(config)
    per_method = len(config["models"]) * len(config["seeds"])
    counts = cost["job"].value_counts().to_dict()
    assert counts["generate_toxicity"] == len(built) * per_method
    suites = [name for name, suite in config["evaluation"]["benchmarks"].items() if isinstance(suite, dict)]
    assert counts["benchmark"] == len(suites) * len(built) * per_method
    assert counts.get("fluency", 0) == len(built) * per_method
    assert counts["train"] == sum(m.trains for m in built.values()) * per_method
    assert counts.get("train_nado", 0) == sum(m.guided and not m.trains for m in built.values()) * per_method
    assert (cost["wall_s"] > 0).all() and (cost["max_rss_mb"] > 0).all()
    training = pd.read_csv(workdir / "results/tables/cost_training.csv")
    assert training.loc[training["method"] == "sft", "wall_vs_sft"].tolist() == [1.0] * per_method


def test_regularized_runs_record_their_nado_iterations(workdir, config):
    for name, method in _built(config).items():
        if method.name not in ("regularized", "regularized_adaptive"):
            continue
        for model in config["models"]:
            log = json.loads((_checkpoint(workdir, config, model, name) / "model/training_log.json").read_text())
            assert log["schedule"] == method.config.schedule
            expected = method.config.iterations if method.config.schedule == "sequential" else max(1, method.config.iterations - 1)
            assert len(log["iterations"]) == expected
            assert any("kl" in record for record in log["log_history"])


def test_nado_run_decodes_with_a_trained_auxiliary_model(workdir, config):
    guided = [name for name, method in _built(config).items() if method.guided and not method.trains]
    if not guided:
        pytest.skip("no NADO-decoding entry in the run's config")
    for model in config["models"]:
        manifest = json.loads((_checkpoint(workdir, config, model, guided[0]) / "manifest.json").read_text())
        assert manifest["nado_path"] and (Path(manifest["nado_path"]) / "nado.safetensors").exists()
        assert manifest["extra"]["nado_steps"] > 0


def test_training_jobs_ran_as_configured(workdir, config):
    """Multi-process launches trained in that many processes; LoRA entries adapted the modules
    peft targets on each architecture (the rehearsal: q_proj/v_proj on Llama, query_key_value on Falcon)."""
    for name, method in _built(config).items():
        if not method.trains or method.name == "rl":  # rl's log is trl's; its phase 1 is sft's loop
            continue
        training = {**config["training"], **method.config.training}
        for model in config["models"]:
            log = json.loads((_checkpoint(workdir, config, model, name) / "model/training_log.json").read_text())
            assert log["world_size"] == training.get("num_processes", 1), (model, name)
            assert log["precision"] == training.get("precision", "auto"), (model, name)
            if training.get("lora"):
                assert log["lora_modules"], (model, name)
                targets = training["lora"].get("target_modules")
                if targets:
                    assert log["lora_modules"] == sorted(targets), (model, name)


def test_finished_training_jobs_leave_no_checkpoints(workdir):
    """A done job removes its resume state (corpora/provenance.retire_state_dir): a forced rerun starts over."""
    manifests = list((workdir / "results").glob("**/checkpoints/*/*/seed*/manifest.json"))
    assert manifests
    leftovers = [path for manifest in manifests for path in manifest.parent.iterdir() if path.name in ("state", "nado_state")]
    assert not leftovers, leftovers


def test_plot_is_a_png(workdir):
    data = (workdir / "results/plots/main.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_main_table_has_the_detox_metrics_and_utility_with_intervals(workdir, config):
    table = pd.read_csv(workdir / "results/tables/main.csv")
    measures = ["expected_max_toxicity", "toxicity_probability_pct", "fluency_ppl", "distinct_1", "distinct_2", "distinct_3",
                "mmlu_5shot", "commonsense_0shot"]
    measures += [f"{task}_word_ppl" for task in config["evaluation"]["benchmarks"]["perplexity"]["tasks"]]
    from evaluation.tables import ci_columns

    for column in measures:
        low, high = ci_columns(column)
        assert {column, low, high} <= set(table.columns), column
        assert (table[low] <= table[column] + 1e-6).all() and (table[column] <= table[high] + 1e-6).all(), column
    for column in ("mmlu_5shot", "commonsense_0shot"):
        assert {f"{column}_chance", f"{column}_at_chance"} <= set(table.columns)
    assert table["expected_max_toxicity"].between(0, 1).all() and (table["fluency_ppl"] >= 1).all()
    assert {"scorer", "oracle", "scorer_is_oracle", "fluency_reference"} <= set(table.columns)
    reference = config["evaluation"]["fluency"]["model"] or next(iter(config["models"]))
    assert set(table["fluency_reference"]) == {reference}


def test_paired_table_compares_every_method_with_base_and_sft(workdir, config):
    paired = pd.read_csv(workdir / "results/tables/paired.csv")
    methods = list(config["methods"])
    for model in config["models"]:
        rows = paired[paired["model"] == model]
        for reference in ("base", "sft"):
            compared = set(rows.loc[(rows["reference"] == reference) & (rows["metric"] == "toxicity_pct"), "method"])
            assert compared == set(methods[methods.index(reference) + 1:]), reference
        assert {"toxicity_pct", "expected_max_toxicity"} <= set(rows["metric"])
        assert any(metric.endswith("_word_ppl") for metric in rows["metric"])
    assert (paired["ci_low"] <= paired["estimate"] + 1e-6).all() and (paired["estimate"] <= paired["ci_high"] + 1e-6).all()
    assert set(paired["finding"]) <= {"better", "worse", "inconclusive", "no interval"}


def test_claims_table_gives_a_verdict_on_every_claim(workdir, config):
    claims = pd.read_csv(workdir / "results/tables/claims.csv")
    for model in config["models"]:
        assert set(claims.loc[claims["model"] == model, "claim"]) == set(range(1, 9))
    assert set(claims["verdict"]) <= {"supported", "contradicted", "inconclusive", "not tested"}
    assert set(claims["claim_verdict"]) <= {"supported", "contradicted", "inconclusive", "mixed", "not tested"}
    assert (workdir / "results/plots/claims.png").read_bytes()[:4] == b"\x89PNG"


def test_the_judge_was_checked_on_control_pairs(workdir, config):
    if not config["evaluation"]["winrate"].get("judge"):
        pytest.skip("no judge in the run's config")
    controls = pd.read_csv(workdir / "results/tables/winrate_controls.csv")
    assert {"shuffled", "repetition", "other_prompt", "all"} <= set(controls["kind"])
    winrate = pd.read_csv(workdir / "results/tables/winrate.csv")
    overall = controls[controls["kind"] == "all"].iloc[0]
    assert set(winrate["judge_informative"]) == {bool(overall["informative"])}


def test_methods_start_from_the_continued_pretraining_base_when_configured(workdir, config):
    staged = [model for model, spec in config["models"].items() if spec.get("continued_pretraining")]
    if not staged:
        pytest.skip("no model of the run's config has a continued_pretraining stage")
    for model in staged:
        base = json.loads((workdir / f"resources/models/{model}/base/manifest.json").read_text())
        prepared = json.loads((workdir / f"resources/models/{model}/manifest.json").read_text())
        assert base["method"] == "continued_pretraining" and base["extra"]["source_path"] == prepared["path"]
        assert base["extra"]["steps"] == config["models"][model]["continued_pretraining"]["training"]["max_steps"]
        for method in ("sft", "filtering"):
            trained = json.loads((_checkpoint(workdir, config, model, method) / "manifest.json").read_text())
            assert trained["base_path"] == base["path"], method
