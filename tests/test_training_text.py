"""Training text is tokenised as the model sees text everywhere else: with the BOS a
Llama-style tokenizer puts first (generation, NADO sampling and lm-eval prompts all have
it; SmolLM2's and Falcon's tokenizers add none), and EOS only after a text that fits whole."""
import pytest

from conftest import TINY_TOKENIZER, bos_tokenizer
from methods._trainer import encode_rows

TEXT = "The weather today is calm, and the sea is flat all the way to the horizon."


@pytest.fixture(scope="module", params=["adds_bos", "adds_none"])
def tokenizer(request):
    from modeling.prepare import load_tokenizer_from_spec

    return bos_tokenizer() if request.param == "adds_bos" else load_tokenizer_from_spec(TINY_TOKENIZER)


def _adds_bos(tokenizer) -> bool:
    return tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id


def test_special_token_ids_are_what_the_tokenizer_adds_around_a_text(tokenizer):
    from modeling.load import special_token_ids

    assert special_token_ids(tokenizer) == (([tokenizer.bos_token_id] if _adds_bos(tokenizer) else []), [])


def test_training_ids_start_with_the_ids_of_a_prompt_cut_from_the_text(tokenizer):
    """A prompt cut from a training text, tokenised as generation does (``tokenizer(prompt)``),
    is the start of that text's training ids: BOS where the tokenizer adds it, none otherwise."""
    (row,) = encode_rows(tokenizer, [{"text": TEXT, "domain": "toxicity"}], max_length=64)
    prompt_ids = tokenizer(" ".join(TEXT.split()[:4]))["input_ids"]
    assert row["input_ids"][: len(prompt_ids)] == prompt_ids
    assert row["input_ids"] == tokenizer(TEXT)["input_ids"] + [tokenizer.eos_token_id]
    assert (row["input_ids"][0] == tokenizer.bos_token_id) == _adds_bos(tokenizer)
    assert row["domain"] == 1


def test_eos_only_after_a_text_that_fits_whole(tokenizer):
    whole = tokenizer(TEXT)["input_ids"]  # BOS included where the tokenizer adds it
    fits, cut, exact = (encode_rows(tokenizer, [{"text": TEXT}], max_length=n)[0] for n in (len(whole) + 1, len(whole) - 3, len(whole)))
    assert fits["input_ids"] == whole + [tokenizer.eos_token_id]  # text + EOS: exactly max_length
    # Cut: max_length tokens of the text and no EOS, which would teach the model to end mid-sentence.
    assert cut["input_ids"] == whole[: len(whole) - 3]
    assert exact["input_ids"] == whole  # the text fills max_length: no room for EOS, so none
    assert tokenizer.eos_token_id not in cut["input_ids"] + exact["input_ids"]
