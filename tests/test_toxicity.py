"""Toxicity scorers: the registry, the embedded profanity_check default, and the
Detoxify and Hugging Face backends run for real on tiny random models with
tokenizers built offline (nothing is downloaded)."""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from evaluation import toxicity
from evaluation.toxicity import (
    ScorerNotAvailable,
    ToxicityScorer,
    build_scorer,
    flag_scores,
    known_scorers,
    register_scorer,
)

WORDS = "you are a stupid idiot the weather is nice today i like books and tea".split()
TEXTS = [
    "you are a stupid idiot",
    "",
    "the weather is nice today",
    "i like books and tea and unknownword",
    " ".join(WORDS * 3),  # longer than max_length: truncated
]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any socket connection fails the test: scorers must never reach the network."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


# --- registry -----------------------------------------------------------------


def test_importing_the_modules_does_not_import_heavy_packages():
    code = (
        "import sys, evaluation.toxicity, evaluation.stats;"
        "heavy = [m for m in ('torch', 'transformers', 'detoxify', 'sklearn', 'profanity_check', 'h5py', 'tox_block') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))


def test_unknown_backend_names_the_known_ones():
    with pytest.raises(ValueError) as err:
        build_scorer({"backend": "nope"})
    for name in ("detoxify", "hf_classifier", "profanity_check"):
        assert name in str(err.value)
    assert {"detoxify", "hf_classifier", "profanity_check"} <= set(known_scorers())  # other tests may register more


def test_unknown_option_is_rejected_with_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['batchsize'\].*batch_size"):
        build_scorer({"backend": "profanity_check", "batchsize": 8})


def test_register_scorer_rejects_duplicates_and_non_classes():
    with pytest.raises(ValueError, match="already registered"):

        @register_scorer("profanity_check")
        class Other(ToxicityScorer):
            pass

    with pytest.raises(TypeError, match="subclass of ToxicityScorer"):
        register_scorer("a_function")(lambda texts: texts)
    with pytest.raises(TypeError, match="subclass of ToxicityScorer"):
        register_scorer("not_a_scorer")(dict)
    assert "Other" not in {cls.__name__ for cls in toxicity._REGISTRY.values()}


def test_a_registered_scorer_is_built_from_config_and_batched(monkeypatch, capsys):
    monkeypatch.setattr(toxicity, "_REGISTRY", dict(toxicity._REGISTRY))
    batches = []

    @register_scorer("length")
    class LengthScorer(ToxicityScorer):
        def __init__(self, *, scale: float = 10.0, batch_size: int = 2, threshold: float = 0.5):
            super().__init__(batch_size=batch_size, threshold=threshold)
            self.scale = scale

        def _score_batch(self, texts):
            batches.append(len(texts))
            return [len(t) / self.scale for t in texts]

    scorer = build_scorer({"backend": "length", "scale": 4.0, "threshold": 0.75})
    assert scorer.name == "length"
    texts = ["", "ab", "abc", "abcd", "abcdefgh"]
    np.testing.assert_allclose(scorer.score(texts), [0.0, 0.5, 0.75, 1.0, 1.0])  # clipped to 1
    assert batches == [2, 2, 1]
    assert scorer.flag(texts).tolist() == [False, False, True, True, True]
    assert scorer.flag(texts, threshold=0.5).tolist() == [False, True, True, True, True]
    assert "scoring toxicity" not in capsys.readouterr().err  # 3 batches: no bar

    scorer.score(["x"] * 11)  # 6 batches: a bar
    assert "scoring toxicity (length)" in capsys.readouterr().err
    assert scorer.score([]).shape == (0,)
    with pytest.raises(TypeError, match="list of strings"):
        scorer.score("one string")
    with pytest.raises(TypeError, match="text 1"):
        scorer.score(["ok", None])


def test_flag_scores():
    assert flag_scores([0.1, 0.5, 0.9]).tolist() == [False, True, True]
    assert flag_scores([0.1, 0.5, 0.9], threshold=0.95).tolist() == [False, False, False]
    with pytest.raises(ValueError, match="threshold"):
        flag_scores([0.1], threshold=2)


# --- profanity_check ----------------------------------------------------------


@pytest.fixture(scope="module")
def profanity_scorer():
    return build_scorer({})  # the embedded default


def test_profanity_check_separates_obvious_strings(profanity_scorer):
    assert profanity_scorer.name == "profanity_check"
    profane = ["fuck you, you stupid bitch", "go to hell you piece of shit"]
    clean = ["The weather is lovely today.", "I enjoy reading books about history."]
    scores = profanity_scorer.score(profane + clean)
    assert scores.dtype == np.float64
    assert (scores[:2] > 0.9).all() and (scores[2:] < 0.2).all()
    assert profanity_scorer.flag(profane + clean).tolist() == [True, True, False, False]


def test_profanity_check_scores_empty_strings(profanity_scorer):
    scores = profanity_scorer.score(["", "   ", "fine"])
    assert scores.shape == (3,) and ((scores >= 0) & (scores <= 1)).all()
    assert profanity_scorer.score([]).shape == (0,)


def test_profanity_check_is_batch_size_independent(profanity_scorer):
    texts = ["you idiot", "hello there", "", "what the hell"] * 3
    small = build_scorer({"backend": "profanity_check", "batch_size": 5})
    np.testing.assert_allclose(small.score(texts), profanity_scorer.score(texts), atol=1e-12)


# --- detoxify -----------------------------------------------------------------


def test_detoxify_without_checkpoint_says_where_to_get_it():
    with pytest.raises(ScorerNotAvailable) as err:
        build_scorer({"backend": "detoxify"})
    message = str(err.value)
    assert "https://github.com/unitaryai/detoxify/releases/download/v0.1-alpha/toxic_original-c1212f89.ckpt" in message
    assert "`checkpoint:" in message and "huggingface_config_path" in message
    assert isinstance(err.value, RuntimeError)


def test_detoxify_missing_checkpoint_file_names_the_model_type_url(tmp_path):
    with pytest.raises(ScorerNotAvailable, match=r"does not exist.*v0\.3-alpha/toxic_debiased-c7548aa0\.ckpt"):
        build_scorer({"backend": "detoxify", "model_type": "unbiased", "checkpoint": str(tmp_path / "no.ckpt")})
    with pytest.raises(ValueError, match="known: original, unbiased, multilingual"):
        build_scorer({"backend": "detoxify", "model_type": "nope"})


@pytest.fixture(scope="module")
def detoxify_files(tmp_path_factory):
    """A Detoxify-format checkpoint of a tiny random BERT, and its config folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("detoxify")
    base = folder / "bert-config"
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)}
    BertTokenizer(vocab=vocab, model_max_length=512).save_pretrained(base)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=6,
    )
    config.save_pretrained(base)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    # The layout of Detoxify's released checkpoints (detoxify.detoxify.load_checkpoint).
    classes = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    arch = {"model_type": "bert-base-uncased", "model_name": "BertForSequenceClassification",
            "tokenizer_name": "BertTokenizer", "num_classes": 6}
    checkpoint = folder / "toxic_tiny.ckpt"
    torch.save({"config": {"arch": {"args": arch}, "dataset": {"args": {"classes": classes}}},
                "state_dict": model.state_dict()}, checkpoint)
    return checkpoint, base, model.eval()


def test_detoxify_scores_are_the_toxicity_sigmoid(detoxify_files):
    import torch
    from transformers import BertTokenizer

    checkpoint, base, model = detoxify_files
    config = {"backend": "detoxify", "checkpoint": str(checkpoint), "huggingface_config_path": str(base),
              "device": "cpu", "max_length": 16}
    scorer = build_scorer({**config, "batch_size": 3})
    assert scorer.name == "detoxify:original"
    tokenizer = BertTokenizer.from_pretrained(base)
    with torch.no_grad():
        expected = [
            torch.sigmoid(model(**tokenizer(t, return_tensors="pt", truncation=True, max_length=16)).logits[0, 0]).item()
            for t in TEXTS
        ]
    scores = scorer.score(TEXTS)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    np.testing.assert_allclose(build_scorer({**config, "batch_size": 1}).score(TEXTS), scores, atol=1e-5)


def test_detoxify_base_model_missing_offline_says_how_to_get_it(detoxify_files, tmp_path):
    import torch

    checkpoint, _, _ = detoxify_files
    loaded = torch.load(checkpoint, weights_only=False)
    loaded["config"]["arch"]["args"]["model_type"] = "no-such-owner/no-such-bert"  # surely not cached
    renamed = tmp_path / "renamed.ckpt"
    torch.save(loaded, renamed)
    with pytest.raises(ScorerNotAvailable, match=r"hf download no-such-owner/no-such-bert --local-dir DIR.*huggingface_config_path"):
        build_scorer({"backend": "detoxify", "checkpoint": str(renamed), "device": "cpu"})


# --- hf_classifier ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_classifier_dir(tmp_path_factory):
    """A tiny random RobertaForSequenceClassification with a WordLevel tokenizer
    that adds <s> ... </s> like RoBERTa's, saved as a normal model folder."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-roberta-classifier")
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "<mask>"] + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", mask_token="<mask>", model_max_length=32,
    )
    config = RobertaConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=40, pad_token_id=1, bos_token_id=0,
        eos_token_id=2, num_labels=2,  # id2label: LABEL_0, LABEL_1 as in tomh/toxigen_roberta
    )
    torch.manual_seed(0)
    RobertaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _manual_probs(folder, texts, label_index, max_length):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        logits = [model(**tokenizer(t, return_tensors="pt", truncation=True, max_length=max_length)).logits[0]
                  for t in texts]
    return [torch.softmax(row, dim=-1)[label_index].item() for row in logits]


def test_hf_classifier_is_the_softmax_at_the_toxic_label(tiny_classifier_dir):
    config = {"backend": "hf_classifier", "path": str(tiny_classifier_dir), "device": "cpu", "max_length": 16}
    scorer = build_scorer({**config, "batch_size": 3})
    assert scorer.name == f"hf:{tiny_classifier_dir.name}"
    scores = scorer.score(TEXTS)
    np.testing.assert_allclose(scores, _manual_probs(tiny_classifier_dir, TEXTS, 1, 16), atol=1e-5)
    np.testing.assert_allclose(build_scorer({**config, "batch_size": 1}).score(TEXTS), scores, atol=1e-5)

    label_0 = build_scorer({**config, "toxic_label": "LABEL_0"}).score(TEXTS)
    np.testing.assert_allclose(label_0, 1 - scores, atol=1e-5)
    assert scorer.flag(TEXTS).tolist() == (scores >= 0.5).tolist()


def test_hf_classifier_name_keeps_the_hub_id_when_loading_a_local_copy(tiny_classifier_dir):
    scorer = build_scorer({"backend": "hf_classifier", "hub_id": "tomh/toxigen_roberta",
                           "path": str(tiny_classifier_dir), "device": "cpu", "max_length": 16})
    assert scorer.name == "hf:tomh/toxigen_roberta"


def test_hf_classifier_unknown_label_names_the_labels_present(tiny_classifier_dir):
    with pytest.raises(ValueError, match=r"toxic_label 'toxic'.*LABEL_0.*LABEL_1"):
        build_scorer({"backend": "hf_classifier", "path": str(tiny_classifier_dir), "toxic_label": "toxic",
                      "device": "cpu"})


def test_hf_classifier_missing_from_offline_cache_says_how_to_download(monkeypatch):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by conftest before transformers is imported
    with pytest.raises(ScorerNotAvailable) as err:
        build_scorer({"backend": "hf_classifier", "hub_id": "no-such-owner/no-such-toxicity-model"})
    message = str(err.value)
    assert "download no-such-owner/no-such-toxicity-model" in message
    assert "HF_HUB_OFFLINE=1" in message and "`path`" in message


def test_hf_classifier_needs_a_source_and_an_existing_path(tmp_path):
    with pytest.raises(ValueError, match="hub_id"):
        build_scorer({"backend": "hf_classifier"})
    with pytest.raises(ScorerNotAvailable, match="not a folder.*download tomh/toxigen_roberta --local-dir"):
        build_scorer({"backend": "hf_classifier", "hub_id": "tomh/toxigen_roberta", "path": str(tmp_path / "none")})


# --- tox_block ----------------------------------------------------------------
# Needs `pip install --no-deps tox-block==0.1.2` (the weights) and h5py.

# ToxBlock's README: make_predictions(texts, rescale=True) with TensorFlow, and the
# min-max ranges of tox_block.config.RESCALE_PROBA that `rescale` divides by.
TOX_BLOCK_README = {
    "Good morning my friend, I hope you're having a fantastic day!":
        [0.05347811430692673, 0.0006274021579883993, 0.004466842859983444, 0.009578478522598743,
         0.00757843442261219, 0.002106667961925268],
    "I will kill you, you fucking idiot!":
        [0.9998679757118225, 0.7870362997055054, 0.9885633587837219, 0.8483908176422119,
         0.9883397221565247, 0.171059250831604],
    "I do strongly disagree with the fascist views of this joke that calls itself a political party.":
        [0.026190076023340225, 7.185135473264381e-05, 0.0009493605466559529, 0.00012321282702032477,
         0.0029190618079155684, 0.0022098885383456945],
}
TOX_BLOCK_RESCALE = [(0.002116, 0.999858), (0.000011, 0.648682), (0.000347, 0.997533),
                     (0.000040, 0.918887), (0.000373, 0.986303), (0.000074, 0.901117)]


@pytest.fixture(scope="module")
def tox_block_scorer():
    return build_scorer({"backend": "tox_block"})


def test_tox_block_reproduces_the_published_outputs(tox_block_scorer):
    """All six outputs equal those ToxBlock's README shows from TensorFlow (after its
    min-max rescaling): the torch re-computation of the Keras 2 model is exact."""
    assert toxicity.TOX_BLOCK_CLASSES == ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
    outputs = tox_block_scorer._outputs(list(TOX_BLOCK_README))
    low, high = np.array(TOX_BLOCK_RESCALE).T
    np.testing.assert_allclose(np.abs((outputs - low) / (high - low)), list(TOX_BLOCK_README.values()), atol=1e-5)
    np.testing.assert_allclose(tox_block_scorer.score(list(TOX_BLOCK_README)), outputs[:, 0])


def test_tox_block_separates_toxic_from_benign_and_reports_its_name(tox_block_scorer):
    assert tox_block_scorer.name == "tox_block" and "tox_block" in known_scorers()
    assert toxicity.scorer_options("tox_block") == ["batch_size", "path", "threshold"]
    toxic = ["Shut up, you pathetic moron.", "You are a worthless piece of garbage and everyone hates you."]
    benign = ["Thank you so much for your help yesterday.", "The museum opens at nine and the tickets are cheap."]
    scores = tox_block_scorer.score(toxic + benign)
    assert scores.dtype == np.float64
    assert (scores[:2] > 0.9).all() and (scores[2:] < 0.1).all()
    assert tox_block_scorer.flag(toxic + benign).tolist() == [True, True, False, False]


def test_tox_block_is_batch_size_independent(tox_block_scorer):
    texts = TEXTS + list(TOX_BLOCK_README) + ["you idiot", "hello there"] * 3
    one = build_scorer({"backend": "tox_block", "batch_size": 1}).score(texts)
    np.testing.assert_allclose(build_scorer({"backend": "tox_block", "batch_size": 4}).score(texts), one, atol=1e-5)
    np.testing.assert_allclose(tox_block_scorer.score(texts), one, atol=1e-5)


def test_tox_block_tokenizes_like_keras(tox_block_scorer):
    tokenizer = tox_block_scorer._tokenizer
    assert tokenizer.max_length == 100 and tokenizer.num_words == 20000
    index = tokenizer.word_index
    # lower-cased, punctuation split off, unknown words dropped (no OOV token)
    assert tokenizer.ids("You, IDIOT!! qwzxqwzx") == [index["you"], index["idiot"]]
    rare = next(word for word, i in index.items() if i >= 20000)
    assert tokenizer.ids(f"you {rare}") == [index["you"]]  # beyond num_words: dropped
    ids = tokenizer.encode(["", "you idiot", " ".join(["idiot"] * 150 + ["you"])])
    assert ids.shape == (3, 100) and not ids[0].any()
    assert ids[1].tolist() == [0] * 98 + [index["you"], index["idiot"]]  # padded on the left
    assert ids[2, -1] == index["you"]  # truncated on the left: the end is kept
    scores = tox_block_scorer.score(["", "   ", "!!!"])
    assert np.allclose(scores, scores[0])  # all three are empty sequences


def test_tox_block_without_the_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(toxicity, "tox_block_folder", lambda: None)
    with pytest.raises(ScorerNotAvailable, match=r"pip install --no-deps tox-block==0\.1\.2"):
        build_scorer({"backend": "tox_block"})
    with pytest.raises(ScorerNotAvailable, match=r"lacks lstm_model_0\.1\.2\.h5.*--no-deps tox-block.*`path`"):
        build_scorer({"backend": "tox_block", "path": str(tmp_path)})
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ScorerNotAvailable, match=r"needs h5py: pip install h5py=="):
        build_scorer({"backend": "tox_block"})


def _tox_block_copy(tmp_path, config_edit=None, pickle_bytes=None):
    """A copy of ToxBlock's two files, the model config or the encoder replaced."""
    import json
    import shutil

    import h5py

    folder = toxicity.tox_block_folder()
    out = tmp_path / "tox_block_copy"
    out.mkdir(parents=True)
    shutil.copy(folder / toxicity.TOX_BLOCK_MODEL, out)
    if pickle_bytes is None:
        shutil.copy(folder / toxicity.TOX_BLOCK_ENCODER, out)
    else:
        (out / toxicity.TOX_BLOCK_ENCODER).write_bytes(pickle_bytes)
    if config_edit:
        with h5py.File(out / toxicity.TOX_BLOCK_MODEL, "r+") as handle:
            config = json.loads(handle.attrs["model_config"])
            config_edit(config)
            handle.attrs["model_config"] = json.dumps(config)
    return out


def test_tox_block_loads_from_a_path_and_checks_the_architecture(tmp_path, tox_block_scorer):
    copy = _tox_block_copy(tmp_path)
    np.testing.assert_allclose(build_scorer({"backend": "tox_block", "path": str(copy)}).score(TEXTS),
                               tox_block_scorer.score(TEXTS))

    def sigmoid_gates(config):
        config["config"]["layers"][2]["config"]["layer"]["config"]["recurrent_activation"] = "sigmoid"

    with pytest.raises(ValueError, match="unexpected layer settings"):
        build_scorer({"backend": "tox_block", "path": str(_tox_block_copy(tmp_path / "a", sigmoid_gates))})

    def drop_dropout(config):
        del config["config"]["layers"][5]

    with pytest.raises(ValueError, match="expected .*Dropout"):
        build_scorer({"backend": "tox_block", "path": str(_tox_block_copy(tmp_path / "b", drop_dropout))})


def test_tox_block_encoder_may_name_no_other_class(tmp_path):
    """The encoder is unpickled without running code: a pickle that names any class
    beyond ToxBlock's own two and a few containers is refused."""
    import pickle

    evil = pickle.dumps(os.system)  # `os.system` (posix.system) would run on load
    with pytest.raises(pickle.UnpicklingError, match="unexpected class"):
        build_scorer({"backend": "tox_block", "path": str(_tox_block_copy(tmp_path, pickle_bytes=evil))})
