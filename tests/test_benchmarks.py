"""evaluation.benchmarks: embedded and held-out task YAMLs, run_suite against independent
scoring, per-document rows and their bootstrap intervals.

Expected accuracies and log-likelihoods are computed here without lm-eval (a plain forward
of the tiny model, log_softmax, gather) and must equal lm-eval's.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.benchmarks import (
    EMBEDDED_COMMONSENSE_TAG,
    EMBEDDED_MMLU_TASK,
    add_intervals,
    document_rows,
    run_suite,
    summarize,
    write_embedded_tasks,
    write_heldout_tasks,
    write_results,
)

MMLU_DEV = [
    {"question": "What is 2 + 2?", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1},
    {"question": "Which planet is red?", "subject": "astronomy", "choices": ["Mars", "Venus", "Earth", "Moon"], "answer": 0},
    {"question": "H2O is", "subject": "chemistry", "choices": ["salt", "air", "water", "gold"], "answer": 2},
    {"question": "The heart pumps", "subject": "anatomy", "choices": ["air", "bile", "food", "blood"], "answer": 3},
    {"question": "A triangle has how many sides?", "subject": "math", "choices": ["2", "3", "4", "5"], "answer": 1},
    {"question": "Never used as a shot", "subject": "math", "choices": ["a", "b", "c", "d"], "answer": 0},
]
MMLU_TEST = [
    {"question": "  What is 3 + 4? ", "subject": "math", "choices": ["7", "8", "9", "1"], "answer": 0},
    {"question": "The Sun is a", "subject": "astronomy", "choices": ["planet", "comet", "star", "moon"], "answer": 2},
    {"question": "Salt is made of sodium and", "subject": "chemistry", "choices": ["iron", "chlorine", "gold", "neon"], "answer": 1},
    {"question": "Bones are made mostly of", "subject": "anatomy", "choices": ["glass", "wood", "steel", "calcium"], "answer": 3},
]
COMMONSENSE = {
    "physical": [
        {"question": "How do you open a jar?", "choices": ["Twist the lid.", "Sing to it."], "answer": 0},
        {"question": "How do you dry wet hands?", "choices": ["Use a towel.", "Pour water on them, then wait a long while."], "answer": 0},
        {"question": "To cut paper you use", "choices": ["a spoon", "scissors"], "answer": 1},
    ],
    "science": [
        {"question": "Plants make food by", "choices": ["photosynthesis", "digestion", "sleeping", "melting"], "answer": 0},
        {"question": "Water freezes at", "choices": ["100 C", "50 C", "0 C", "20 C"], "answer": 2},
        {"question": "The closest star to Earth is", "choices": ["Sirius", "the Sun", "Vega", "Polaris"], "answer": 1},
    ],
    "everyday": [
        {"question": "Where do you keep milk cold?", "choices": ["oven", "fridge", "drawer", "garden"], "answer": 1},
        {"question": "What do you wear on your feet?", "choices": ["hat", "gloves", "shoes", "scarf"], "answer": 2},
        {"question": "You eat soup with a", "choices": ["fork", "knife", "comb", "spoon"], "answer": 3},
    ],
}
MMLU_PROMPT_HEAD = "The following are multiple choice questions (with answers).\n\n"


def _write_jsonl(file: Path, rows: list[dict]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture(scope="module")
def embedded_tasks(tmp_path_factory):
    """(data_dir, task_dir, task names) for the fixture data above."""
    root = tmp_path_factory.mktemp("benchmarks")
    _write_jsonl(root / "data" / "mmlu" / "dev.jsonl", MMLU_DEV)
    _write_jsonl(root / "data" / "mmlu" / "test.jsonl", MMLU_TEST)
    for name, rows in COMMONSENSE.items():
        _write_jsonl(root / "data" / "commonsense" / f"{name}.jsonl", rows)
    names = write_embedded_tasks(root / "data", root / "tasks")
    return root / "data", root / "tasks", names


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_model_dir, device="cpu", precision="fp32"), load_tokenizer(tiny_model_dir)


def _loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """Summed log p(continuation | context), split at the context's tokens as lm-eval does."""
    import torch

    whole = tokenizer(context + continuation)["input_ids"]
    context_len = len(tokenizer(context)["input_ids"])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([whole])).logits[0, :-1].float(), dim=-1)
    targets = torch.tensor(whole[context_len:])
    return float(logprobs[context_len - 1:].gather(1, targets[:, None]).sum())


def _mmlu_text(row: dict) -> str:
    letters = "".join(f"\n{letter}. {choice}" for letter, choice in zip("ABCD", row["choices"]))
    return f"{row['question'].strip()}{letters}\nAnswer:"


def _argmax(scores: list[float]) -> int:
    return max(range(len(scores)), key=scores.__getitem__)


def test_module_imports_no_torch_or_lm_eval():
    code = "import sys, evaluation.benchmarks; print(sorted({'torch', 'lm_eval', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1])
    assert out.stdout.strip() == "[]"


def test_written_yaml_matches_lm_eval_mmlu_template(embedded_tasks):
    import yaml
    from importlib.util import find_spec

    data_dir, task_dir, names = embedded_tasks
    assert names == [EMBEDDED_MMLU_TASK, "embedded_commonsense_physical",
                     "embedded_commonsense_science", "embedded_commonsense_everyday"]
    assert sorted(p.stem for p in task_dir.glob("*.yaml")) == sorted(names)

    ours = yaml.safe_load((task_dir / "embedded_mmlu.yaml").read_text())
    template = Path(find_spec("lm_eval").submodule_search_locations[0]) / "tasks/mmlu/default/_default_template_yaml"
    theirs = yaml.safe_load(template.read_text())
    for key in ("doc_to_text", "doc_to_choice", "doc_to_target", "output_type", "fewshot_split", "fewshot_config"):
        assert ours[key] == theirs[key], key
    assert ours["description"] == MMLU_PROMPT_HEAD
    for split in ("dev", "test"):  # absolute: lm-eval resolves relative ones against the cwd
        assert ours["dataset_kwargs"]["data_files"][split] == str((data_dir / "mmlu" / f"{split}.jsonl").resolve())

    physical = yaml.safe_load((task_dir / "embedded_commonsense_physical.yaml").read_text())
    assert physical["doc_to_text"] == "Question: {{question}}\nAnswer:"
    assert [m["metric"] for m in physical["metric_list"]] == ["acc", "acc_norm"]
    assert all(m["higher_is_better"] for m in physical["metric_list"])


def test_commonsense_accuracy_equals_independent_scoring(embedded_tasks, tiny, tiny_model_dir, tmp_path):
    _, task_dir, _ = embedded_tasks
    model, tokenizer = tiny
    summary = run_suite(tiny_model_dir, [EMBEDDED_COMMONSENSE_TAG], num_fewshot=0, include_path=task_dir,
                        batch_size=4, device="cpu", log_samples=True)

    expected_acc, expected_norm = {}, {}
    for name, rows in COMMONSENSE.items():
        task = f"embedded_commonsense_{name}"
        samples = sorted(summary["raw"]["samples"][task], key=lambda s: s["doc_id"])
        hits, norm_hits = 0, 0
        for row, sample in zip(rows, samples, strict=True):
            context = f"Question: {row['question']}\nAnswer:"
            scores = [_loglikelihood(model, tokenizer, context, " " + choice) for choice in row["choices"]]
            # lm-eval's own per-choice log-likelihoods agree (batched with padding: float noise only)
            assert [resp[0][0] for resp in sample["resps"]] == pytest.approx(scores, abs=1e-4)
            assert [arg[0] for arg in sample["arguments"]] == [context] * len(row["choices"])
            hits += _argmax(scores) == row["answer"]
            # acc_norm divides by the choice's length in characters (lm-eval's definition)
            norm_hits += _argmax([s / len(c) for s, c in zip(scores, row["choices"])]) == row["answer"]
        expected_acc[task], expected_norm[task] = hits / len(rows), norm_hits / len(rows)

    assert set(summary["tasks"]) == set(expected_acc)  # the tag expands to its tasks
    for task, entry in summary["tasks"].items():
        assert {key: entry[key] for key in ("metric", "value", "stderr", "n")} == {
            "metric": "acc", "value": expected_acc[task], "stderr": entry["stderr"], "n": 3}
        assert entry["chance"] == (0.5 if task.endswith("physical") else 0.25)  # 2 choices, else 4
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
    assert summary["kind"] == "accuracy" and summary["metric"] == "acc"
    assert summary["mean"] == pytest.approx(sum(expected_acc.values()) / 3, abs=1e-12)
    assert summary["mean_pct"] == pytest.approx(100 * summary["mean"])
    assert summary["chance_pct"] == pytest.approx(100 * (0.5 + 0.25 + 0.25) / 3)
    assert summary["mean_pct_ci_low"] <= summary["mean_pct"] <= summary["mean_pct_ci_high"]
    assert summary["num_fewshot"] == 0 and summary["lm_eval_version"] == "0.4.13"
    # one row per document: lm-eval's own 0/1 acc, the choices it scored
    docs = summary["docs"]
    assert [(row["task"], row["doc_id"]) for row in docs] == [
        (f"embedded_commonsense_{name}", k) for name in sorted(COMMONSENSE) for k in range(3)]
    for row in docs:
        assert row["group"] == row["task"] and row["acc"] in (0.0, 1.0)
        assert row["n_choices"] == len(COMMONSENSE[row["task"].rsplit("_", 1)[1]][row["doc_id"]]["choices"])
    for task, value in expected_acc.items():
        assert sum(row["acc"] for row in docs if row["task"] == task) / 3 == value

    normed = summarize(summary["raw"], list(expected_norm), metric="acc_norm")
    assert {t: e["value"] for t, e in normed["tasks"].items()} == expected_norm
    write_results(summary, tmp_path / "summary.json", tmp_path / "raw.json", tmp_path / "docs.jsonl")  # strict JSON
    written = json.loads((tmp_path / "summary.json").read_text())
    assert "raw" not in written and "docs" not in written and written["tasks"] == summary["tasks"]
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert raw["results"] == summary["raw"]["results"] and "samples" not in raw  # the docs file keeps what is needed
    assert [json.loads(line) for line in (tmp_path / "docs.jsonl").read_text().splitlines()] == docs


def test_mmlu_five_shot_prompt_accuracy_and_one_forward_per_question(embedded_tasks, tiny, tiny_model_dir):
    """Also covers passing an lm-eval LM object instead of a folder."""
    from evaluation.benchmarks import build_lm

    _, task_dir, _ = embedded_tasks
    model, tokenizer = tiny
    lm = build_lm(tiny_model_dir, batch_size=16, device="cpu", precision="fp32")
    forward_rows = []
    hook = lm.model.register_forward_hook(
        lambda module, args, kwargs, out: forward_rows.append((args[0] if args else kwargs["input_ids"]).shape[0]),
        with_kwargs=True,
    )
    try:
        summary = run_suite(lm, [EMBEDDED_MMLU_TASK], num_fewshot=5, limit=3, include_path=task_dir,
                            log_samples=True)
    finally:
        hook.remove()

    entry = summary["tasks"][EMBEDDED_MMLU_TASK]
    assert entry["n"] == 3 and summary["limit"] == 3
    assert entry["value"] in {k / 3 for k in range(4)}
    # four single-token choices share one context: lm-eval's Collator runs it once
    assert forward_rows == [3]

    shots = "".join(_mmlu_text(row) + " " + "ABCD"[row["answer"]] + "\n\n" for row in MMLU_DEV[:5])
    samples = sorted(summary["raw"]["samples"][EMBEDDED_MMLU_TASK], key=lambda s: s["doc_id"])
    hits = 0
    for row, sample in zip(MMLU_TEST[:3], samples, strict=True):
        context = MMLU_PROMPT_HEAD + shots + _mmlu_text(row)
        assert [arg[0] for arg in sample["arguments"]] == [context] * 4
        scores = [_loglikelihood(model, tokenizer, context, " " + letter) for letter in "ABCD"]
        assert [resp[0][0] for resp in sample["resps"]] == pytest.approx(scores, abs=1e-4)
        hits += _argmax(scores) == row["answer"]
    assert entry["value"] == hits / 3


def test_unknown_task_names_the_task_and_the_fix(embedded_tasks):
    _, task_dir, _ = embedded_tasks
    with pytest.raises(ValueError, match=r"'embedded_mmlu_typo'.*write_embedded_tasks"):
        run_suite("unused", ["embedded_mmlu_typo"], num_fewshot=0, include_path=task_dir)


def test_missing_inputs_are_named(tmp_path, embedded_tasks):
    data_dir, task_dir, _ = embedded_tasks
    with pytest.raises(FileNotFoundError, match=r"commonsense/physical\.jsonl"):
        _write_jsonl(tmp_path / "data" / "mmlu" / "dev.jsonl", MMLU_DEV)
        _write_jsonl(tmp_path / "data" / "mmlu" / "test.jsonl", MMLU_TEST)
        write_embedded_tasks(tmp_path / "data", tmp_path / "tasks")
    with pytest.raises(FileNotFoundError, match="write_embedded_tasks"):
        run_suite("unused", [EMBEDDED_MMLU_TASK], num_fewshot=5, include_path=tmp_path / "no-tasks")
    with pytest.raises(FileNotFoundError, match="config.json"):
        run_suite(tmp_path / "no-model", [EMBEDDED_MMLU_TASK], num_fewshot=5, include_path=task_dir)


def test_summary_of_a_group_uses_its_aggregate():
    """The paper's `mmlu` is a group: one entry, lm-eval's aggregate, documents summed."""
    results = {
        "results": {
            "mmlu": {"acc,none": 0.4, "acc_stderr,none": 0.01},
            "mmlu_stem": {"acc,none": 0.3, "acc_stderr,none": "N/A"},
            "mmlu_anatomy": {"acc,none": 0.3, "sample_len": 135},
            "mmlu_virology": {"acc,none": 0.5, "sample_len": 166},
        },
        "group_subtasks": {"mmlu": ["mmlu_stem", "mmlu_virology"], "mmlu_stem": ["mmlu_anatomy"]},
    }
    summary = summarize(results, ["mmlu"])
    assert summary["tasks"] == {"mmlu": {"metric": "acc", "value": 0.4, "stderr": 0.01, "n": 301}}
    assert summary["mean_pct"] == pytest.approx(40.0)
    assert summarize(results, ["mmlu_stem"])["tasks"]["mmlu_stem"]["stderr"] is None
    with pytest.raises(ValueError, match="acc_norm"):
        summarize(results, ["mmlu"], metric="acc_norm")


def test_rewritten_task_files_are_reindexed(tmp_path, embedded_tasks):
    from evaluation.benchmarks import get_task_manager

    data_dir, _, _ = embedded_tasks
    write_embedded_tasks(data_dir, tmp_path / "tasks")
    first = get_task_manager([EMBEDDED_MMLU_TASK], tmp_path / "tasks")
    assert get_task_manager([EMBEDDED_MMLU_TASK], tmp_path / "tasks") is first
    write_embedded_tasks(data_dir, tmp_path / "tasks", commonsense_subtasks=("physical",))
    assert get_task_manager([EMBEDDED_MMLU_TASK], tmp_path / "tasks") is not first
    assert sorted(p.stem for p in (tmp_path / "tasks").glob("*.yaml")) == [
        "embedded_commonsense_physical", EMBEDDED_MMLU_TASK]


# ----------------------------------------------------------------------------- held-out perplexity
HELDOUT = [
    {"id": "toxicity-0", "domain": "toxicity", "text": "They are all the same, and I do not trust them."},
    {"id": "toxicity-1", "domain": "toxicity", "text": "Some  people say things\nthat hurt. Ünïcode too!"},
    # longer than the tiny model's 256 positions: lm-eval scores it in rolling windows
    {"id": "toxicity-2", "domain": "toxicity", "text": " ".join(f"word{k % 37}" for k in range(300))},
    {"id": "general-0", "domain": "general", "text": "The castle was built in 1200 and rebuilt in 1450."},
    {"id": "general-1", "domain": "general", "text": "Rivers flow to the sea."},
]


@pytest.fixture(scope="module")
def heldout_tasks(tmp_path_factory):
    root = tmp_path_factory.mktemp("heldout")
    _write_jsonl(root / "heldout.jsonl", HELDOUT)
    _write_jsonl(root / "mixture.jsonl", [{"text": "Something else entirely.", "domain": "general"}])
    names = write_heldout_tasks(root / "heldout.jsonl", root / "tasks", domains=["toxicity", "general"],
                                training_file=root / "mixture.jsonl")
    return root, root / "tasks", names


def _rolling_loglikelihood(model, tokenizer, prefix_id: int, text: str) -> float:
    """log p(text) token by token after the prefix token: lm-eval's loglikelihood_rolling when
    the text fits one window."""
    import torch

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([[prefix_id] + ids])).logits[0, :-1].float(), dim=-1)
    return float(logprobs.gather(1, torch.tensor(ids)[:, None]).sum())


def test_heldout_yaml_scores_like_lm_evals_wikitext(heldout_tasks):
    import yaml
    from importlib.util import find_spec

    root, task_dir, names = heldout_tasks
    assert names == ["heldout_general", "heldout_toxicity"]
    theirs = yaml.safe_load((Path(find_spec("lm_eval").submodule_search_locations[0]) / "tasks/wikitext/wikitext.yaml")
                            .read_text().replace("!function", ""))
    for name in names:
        ours = yaml.safe_load((task_dir / f"{name}.yaml").read_text())
        for key in ("output_type", "doc_to_text", "metric_list"):
            assert ours[key] == theirs[key], key
        assert ours["doc_to_target"] == "text"
        data_file = Path(ours["dataset_kwargs"]["data_files"]["test"])
        assert data_file.is_absolute() and data_file.parent == task_dir.resolve()
        rows = [json.loads(line) for line in data_file.read_text().splitlines()]
        assert rows == [row for row in HELDOUT if f"heldout_{row['domain']}" == name]


def test_rolling_perplexity_equals_the_documents_sums(heldout_tasks, tiny, tiny_model_dir, tmp_path):
    """lm-eval's word_perplexity = exp(-sum ll / sum words) over the docs file's rows; each short
    document's ll equals an independent forward; words and bytes are lm-eval's counts."""
    import math
    import re

    from evaluation.benchmarks import build_lm

    _, task_dir, _ = heldout_tasks
    model, tokenizer = tiny
    lm = build_lm(tiny_model_dir, batch_size=4, device="cpu", precision="fp32")
    assert lm.max_length == 256
    summary = run_suite(lm, ["heldout_toxicity", "heldout_general"], num_fewshot=0, include_path=task_dir,
                        log_samples=True, interval_resamples=500)
    write_results(summary, tmp_path / "perplexity.json", docs_file=tmp_path / "perplexity.docs.jsonl")
    written = json.loads((tmp_path / "perplexity.json").read_text())
    docs = [json.loads(line) for line in (tmp_path / "perplexity.docs.jsonl").read_text().splitlines()]

    assert written["kind"] == "perplexity" and written["metric"] == "word_perplexity"
    assert written["mean_pct"] is None and written["chance_pct"] is None
    assert len(docs) == len(HELDOUT)
    for row in docs:
        assert set(row) == {"task", "group", "doc_id", "doc_hash", "loglikelihood", "words", "bytes"}
        text = [h for h in HELDOUT if f"heldout_{h['domain']}" == row["task"]][row["doc_id"]]["text"]
        assert row["words"] == len(re.split(r"\s+", text)) and row["bytes"] == len(text.encode("utf-8"))
        if len(tokenizer(text)["input_ids"]) < 200:  # one window
            assert row["loglikelihood"] == pytest.approx(
                _rolling_loglikelihood(model, tokenizer, lm.prefix_token_id, text), abs=1e-3)
    for task, entry in written["tasks"].items():
        rows = [row for row in docs if row["task"] == task]
        ll, words, n_bytes = (sum(row[key] for row in rows) for key in ("loglikelihood", "words", "bytes"))
        assert entry["value"] == entry["word_perplexity"] == pytest.approx(math.exp(-ll / words), rel=1e-9)
        assert entry["byte_perplexity"] == pytest.approx(math.exp(-ll / n_bytes), rel=1e-9)
        assert entry["bits_per_byte"] == pytest.approx(-ll / n_bytes / math.log(2), rel=1e-9)
        assert (entry["loglikelihood"], entry["words"], entry["bytes"]) == (pytest.approx(ll), words, n_bytes)
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
        assert (entry["word_perplexity_ci_low"], entry["word_perplexity_ci_high"]) == (entry["ci_low"], entry["ci_high"])
        assert entry["chance"] is None and entry["n"] == len(rows)
    assert written["mean_ci_low"] <= written["mean"] <= written["mean_ci_high"]
    assert written["ci_resamples"] == 500 and written["ci_level"] == 0.95


def test_heldout_rows_are_checked(tmp_path):
    _write_jsonl(tmp_path / "heldout.jsonl", HELDOUT[:2])
    with pytest.raises(ValueError, match=r"no rows of domain\(s\) \['general'\]"):
        write_heldout_tasks(tmp_path / "heldout.jsonl", tmp_path / "tasks", domains=["toxicity", "general"])
    # the same text as a training row, up to case, spacing and edge punctuation: not held out
    _write_jsonl(tmp_path / "mixture.jsonl", [{"text": '  "they are ALL the same, and i do not trust them"'}])
    with pytest.raises(ValueError, match=r"1 held-out row.*toxicity-0"):
        write_heldout_tasks(tmp_path / "heldout.jsonl", tmp_path / "tasks", training_file=tmp_path / "mixture.jsonl")
    with pytest.raises(FileNotFoundError, match="prepare_mixture"):
        write_heldout_tasks(tmp_path / "absent.jsonl", tmp_path / "tasks")


def test_heldout_and_embedded_tasks_share_a_folder(tmp_path, embedded_tasks, heldout_tasks):
    data_dir, _, _ = embedded_tasks
    root, _, _ = heldout_tasks
    write_heldout_tasks(root / "heldout.jsonl", tmp_path / "tasks")
    write_embedded_tasks(data_dir, tmp_path / "tasks", commonsense_subtasks=("physical",))
    _write_jsonl(tmp_path / "toxicity_only.jsonl", HELDOUT[:1])
    write_heldout_tasks(tmp_path / "toxicity_only.jsonl", tmp_path / "tasks")  # drops heldout_general, not embedded_*
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == [
        "embedded_commonsense_physical.yaml", "embedded_mmlu.yaml", "heldout_toxicity.jsonl", "heldout_toxicity.yaml"]


def test_paper_and_workflow_tasks_need_only_their_folders(heldout_tasks):
    """[wikitext, heldout_toxicity] (the paper's perplexity suite): the include folder and lm-eval's
    wikitext folder are indexed, not its ~15 k tasks; the rehearsal writes wikitext's data set."""
    from evaluation.benchmarks import get_task_manager
    from rehearsal import lm_eval_data

    _, task_dir, _ = heldout_tasks
    manager = get_task_manager(["wikitext", "heldout_toxicity"], task_dir)
    assert {"wikitext", "heldout_toxicity"} <= set(manager.all_tasks) and len(manager.all_tasks) < 20
    needed = lm_eval_data.required_data(["wikitext", "heldout_toxicity", "embedded_mmlu"])
    assert needed == {("EleutherAI/wikitext_document_level", "wikitext-2-raw-v1"): {
        "splits": {"training": "train", "validation": "validation", "test": "test"}, "tasks": ["wikitext"]}}
    repos = lm_eval_data.benchmark_repos(["wikitext"])
    pages = repos["EleutherAI/wikitext_document_level"]["configs"]["wikitext-2-raw-v1"]
    assert len(pages["test"]) == 4 and all(set(row) == {"page"} and " @-@ " in row["page"] for row in pages["test"])


# ----------------------------------------------------------------------------- intervals on hand-made rows
def _acc_rows(task: str, hits: list[int], n_choices, group: str | None = None) -> list[dict]:
    choices = n_choices if isinstance(n_choices, list) else [n_choices] * len(hits)
    return [{"task": task, "group": group or task, "doc_id": k, "doc_hash": f"{task}-{k}", "acc": float(hit),
             "n_choices": c} for k, (hit, c) in enumerate(zip(hits, choices, strict=True))]


def _acc_summary(values: dict[str, float]) -> dict:
    mean = sum(values.values()) / len(values)
    return {"tasks": {name: {"metric": "acc", "value": value, "stderr": None, "n": 0} for name, value in values.items()},
            "metric": "acc", "kind": "accuracy", "mean": mean, "mean_pct": 100 * mean}


def test_accuracy_interval_and_chance_from_document_rows():
    import random

    rng = random.Random(0)
    strong = [int(rng.random() < 0.8) for _ in range(400)]  # 4 choices, far above 25%
    mixed_choices = [2, 4] * 100  # a 2-choice / 4-choice mix: chance = mean of 1/n = 0.375
    weak = [int(rng.random() < 0.375) for _ in range(200)]
    docs = _acc_rows("strong", strong, 4) + _acc_rows("weak", weak, mixed_choices)
    summary = add_intervals(_acc_summary({"strong": sum(strong) / 400, "weak": sum(weak) / 200}), docs)

    strong_entry, weak_entry = summary["tasks"]["strong"], summary["tasks"]["weak"]
    assert strong_entry["chance"] == 0.25 and weak_entry["chance"] == 0.375
    assert not strong_entry["chance_in_ci"] and weak_entry["chance_in_ci"]
    for entry, n in ((strong_entry, 400), (weak_entry, 200)):
        p = entry["value"]
        half = 1.96 * (p * (1 - p) / n) ** 0.5  # the bootstrap agrees with the normal interval at these n
        assert entry["ci_low"] < p < entry["ci_high"]
        assert entry["ci_low"] == pytest.approx(p - half, abs=0.012) and entry["ci_high"] == pytest.approx(p + half, abs=0.012)
    assert summary["chance_pct"] == pytest.approx(100 * (0.25 + 0.375) / 2)
    assert summary["mean_pct_ci_low"] < summary["mean_pct"] < summary["mean_pct_ci_high"]
    # the mean's interval is narrower than the weak task's alone (two tasks' documents, same draws per task)
    assert summary["mean_ci_high"] - summary["mean_ci_low"] < weak_entry["ci_high"] - weak_entry["ci_low"]
    assert summary["ci_method"].startswith("percentile bootstrap over documents")

    again = add_intervals(_acc_summary({"strong": sum(strong) / 400, "weak": sum(weak) / 200}), docs)
    assert again == summary  # seeded: the same rows give the same interval
    other = add_intervals(_acc_summary({"strong": sum(strong) / 400, "weak": sum(weak) / 200}), docs, seed=1)
    assert other["tasks"]["strong"]["ci_low"] != strong_entry["ci_low"] or other["tasks"]["strong"]["ci_high"] != strong_entry["ci_high"]


def test_group_intervals_follow_lm_evals_weighting():
    """mmlu-like group (size-weighted, lm-eval's weight_by_size: its subtasks' docs pooled) and an
    unweighted one (each subtask resampled within itself); chance combined the same way."""
    small, large = [1, 1, 1, 0], [0] * 12 + [1] * 4  # 3/4 and 4/16
    docs = _acc_rows("sub_a", small, 2, group="grp") + _acc_rows("sub_b", large, 4, group="grp")
    pooled = add_intervals(_acc_summary({"grp": 7 / 20}), docs, resamples=200)["tasks"]["grp"]
    assert pooled["chance"] == pytest.approx((4 * 0.5 + 16 * 0.25) / 20)
    unweighted = add_intervals(_acc_summary({"grp": (0.75 + 0.25) / 2}), docs, resamples=200)["tasks"]["grp"]
    assert unweighted["chance"] == pytest.approx((0.5 + 0.25) / 2)
    for entry in (pooled, unweighted):
        assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
    with pytest.raises(ValueError, match="not lm-eval's value"):  # rows that do not reproduce lm-eval's number
        add_intervals(_acc_summary({"grp": 0.9}), docs)
    # one document per subject (a `limit: 1` smoke run of mmlu): the pooled resample still varies
    one_each = [row for k in range(8) for row in _acc_rows(f"subject_{k}", [k % 2], 4, group="grp")]
    entry = add_intervals(_acc_summary({"grp": 0.5}), one_each, resamples=200)["tasks"]["grp"]
    assert entry["ci_low"] < 0.5 < entry["ci_high"] and entry["chance_in_ci"]


def test_document_rows_of_a_group_come_from_its_subtasks():
    def sample(doc_id, acc, n):
        return {"doc_id": doc_id, "doc_hash": f"h{doc_id}", "filter": "none", "acc": acc,
                "arguments": [["ctx", f" {k}"] for k in range(n)]}

    results = {
        "results": {"mmlu": {"acc,none": 0.5, "sample_len": 4}, "mmlu_stem": {"acc,none": 1 / 3},
                    "mmlu_anatomy": {"acc,none": 1 / 3}, "mmlu_virology": {"acc,none": 1.0}},
        "group_subtasks": {"mmlu": ["mmlu_stem", "mmlu_virology"], "mmlu_stem": ["mmlu_anatomy"]},
        "configs": {"mmlu_anatomy": {"output_type": "multiple_choice"}, "mmlu_virology": {"output_type": "multiple_choice"}},
        "samples": {"mmlu_anatomy": [sample(2, 0.0, 4), sample(0, 1.0, 4), sample(1, 0.0, 4)],
                    "mmlu_virology": [sample(0, 1.0, 4)]},
    }
    summary = summarize(results, ["mmlu"])
    docs = document_rows(results, summary)
    assert [(row["task"], row["group"], row["doc_id"]) for row in docs] == [
        ("mmlu_anatomy", "mmlu", 0), ("mmlu_anatomy", "mmlu", 1), ("mmlu_anatomy", "mmlu", 2), ("mmlu_virology", "mmlu", 0)]
    entry = add_intervals(summary, docs, resamples=100)["tasks"]["mmlu"]
    assert entry["chance"] == 0.25 and entry["ci_low"] <= 0.5 <= entry["ci_high"]


def test_a_suite_is_accuracy_or_perplexity():
    results = {"results": {"a": {"acc,none": 0.5}, "b": {"word_perplexity,none": 12.0}},
               "configs": {"a": {"output_type": "multiple_choice"}, "b": {"output_type": "loglikelihood_rolling"}}}
    assert summarize(results, ["b"])["tasks"]["b"]["metric"] == "word_perplexity"  # default by output type
    with pytest.raises(ValueError, match="separate suites"):
        summarize(results, ["a", "b"])


def test_training_overlap_counts_documents_holding_a_training_paragraph(tmp_path):
    """What a built-in perplexity task scored (wikitext: whole pages) against the training mixture's rows."""
    from evaluation.benchmarks import training_overlap

    _write_jsonl(tmp_path / "mixture.jsonl", [{"text": " The river rises in the hills . "}, {"text": "Other text ."}])
    page = {"page": " = River = \n The river rises in the HILLS . \n It flows south . \n"}
    results = {"samples": {"wikitext": [{"doc_id": 0, "doc": page, "target": "detokenised"},
                                        {"doc_id": 1, "doc": {"page": " = Hill = \n A hill . \n"}, "target": "x"}]}}
    summary = {"tasks": {"wikitext": {"metric": "word_perplexity"}, "mmlu": {"metric": "acc"}}}
    assert training_overlap(results, summary, tmp_path / "mixture.jsonl") == {"wikitext": 1}
