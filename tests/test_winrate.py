"""Judge-LLM win rate: order swapping, table math, the judging prompt, a real tiny judge."""
import numpy as np
import pandas as pd
import pytest

from evaluation import winrate
from evaluation.winrate import (
    build_judging_prompt, choice_logprobs, collect_pairs, judge_items, judge_pairs, method_pairs, pair_outcome,
    plot_winrate, resolve_judge, win_rate_matrix, win_rate_table, winrate_methods,
)

METHODS = ["base", "filtering", "ours"]


def generations(continuations, prompts=None):
    """Generation rows (sample 0 and a decoy sample 1) of one method for prompts 0..N-1."""
    prompts = prompts or [f"prompt {i}" for i in range(len(continuations))]
    rows = []
    for i, (prompt, text) in enumerate(zip(prompts, continuations)):
        rows.append({"id": i, "prompt": prompt, "target_group": "g", "sample": 0, "continuation": text})
        rows.append({"id": i, "prompt": prompt, "target_group": "g", "sample": 1, "continuation": "IGNORED " * 9})
    return rows


def judge_all(per_method, judge=None, n_prompts=None, seed=0, model="m"):
    """Judgement rows of every pair of ``per_method`` (method -> continuations), as the rule writes them."""
    rows = []
    for method_a, method_b in method_pairs(list(per_method)):
        items = collect_pairs(generations(per_method[method_a]), generations(per_method[method_b]), n_prompts)
        for item, preference in zip(items, judge_pairs(judge, None, items, batch_size=2)):
            rows.append({"model": model, "seed": seed, "id": item["id"], "method_a": method_a, "method_b": method_b,
                         "preference": preference})
    return rows


@pytest.fixture
def always_a(monkeypatch):
    """A maximally position-biased judge: answers "A" whatever it is shown."""
    monkeypatch.setattr(winrate, "choice_logprobs", lambda model, tokenizer, slots, batch_size, use_chat=None:
                        [(-0.1, -3.0) for _ in slots])


@pytest.fixture
def prefers_longer(monkeypatch):
    """A fake judge whose log-probs are the slots' lengths: the longer continuation wins, equal ones tie."""
    seen = []

    def fake(model, tokenizer, slots, batch_size, use_chat=None):
        seen.extend(slots)
        return [(float(len(first)), float(len(second))) for _, first, second in slots]

    monkeypatch.setattr(winrate, "choice_logprobs", fake)
    return seen


def test_pair_outcome_needs_both_orders_to_agree():
    assert pair_outcome(1, 1) == 1.0
    assert pair_outcome(0, 0) == 0.0
    assert pair_outcome(1, 0) == pair_outcome(0, 1) == 0.5
    assert pair_outcome(1, 0.5) == pair_outcome(0.5, 0) == pair_outcome(0.5, 0.5) == 0.5


def test_a_judge_that_always_says_a_ties_every_pair(always_a):
    per_method = {"base": ["x", "yy", "zzz"], "filtering": ["long text", "", "q"], "ours": ["a", "b", "c"]}
    rows = judge_all(per_method)
    assert {row["preference"] for row in rows} == {0.5}
    table = win_rate_table(rows, METHODS, judge="fake")
    assert len(table) == 6
    assert (table["win_rate_pct"] == 50.0).all()
    assert (table["ci_low"] == 50.0).all() and (table["ci_high"] == 50.0).all()


def test_both_orders_are_asked_with_the_slots_swapped(prefers_longer):
    items = [{"id": 0, "prompt": "p", "a": "short", "b": "much longer"}]
    judged = judge_items(None, None, items, batch_size=4)
    assert prefers_longer == [("p", "short", "much longer"), ("p", "much longer", "short")]
    row = judged[0]
    assert row["logp_ab"] == [5.0, 11.0] and row["logp_ba"] == [11.0, 5.0]
    assert row["vote_ab"] == row["vote_ba"] == 0.0
    assert row["preference"] == 0.0


def test_a_judge_preferring_longer_text_gives_the_expected_win_rates(prefers_longer):
    per_method = {
        "base": ["aaaa", "aa", "aaa", "a"],
        "filtering": ["bb", "bb", "bbb", "bbbbb"],  # vs base: loses, tie, tie, wins
        "ours": ["cccccc", "cccccc", "cccccc", "c"],  # beats base on 3, ties 1; beats filtering on 3, loses 1
    }
    table = win_rate_table(judge_all(per_method), METHODS, judge="fake").set_index(["winner", "loser"])
    expected = {("filtering", "base"): 50.0, ("ours", "base"): 87.5, ("ours", "filtering"): 75.0}
    for (winner, loser), value in expected.items():
        assert table.loc[(winner, loser), "win_rate_pct"] == value
        assert table.loc[(loser, winner), "win_rate_pct"] == 100.0 - value
    assert (table["n_prompts"] == 4).all() and (table["n_seeds"] == 1).all() and (table["judge"] == "fake").all()


def test_n_prompts_takes_the_first_prompt_ids_and_sample_zero(prefers_longer):
    items = collect_pairs(generations(["a", "bb", "ccc"]), generations(["x", "y", "z"]), n_prompts=2)
    assert [(item["id"], item["a"], item["b"]) for item in items] == [(0, "a", "x"), (1, "bb", "y")]


def test_table_math_on_hand_made_judgements_pools_seeds_and_reads_pairs_both_ways():
    rows = [
        # seed 0: x vs y on prompts 1..4 -> 1, 0.5, 0, 1
        *({"model": "m", "seed": 0, "id": i, "method_a": "x", "method_b": "y", "preference": p}
          for i, p in zip([1, 2, 3, 4], [1, 0.5, 0, 1])),
        # seed 1, written the other way round: y vs x -> x's outcomes 1, 1, 0.5, 0
        *({"model": "m", "seed": 1, "id": i, "method_a": "y", "method_b": "x", "preference": 1 - p}
          for i, p in zip([1, 2, 3, 4], [1, 1, 0.5, 0])),
    ]
    table = win_rate_table(rows, ["x", "y"], judge="j", n_resamples=500)
    assert list(table.columns) == winrate.TABLE_COLUMNS
    table = table.set_index(["winner", "loser"])
    assert table.loc[("x", "y"), "win_rate_pct"] == 62.5  # (2.5 + 2.5) / 8
    assert table.loc[("y", "x"), "win_rate_pct"] == 37.5
    assert table.loc[("x", "y"), "n_prompts"] == 4 and table.loc[("x", "y"), "n_seeds"] == 2
    # The interval of y over x mirrors the one of x over y.
    assert table.loc[("y", "x"), "ci_low"] == pytest.approx(100 - table.loc[("x", "y"), "ci_high"], abs=0.011)
    assert table.loc[("y", "x"), "ci_high"] == pytest.approx(100 - table.loc[("x", "y"), "ci_low"], abs=0.011)


def test_bootstrap_interval_contains_the_estimate():
    rng = np.random.default_rng(0)
    rows = [{"model": "m", "seed": 0, "id": i, "method_a": a, "method_b": b, "preference": float(rng.choice([0, 0.5, 1]))}
            for a, b in method_pairs(METHODS) for i in range(60)]
    table = win_rate_table(rows, METHODS, judge="j", n_resamples=400)
    assert (table["ci_low"] <= table["win_rate_pct"]).all() and (table["win_rate_pct"] <= table["ci_high"]).all()
    assert (table["ci_low"] < table["ci_high"]).all()
    assert (table["ci_high"] - table["ci_low"] < 40).all()


def test_heat_map_reads_column_over_row(tmp_path):
    rows = [{"model": "m", "seed": 0, "id": 0, "method_a": "x", "method_b": "y", "preference": 1.0},
            {"model": "m", "seed": 0, "id": 1, "method_a": "x", "method_b": "y", "preference": 0.5}]
    table = win_rate_table(rows, ["x", "y"], judge="j", n_resamples=100)
    matrix = win_rate_matrix(table, "m", ["x", "y"])
    assert matrix.loc["y", "x"] == 75.0  # column x preferred over row y
    assert matrix.loc["x", "y"] == 25.0
    assert np.isnan(matrix.loc["x", "x"])
    plot_winrate(table, tmp_path / "winrate.png", methods=["x", "y"])
    assert (tmp_path / "winrate.png").stat().st_size > 1000


class PlainTokenizer:
    chat_template = None


def test_prompt_builder_puts_each_text_in_its_slot(tiny_model_dir):
    from modeling.load import load_tokenizer

    plain = build_judging_prompt(PlainTokenizer(), "The weather today", " is sunny.", " banana car\n")
    assert "Beginning: The weather today\n" in plain
    assert "Continuation A: is sunny.\n" in plain
    assert "Continuation B: banana car\n" in plain
    assert plain.index("Continuation A") < plain.index("Continuation B")
    assert plain.endswith("Answer:")

    tokenizer = load_tokenizer(tiny_model_dir)
    chat = build_judging_prompt(tokenizer, "The weather today", "first text", "second text")
    assert "Continuation A: first text\n" in chat and "Continuation B: second text\n" in chat
    assert chat.endswith("<|im_start|>assistant\n")  # SmolLM2's template: the answer is the assistant's first token
    swapped = build_judging_prompt(tokenizer, "The weather today", "second text", "first text")
    assert "Continuation A: second text\n" in swapped


def test_a_real_tiny_judge_returns_outcomes_and_batching_does_not_change_scores(tiny_model_dir):
    from modeling.load import load_causal_lm, load_tokenizer

    model, tokenizer = load_causal_lm(tiny_model_dir, device="cpu"), load_tokenizer(tiny_model_dir)
    items = collect_pairs(
        generations([" is a fine day.", " no", " and then the cat sat on the long mat again."]),
        generations([" purple", " was quite nice, thanks.", ""]),
    )
    preferences = judge_pairs(model, tokenizer, items, batch_size=2)
    assert len(preferences) == 3 and set(preferences) <= {0.0, 0.5, 1.0}
    slots = [(item["prompt"], item["a"], item["b"]) for item in items]
    for use_chat in (True, False):
        one = np.array(choice_logprobs(model, tokenizer, slots, batch_size=1, use_chat=use_chat))
        padded = np.array(choice_logprobs(model, tokenizer, slots, batch_size=3, use_chat=use_chat))
        assert np.all(one < 0) and np.allclose(one, padded, atol=1e-4)


def test_a_method_missing_from_the_generations_is_named():
    with pytest.raises(ValueError, match=r"generations of 'ours' lack 2 of the prompts of 'base'"):
        collect_pairs(generations(["a", "b", "c"]), generations(["x"]), names=("base", "ours"))
    with pytest.raises(ValueError, match="n_prompts=5 but the generations of 'base' cover only 3"):
        collect_pairs(generations(["a", "b", "c"]), generations(["x", "y", "z"]), n_prompts=5, names=("base", "ours"))
    rows = [{"model": "m", "seed": 0, "id": 0, "method_a": "base", "method_b": "filtering", "preference": 1.0}]
    with pytest.raises(ValueError, match="no judgements of 'base' against 'ours'"):
        win_rate_table(rows, METHODS, judge="j")


def test_configuration_errors_name_what_is_known():
    models, judges = {"tiny-random": {"source": "random"}}, {"opt-30b": {"source": "hub"}}
    assert resolve_judge("opt-30b", models, judges) == {"source": "hub"}
    assert resolve_judge("tiny-random", models, judges) == {"source": "random"}
    with pytest.raises(ValueError, match=r"'gpt-4' is not a configured model: known aliases are \['opt-30b', 'tiny-random'\]"):
        resolve_judge("gpt-4", models, judges)
    assert winrate_methods([], METHODS) == METHODS
    with pytest.raises(ValueError, match=r"unknown methods \['rl'\]: known methods are"):
        winrate_methods(["base", "rl"], METHODS)
    with pytest.raises(ValueError, match="at least two methods"):
        winrate_methods(["base"], METHODS)


def test_margin_decision_cancels_a_constant_position_bias():
    from evaluation.winrate import margin_outcome, pair_outcome

    bias = 3.0  # the judge always prefers answering "A" by this many nats
    quality = {"good": 0.4, "bad": -0.4}
    def logps(first, second):  # log P(A), log P(B) with `first` in slot A
        return (bias + quality[first], quality[second])
    ab, ba = logps("good", "bad"), logps("bad", "good")
    assert pair_outcome(float(ab[0] > ab[1]), float(ba[1] > ba[0])) == 0.5  # votes: always "A" -> a tie
    assert margin_outcome(ab, ba) == 1.0 and margin_outcome(ba, ab) == 0.0
    assert margin_outcome((1.0, 0.0), (1.0, 0.0)) == 0.5  # no quality difference: a tie


# --- judge controls: pairs whose better side is known ------------------------------------------

from evaluation.winrate import (  # noqa: E402
    CONTROL_COLUMNS, CONTROL_KINDS, JUDGE_COLUMNS, UNINFORMATIVE_MARK, answer_token_ids, control_items, control_table,
    with_judge_controls,
)

WORDS = ("river stone light morning garden window letter silver quiet harbor bridge market candle winter forest "
         "music paper island road evening field cloud mountain station").split()


def heldout_texts(n, length=40, start=0):
    """``n`` distinct held-out-like rows of ``length`` words (domain general)."""
    import random

    rows = []
    for i in range(start, start + n):
        rng = random.Random(i)
        rows.append({"id": f"g{i}", "domain": "general", "text": " ".join(rng.choice(WORDS) for _ in range(length))})
    return rows


def test_control_items_build_the_three_corruptions_of_a_human_continuation():
    texts = heldout_texts(6) + [{"id": "short", "text": "far too short to split"}]
    items = control_items(texts, n=5, seed=0)
    assert len(items) == 15 and [item["kind"] for item in items[:3]] == list(CONTROL_KINDS)
    by_text = {item["text_id"]: item for item in items if item["kind"] == "shuffled"}
    assert "short" not in by_text and len(by_text) == 5
    source = {row["id"]: row["text"].split() for row in texts}
    for item in items:
        words, prompt = source[item["text_id"]], item["prompt"].split()
        human, corrupted = item["a"].split(), item["b"].split()
        assert words[: len(prompt) + len(human)] == prompt + human  # prompt, then the text's own next words
        assert 6 <= len(prompt) <= 16 and 8 <= len(human) <= 24
        assert item["id"] == f"{item['text_id']}/{item['kind']}"
        if item["kind"] == "shuffled":
            assert corrupted != human and sorted(corrupted) == sorted(human)
        elif item["kind"] == "repetition":
            assert len(corrupted) == len(human) and corrupted != human
            assert corrupted == (human[:3] * len(human))[: len(human)]  # a three-word loop
        else:  # another text's continuation (of a drawn text, or of the one usable text left undrawn)
            continuations = {row["id"]: winrate._split_control_text(row["text"]) for row in texts}
            others = {" ".join(split[1]) for key, split in continuations.items() if split and key != item["text_id"]}
            assert item["b"] != item["a"] and item["b"] in others
    assert control_items(texts, 5, seed=0) == items  # deterministic
    assert [item["text_id"] for item in control_items(texts, 5, seed=1)] != [item["text_id"] for item in items]


def test_control_items_skip_degenerate_texts_and_say_when_too_few_are_left():
    loop = {"id": "loop", "text": " ".join(["one two three"] * 10)}  # already a loop: repetition would not differ
    same = {"id": "same", "text": " ".join(["word"] * 30)}
    texts = heldout_texts(3) + [loop, same, heldout_texts(1)[0]]  # the last one duplicates the first
    assert {item["text_id"] for item in control_items(texts, 3)} == {"g0", "g1", "g2"}
    with pytest.raises(ValueError, match=r"n_controls=4 but only 3 of the 6 held-out texts can make control pairs"):
        control_items(texts, 4)
    with pytest.raises(ValueError, match="other_prompt needs at least 2"):
        control_items(heldout_texts(1), 1)
    with pytest.raises(ValueError, match="positive integer"):
        control_items(texts, 0)
    # Plain strings work too (ids are their positions).
    assert {item["text_id"] for item in control_items([row["text"] for row in heldout_texts(2)], 2)} == {"0", "1"}


def hand_made_control_judgements():
    """Two texts x three kinds: votes for the human side in each order and both outcomes."""
    spec = {  # (text, kind): (vote_ab, vote_ba, votes_outcome, margin_outcome)
        ("t1", "shuffled"): (1, 1, 1, 1), ("t1", "repetition"): (1, 0, 0.5, 1), ("t1", "other_prompt"): (0, 0, 0, 0),
        ("t2", "shuffled"): (1, 0, 0.5, 0), ("t2", "repetition"): (1, 1, 1, 1),
        ("t2", "other_prompt"): (0.5, 1, 0.5, 0.5),
    }
    return [{"id": f"{text}/{kind}", "text_id": text, "kind": kind, "judge": "j", "vote_ab": ab, "vote_ba": ba,
             "votes_outcome": votes, "margin_outcome": margin}
            for (text, kind), (ab, ba, votes, margin) in spec.items()]


def test_control_table_values_on_hand_made_judgements():
    table = control_table(hand_made_control_judgements(), decision="margin", n_resamples=1000, seed=0)
    assert list(table.columns) == CONTROL_COLUMNS
    assert list(table["kind"]) == [*CONTROL_KINDS, "all"]
    table = table.set_index("kind")
    expected = {  # control (single-order) accuracy, decision accuracy, position consistency
        "shuffled": (75.0, 50.0, 50.0), "repetition": (75.0, 100.0, 50.0), "other_prompt": (37.5, 25.0, 50.0),
        "all": (62.5, 58.33, 50.0),
    }
    for kind, (accuracy, decided, consistent) in expected.items():
        assert table.loc[kind, "control_accuracy_pct"] == accuracy
        assert table.loc[kind, "decision_accuracy_pct"] == decided
        assert table.loc[kind, "position_consistency_pct"] == consistent
    assert list(table["n_pairs"]) == [2, 2, 2, 6] and (table["n_texts"] == 2).all()
    assert (table["judge"] == "j").all() and (table["decision"] == "margin").all()
    # Intervals resample the two texts (a text's three pairs together in "all").
    assert table.loc["repetition", ["decision_ci_low", "decision_ci_high"]].tolist() == [100.0, 100.0]
    assert table.loc["all", ["decision_ci_low", "decision_ci_high"]].tolist() == [50.0, 66.67]  # t2: 1.5/3, t1: 2/3
    assert table.loc["all", ["control_ci_low", "control_ci_high"]].tolist() == [50.0, 75.0]  # t1: 3/6, t2: 4.5/6
    assert table.loc["all", ["consistency_ci_low", "consistency_ci_high"]].tolist() == [33.33, 66.67]
    assert table["informative"].tolist() == [False, True, False, False]  # only an interval above 50 is informative
    # The votes rule reads votes_outcome: shuffled 1 and 0.5.
    votes = control_table(hand_made_control_judgements(), decision="votes", n_resamples=200).set_index("kind")
    assert votes.loc["shuffled", "decision_accuracy_pct"] == 75.0
    assert votes.loc["all", "decision_accuracy_pct"] == 58.33
    assert votes.loc["all", "control_accuracy_pct"] == 62.5  # single-order answers do not depend on the rule
    with pytest.raises(ValueError, match="decision must be one of"):
        control_table(hand_made_control_judgements(), decision="majority")


def constant_judge(tokenizer):
    """A judge model whose next-token logits never depend on the input: "A" far above the rest."""
    import types

    import torch

    class ConstantJudge(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = torch.nn.Parameter(torch.zeros(len(tokenizer)), requires_grad=False)
            self.logits[answer_token_ids(tokenizer)[0]] = 8.0

        def forward(self, input_ids, attention_mask=None, use_cache=None):
            return types.SimpleNamespace(logits=self.logits.expand(*input_ids.shape, -1))

    return ConstantJudge()


def winrate_rows():
    return [{"model": "m", "seed": 0, "id": i, "method_a": "x", "method_b": "y", "preference": p}
            for i, p in enumerate([1.0, 0.5, 1.0, 0.0])]


@pytest.mark.parametrize("decision", ["margin", "votes"])
def test_a_judge_that_always_answers_a_is_at_chance_on_controls_and_its_matrix_is_marked(tiny_model_dir, tmp_path,
                                                                                          decision):
    from modeling.load import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    items = control_items(heldout_texts(8), n=8, seed=0)
    judged = judge_items(constant_judge(tokenizer), tokenizer, items, batch_size=8, decision=decision)
    assert all(row["logp_ab"][0] > row["logp_ab"][1] and row["logp_ba"][0] > row["logp_ba"][1] for row in judged)
    controls = control_table([{**row, "judge": "always-a"} for row in judged], decision=decision, n_resamples=200)
    assert (controls["control_accuracy_pct"] == 50.0).all()
    assert (controls["decision_accuracy_pct"] == 50.0).all()  # every pair a tie under either rule
    assert (controls["position_consistency_pct"] == 0.0).all()
    assert not controls["informative"].any()
    table = with_judge_controls(win_rate_table(winrate_rows(), ["x", "y"], judge="always-a", n_resamples=100), controls)
    assert list(table.columns) == winrate.TABLE_COLUMNS + JUDGE_COLUMNS
    assert (table["judge_control_accuracy_pct"] == 50.0).all() and not table["judge_informative"].any()
    assert (table["judge_control_ci_low"] == 50.0).all() and (table["judge_control_ci_high"] == 50.0).all()
    title = plot_winrate(table, tmp_path / "winrate.png", methods=["x", "y"], controls=controls)
    assert UNINFORMATIVE_MARK in title and "position consistency 0.0% [0, 0]" in title
    assert (tmp_path / "winrate.png").stat().st_size > 1000
    # winrate.csv alone (no control table) still carries the mark.
    assert UNINFORMATIVE_MARK in plot_winrate(table, tmp_path / "again.png", methods=["x", "y"])


def test_a_judge_that_knows_the_human_side_is_informative(monkeypatch, tmp_path):
    items = control_items(heldout_texts(10), n=10, seed=3)
    human = {(item["prompt"], item["a"]) for item in items}
    monkeypatch.setattr(winrate, "choice_logprobs", lambda model, tokenizer, slots, batch_size, use_chat=None:
                        [(0.0, -5.0) if (prompt, first) in human else (-5.0, 0.0) for prompt, first, _ in slots])
    controls = control_table(judge_items(None, None, items, batch_size=4), n_resamples=200, judge="oracle")
    for column in ("control_accuracy_pct", "decision_accuracy_pct", "position_consistency_pct",
                   "control_ci_low", "decision_ci_low", "consistency_ci_low"):
        assert (controls[column] == 100.0).all(), column
    assert controls["informative"].all() and list(controls["n_pairs"]) == [10, 10, 10, 30]
    table = with_judge_controls(win_rate_table(winrate_rows(), ["x", "y"], judge="oracle", n_resamples=100), controls)
    assert table["judge_informative"].all() and (table["judge_control_accuracy_pct"] == 100.0).all()
    title = plot_winrate(table, tmp_path / "winrate.png", methods=["x", "y"], controls=controls)
    assert "UNINFORMATIVE" not in title and "accuracy (margin) 100.0% [100, 100]" in title


def test_a_judge_that_prefers_the_corruption_is_marked_below_chance(monkeypatch, tmp_path):
    items = control_items(heldout_texts(10), n=10, seed=0)
    human = {(item["prompt"], item["a"]) for item in items}
    monkeypatch.setattr(winrate, "choice_logprobs", lambda model, tokenizer, slots, batch_size, use_chat=None:
                        [(-5.0, 0.0) if (prompt, first) in human else (0.0, -5.0) for prompt, first, _ in slots])
    controls = control_table(judge_items(None, None, items, batch_size=4), n_resamples=200, judge="contrarian")
    assert (controls["decision_accuracy_pct"] == 0.0).all() and not controls["informative"].any()
    table = win_rate_table(winrate_rows(), ["x", "y"], judge="contrarian", n_resamples=100)
    assert "below chance" in plot_winrate(table, tmp_path / "w.png", methods=["x", "y"], controls=controls)
