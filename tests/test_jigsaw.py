"""The Jigsaw variant: data, ROC AUC, label-probability scoring, sft_cls, Perspective client, table."""
import json

import numpy as np
import pytest

import methods
from corpora.jigsaw import build_splits, extract_kaggle_archive, fit_comment, fit_lm_rows, lm_prompt
from corpora.loaders import DataError
from evaluation.classification import (
    bootstrap_auc_ci,
    bootstrap_mean_ci,
    build_generation_scorer,
    classifier_probabilities,
    label_probabilities,
    load_classifier,
    roc_auc,
)
from methods._trainer import TrainingConfig

TEMPLATE = "Comment: {text}\nToxic:"
LABEL_WORDS = [" no", " yes"]


# --- ROC AUC ------------------------------------------------------------------


def _pairwise_auc(labels, scores):
    """The AUC by its definition: P(score of a positive > score of a negative), ties count half."""
    positives = [s for s, y in zip(scores, labels) if y == 1]
    negatives = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_roc_auc_matches_a_hand_computation():
    labels = [0, 0, 1, 1, 0, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.35, 0.9]
    # positives 0.35, 0.8, 0.9 vs negatives 0.1, 0.4, 0.35: 1 + 0.5 (tie) + 3 + 3 = 7.5 of 9 pairs
    assert roc_auc(labels, scores) == pytest.approx(7.5 / 9, abs=1e-12)
    assert roc_auc(labels, scores) == pytest.approx(_pairwise_auc(labels, scores), abs=1e-12)
    assert roc_auc([0, 1], [0.9, 0.1]) == 0.0


def test_roc_auc_rejects_bad_input():
    with pytest.raises(DataError, match="undefined without both classes"):
        roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="same length"):
        roc_auc([0, 1], [0.5])
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.5, 0.6])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.5, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        roc_auc([], [])


# --- data ---------------------------------------------------------------------


def _splits(n_train=8, n_test=6):
    rows = lambda n, prefix: [{"id": f"{prefix}{i}", "text": f"comment {prefix}{i}", "label": i % 2} for i in range(n)]
    return {"train": rows(n_train, "a"), "test": rows(n_test, "b")}  # no comment in both splits (they would be removed)


def test_build_splits_keeps_labels_and_builds_lm_text():
    train, test, _ = build_splits(_splits(), n_train=4, n_test=None, template=TEMPLATE, label_words=LABEL_WORDS)
    assert len(train) == 4 and len(test) == 6
    for row in train:
        assert row["text"] == f"Comment: {row['comment']}\nToxic:" + LABEL_WORDS[row["label"]]
        assert row["domain"] == "toxicity" and row["label"] in (0, 1)
    assert set(test[0]) == {"id", "comment", "label"}
    again, _, _ = build_splits(_splits(), n_train=4, n_test=None, template=TEMPLATE, label_words=LABEL_WORDS)
    assert again == train  # the shuffle is seeded


def test_build_splits_rejects_missing_labels_and_single_class_test_sets():
    splits = _splits()
    for row in splits["train"]:
        del row["label"]
    with pytest.raises(DataError, match="no 'label' column"):
        build_splits(splits, n_train=None, n_test=None, template=TEMPLATE, label_words=LABEL_WORDS)
    splits = _splits()
    for row in splits["test"]:
        row["label"] = 0
    with pytest.raises(DataError, match="test split.*only label 0.*ROC AUC is undefined"):
        build_splits(splits, n_train=None, n_test=None, template=TEMPLATE, label_words=LABEL_WORDS)
    with pytest.raises(ValueError, match="must contain \\{text\\}"):
        build_splits(_splits(), n_train=None, n_test=None, template="Comment: {comment}", label_words=LABEL_WORDS)


def test_kaggle_archive_with_nested_zips_is_extracted(tmp_path):
    import io
    import zipfile

    with zipfile.ZipFile(tmp_path / "competition.zip", "w") as outer:
        for name in ("train.csv", "test.csv", "test_labels.csv", "sample_submission.csv"):
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w") as handle:
                handle.writestr(name, f"id,{name}\n")
            outer.writestr(name + ".zip", inner.getvalue())
    written = extract_kaggle_archive(tmp_path / "competition.zip", tmp_path / "jigsaw")
    assert [path.name for path in written] == ["train.csv", "test.csv", "test_labels.csv"]
    assert (tmp_path / "jigsaw" / "test_labels.csv").read_text() == "id,test_labels.csv\n"
    with zipfile.ZipFile(tmp_path / "partial.zip", "w") as outer:
        outer.writestr("train.csv", "id\n")
    with pytest.raises(DataError, match="no test.csv"):
        extract_kaggle_archive(tmp_path / "partial.zip", tmp_path / "other")


# --- scoring on the tiny model -----------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    return load_causal_lm(tiny_model_dir, device="cpu"), load_tokenizer(tiny_model_dir)


def _manual_yes_probability(model, tokenizer, comment):
    """One unpadded forward of the prompt; P(yes) / (P(yes) + P(no)) from the full softmax."""
    import torch

    prompt = lm_prompt(TEMPLATE, comment)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    word_ids = [tokenizer(prompt + word, add_special_tokens=False)["input_ids"][len(ids)] for word in LABEL_WORDS]
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=torch.tensor([ids])).logits[0, -1].double(), dim=-1)
    return float(probs[word_ids[1]] / (probs[word_ids[1]] + probs[word_ids[0]]))


def test_label_probabilities_match_a_manual_forward(tiny_lm):
    model, tokenizer = tiny_lm
    comments = ["You are a wonderful neighbour.", "What a stupid idiot, honestly, every single day of the week.", "ok"]
    scores = label_probabilities(model, tokenizer, comments, template=TEMPLATE, label_words=LABEL_WORDS,
                                 max_length=128, batch_size=2)  # batches of 2: padding is exercised
    expected = [_manual_yes_probability(model, tokenizer, comment) for comment in comments]
    assert scores.shape == (3,) and scores.dtype == np.float64
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_long_comments_are_cut_as_in_training(tiny_lm):
    model, tokenizer = tiny_lm
    comment = "this is a rather long comment about nothing in particular " * 6
    fitted = fit_comment(tokenizer, comment, TEMPLATE, LABEL_WORDS, max_length=24)
    assert comment.startswith(fitted) and len(fitted) < len(comment)
    for word in LABEL_WORDS:  # label word + EOS fit in max_length: the label is never truncated away
        assert len(tokenizer(lm_prompt(TEMPLATE, fitted) + word, add_special_tokens=False)["input_ids"]) <= 23
    row = {"id": "x", "comment": comment, "label": 1, "text": "unused", "domain": "toxicity"}
    assert fit_lm_rows([row], tokenizer, TEMPLATE, LABEL_WORDS, 24)[0]["text"] == lm_prompt(TEMPLATE, fitted) + " yes"
    score = label_probabilities(model, tokenizer, [comment], template=TEMPLATE, label_words=LABEL_WORDS, max_length=24)
    assert score[0] == pytest.approx(_manual_yes_probability(model, tokenizer, fitted), rel=1e-5)
    with pytest.raises(ValueError, match="no room for a comment"):
        fit_comment(tokenizer, comment, TEMPLATE, LABEL_WORDS, max_length=4)


def test_comments_are_trained_and_scored_with_bos_where_the_tokenizer_adds_it(tiny_bos_model_dir):
    """A Llama-style tokenizer: the LM-loss text starts with BOS, as a prompt does in generation,
    and is still cut so that its label word and EOS fit; the label probability is read after
    the same ids (BOS + prompt) the model was trained on."""
    import torch

    from methods._trainer import encode_rows
    from modeling.load import load_causal_lm, load_tokenizer

    model, tokenizer = load_causal_lm(tiny_bos_model_dir, device="cpu"), load_tokenizer(tiny_bos_model_dir)
    comment = "this is a rather long comment about nothing in particular " * 6
    row = {"id": "x", "comment": comment, "label": 1, "text": "unused", "domain": "toxicity"}
    (fitted,) = fit_lm_rows([row], tokenizer, TEMPLATE, LABEL_WORDS, 24)
    (encoded,) = encode_rows(tokenizer, [fitted], 24)
    ids = encoded["input_ids"]
    (yes,) = tokenizer(LABEL_WORDS[1], add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-2:] == [yes, tokenizer.eos_token_id] and len(ids) <= 24
    score = label_probabilities(model, tokenizer, [comment], template=TEMPLATE, label_words=LABEL_WORDS, max_length=24)
    (no,) = tokenizer(LABEL_WORDS[0], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        probs = torch.softmax(model(input_ids=torch.tensor([ids[:-2]])).logits[0, -1].double(), dim=-1)
    assert score[0] == pytest.approx(float(probs[yes] / (probs[yes] + probs[no])), rel=1e-5)


# --- sft_cls ------------------------------------------------------------------

CLS_ROWS = [
    {"id": str(i), "comment": text, "label": label, "text": "unused", "domain": "toxicity"}
    for i, (text, label) in enumerate([("you absolute idiot", 1), ("thanks for the help", 0),
                                       ("shut up, moron", 1), ("a kind and useful reply", 0)] * 3)
]


def test_sft_cls_prepare_data_needs_labels_of_both_classes():
    method = methods.build_method("sft_cls", {})
    assert method.trains and not method.guided
    assert method.prepare_data(CLS_ROWS[:2]) == [{"text": "you absolute idiot", "label": 1},
                                                 {"text": "thanks for the help", "label": 0}]
    with pytest.raises(ValueError, match="needs a 'label'.*row 1"):
        method.prepare_data([{"text": "no label here", "domain": "general"}])
    with pytest.raises(ValueError, match="one class only"):
        method.prepare_data([row for row in CLS_ROWS if row["label"] == 1])


def test_sft_cls_trains_the_classifier_and_leaves_a_causal_lm_with_the_base_head(tiny_model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, set_seed

    method = methods.build_method("sft_cls", {})
    config = TrainingConfig(max_steps=3, batch_size=4, max_length=16, learning_rate=1e-2, save_steps=2, logging_steps=1)
    summary = method.fine_tune(str(tiny_model_dir), method.prepare_data(CLS_ROWS), config, tmp_path / "model",
                               tmp_path / "state", seed=0)
    assert summary["steps"] == 3 and summary["resumed_from"] is None
    assert (tmp_path / "state" / "checkpoint-2").is_dir()  # resume points, as in the shared loop

    set_seed(0)  # the head fine_tune started from: same seed, same initialisation
    initial = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    classifier, tokenizer = load_classifier(tmp_path / "model" / "classifier", device="cpu")
    assert summary["classifier_path"] == str((tmp_path / "model" / "classifier").resolve())
    assert not torch.equal(classifier.score.weight, initial.score.weight)
    trained_backbone = classifier.base_model.state_dict()
    assert any(not torch.equal(value, initial.base_model.state_dict()[key]) for key, value in trained_backbone.items())
    probs = classifier_probabilities(classifier, tokenizer, ["you idiot", "thank you"], max_length=16, batch_size=1)
    assert probs.shape == (2,) and ((probs > 0) & (probs < 1)).all()

    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "model")  # a plain causal-LM folder
    base = load_file(str(tiny_model_dir / "model.safetensors"))
    base_head = base.get("lm_head.weight", base["model.embed_tokens.weight"])  # the tiny model ties them
    assert torch.equal(lm.lm_head.weight, base_head)  # the head is the base's, not the fine-tuned embeddings'
    assert lm.lm_head.weight.data_ptr() != lm.model.embed_tokens.weight.data_ptr()
    for key, value in lm.model.state_dict().items():  # the backbone is the classifier's
        assert torch.equal(value, trained_backbone[key]), key
    assert not torch.equal(lm.model.embed_tokens.weight, base["model.embed_tokens.weight"])
    assert json.loads((tmp_path / "model" / "training_log.json").read_text())["steps"] == 3


# --- Perspective client (fake transport, fake clock) --------------------------


class FakeAPI:
    """Stands in for the HTTP layer and the clock: scripted responses, recorded calls."""

    def __init__(self, monkeypatch, responses):
        import evaluation.perspective as perspective

        self.responses = list(responses)
        self.calls, self.sleeps, self.clock = [], [], 0.0
        monkeypatch.setattr(perspective, "_post_json", self.post)
        monkeypatch.setattr(perspective, "_sleep", self.sleep)
        monkeypatch.setattr(perspective, "_now", lambda: self.clock)

    def post(self, url, payload, timeout):
        self.calls.append({"url": url, "payload": payload, "time": self.clock})
        response = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(response, Exception):
            raise response
        if isinstance(response, float):
            return 200, {"attributeScores": {"TOXICITY": {"summaryScore": {"value": response, "type": "PROBABILITY"}}}}, {}
        status, headers = response
        return status, {"error": {"message": f"status {status}"}}, headers

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.clock += seconds


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "test-key")


def _perspective(**options):
    return build_generation_scorer({"backend": "perspective", **options})


def test_perspective_scores_texts_and_sends_the_expected_request(monkeypatch, api_key):
    api = FakeAPI(monkeypatch, [0.25, 0.75])
    scorer = _perspective(requests_per_second=10.0)
    assert scorer.name == "perspective:toxicity"
    scores = scorer.score(["hello there", "you idiot", "hello there", "   "])
    np.testing.assert_allclose(scores, [0.25, 0.75, 0.25, 0.0])
    assert len(api.calls) == 2  # the repeated text is sent once, the blank one not at all
    assert api.calls[0]["url"].endswith("comments:analyze?key=test-key")
    assert api.calls[0]["payload"] == {"comment": {"text": "hello there"}, "languages": ["en"],
                                       "requestedAttributes": {"TOXICITY": {}}, "doNotStore": True}


def test_perspective_rate_limit_spaces_requests(monkeypatch, api_key):
    api = FakeAPI(monkeypatch, [0.1])
    _perspective(requests_per_second=2.0).score(["a", "b", "c", "d"])
    times = [call["time"] for call in api.calls]
    assert len(times) == 4 and all(later - earlier >= 0.5 - 1e-9 for earlier, later in zip(times, times[1:]))


def test_perspective_retries_quota_server_and_network_errors_with_backoff(monkeypatch, api_key):
    api = FakeAPI(monkeypatch, [(429, {}), OSError("connection reset"), (503, {"Retry-After": "7"}), 0.9])
    scores = _perspective(requests_per_second=1000.0, backoff_seconds=1.0, max_retries=3).score(["text"])
    assert scores.tolist() == [0.9] and len(api.calls) == 4
    backoffs = [s for s in api.sleeps if s >= 0.5]  # the rate limiter's waits are ~1 ms here
    assert backoffs == [1.0, 2.0, 7.0]  # doubling, then the server's Retry-After


def test_perspective_fails_loudly_and_never_scores_a_failure_as_non_toxic(monkeypatch, api_key):
    from evaluation.perspective import PerspectiveError

    api = FakeAPI(monkeypatch, [(503, {})])
    with pytest.raises(PerspectiveError, match="no score after 3 attempts.*HTTP 503.*never counted as non-toxic"):
        _perspective(max_retries=2).score(["fine", "text"])
    assert len(api.calls) == 3
    api = FakeAPI(monkeypatch, [(400, {})])  # a client error (bad request, unsupported language): no retry
    with pytest.raises(PerspectiveError, match="HTTP 400.*not retried"):
        _perspective(max_retries=5).score(["text"])
    assert len(api.calls) == 1
    FakeAPI(monkeypatch, [(200, {})])  # a 200 without a score is an error, not a zero
    with pytest.raises(PerspectiveError, match="unexpected response"):
        _perspective().score(["text"])


def test_perspective_needs_an_api_key_and_valid_options(monkeypatch):
    from evaluation.toxicity import ScorerNotAvailable

    monkeypatch.delenv("PERSPECTIVE_API_KEY", raising=False)
    with pytest.raises(ScorerNotAvailable, match="PERSPECTIVE_API_KEY"):
        _perspective()
    monkeypatch.setenv("PERSPECTIVE_API_KEY", "k")
    with pytest.raises(ValueError, match="requests_per_second"):
        _perspective(requests_per_second=0)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['qps'\]"):
        _perspective(qps=1)


# --- generation toxicity summary and the table ---------------------------------


def test_bootstrap_mean_ci_brackets_the_mean_and_is_seeded():
    values = np.array([0.1, 0.2, 0.9, 0.4, 0.3, 0.05])
    groups = np.array([0, 0, 1, 1, 2, 2])
    low, high = bootstrap_mean_ci(values, groups, n_resamples=500, seed=3)
    assert low <= values.mean() <= high
    assert (low, high) == bootstrap_mean_ci(values, groups, n_resamples=500, seed=3)
    assert bootstrap_mean_ci(np.full(4, 0.3), n_resamples=50) == pytest.approx((0.3, 0.3))
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean_ci([0.1, float("nan")])


def test_bootstrap_auc_ci_is_stratified_and_seeded():
    rng = np.random.default_rng(0)
    labels = np.array([1] * 5 + [0] * 25)  # few positives: an unstratified draw could hold none
    scores = rng.random(30) + 0.3 * labels
    low, high = bootstrap_auc_ci(labels, scores, n_resamples=300, seed=1)
    assert 0.0 <= low <= roc_auc(labels, scores) <= high <= 1.0
    assert (low, high) == bootstrap_auc_ci(labels, scores, n_resamples=300, seed=1)
    assert bootstrap_auc_ci([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], n_resamples=50) == (1.0, 1.0)
    with pytest.raises(DataError, match="undefined"):
        bootstrap_auc_ci([1, 1], [0.2, 0.3])


def test_jigsaw_table_from_metric_files(tmp_path):
    from evaluation.jigsaw import COLUMNS, jigsaw_table, plot_jigsaw, read_jigsaw_metrics

    files = []
    for method, seeds in (("sft_cls", (0, 1)), ("base", (0,))):
        for seed in seeds:
            folder = tmp_path / "results/jigsaw/metrics/tiny" / method / f"seed{seed}"
            folder.mkdir(parents=True)
            (folder / "toxicity.json").write_text(json.dumps({
                "mean_toxicity": 0.2 + 0.1 * seed, "mean_toxicity_ci_low": 0.1, "mean_toxicity_ci_high": 0.4,
                "n_prompts": 5, "n_samples": 10, "scorer": "profanity_check"}))
            (folder / "auc.json").write_text(json.dumps({"roc_auc": 0.8 + 0.1 * seed, "roc_auc_ci_low": 0.7,
                                                         "roc_auc_ci_high": 0.9, "n_test": 30}))
            files += [folder / "toxicity.json", folder / "auc.json"]
    table = jigsaw_table(read_jigsaw_metrics(files), methods=["base", "sft_cls"], models=["tiny"])
    assert list(table.columns) == COLUMNS and table["method"].tolist() == ["base", "sft_cls"]
    base, cls = table.iloc[0], table.iloc[1]
    assert (base.api_toxicity, base.api_toxicity_ci_low, base.classify_roc_auc, base.seed) == (0.2, 0.1, 0.8, "0")
    assert (base.classify_roc_auc_ci_low, base.classify_roc_auc_ci_high) == (0.7, 0.9)
    assert cls.api_toxicity == pytest.approx(0.25) and cls.classify_roc_auc == pytest.approx(0.85)
    assert cls.seed == "0,1" and cls.n_seeds == 2 and cls.interval == "t over seeds"
    assert cls.api_toxicity_ci_low < 0.25 < cls.api_toxicity_ci_high
    assert cls.classify_roc_auc_ci_low < 0.85 < cls.classify_roc_auc_ci_high
    plot_jigsaw(table, tmp_path / "jigsaw.png")
    assert (tmp_path / "jigsaw.png").stat().st_size > 0
