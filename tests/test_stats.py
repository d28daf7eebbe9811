"""Rates, bootstrap intervals and across-seed means, with values pinned by hand."""
import time

import numpy as np
import pytest

from evaluation import stats
from evaluation.stats import MeanCI, bootstrap_rate_ci, mean_ci, percent_toxic, rate_summary


def test_percent_toxic_on_a_hand_made_array():
    assert percent_toxic([1, 0, 0, 1, 0, 0, 0, 0]) == 25.0
    assert percent_toxic(np.array([True, False, False])) == pytest.approx(100 / 3)
    assert percent_toxic([0.0, 1.0]) == 50.0


def test_interval_contains_the_estimate_and_narrows_with_more_data():
    rng = np.random.default_rng(1)
    small = rng.random(100) < 0.2
    large = rng.random(10_000) < 0.2
    for flags in (small, large):
        low, high = bootstrap_rate_ci(flags)
        assert low <= percent_toxic(flags) <= high
        assert low < high
    assert np.subtract(*bootstrap_rate_ci(large)[::-1]) < np.subtract(*bootstrap_rate_ci(small)[::-1]) / 5


@pytest.mark.parametrize("value, expected", [(0, 0.0), (1, 100.0)])
def test_degenerate_input_gives_a_zero_width_interval(value, expected):
    assert bootstrap_rate_ci([value] * 50) == (expected, expected)
    assert bootstrap_rate_ci([value] * 50, groups=np.repeat(np.arange(10), 5)) == (expected, expected)


def test_plain_bootstrap_matches_a_loop_reference():
    flags = np.array([1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0])
    rng = np.random.default_rng(7)
    rates = [100 * flags[rng.integers(0, flags.size, size=flags.size)].mean() for _ in range(500)]
    expected = tuple(np.percentile(rates, [2.5, 97.5]))
    assert bootstrap_rate_ci(flags, n_resamples=500, seed=7) == pytest.approx(expected, abs=1e-12)


def test_cluster_bootstrap_with_identical_groups_equals_bootstrap_over_groups():
    group_flags = np.array([1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0])
    per_group = 4
    flags = np.repeat(group_flags, per_group)
    # Shuffle samples so groups are not contiguous; labels need not be 0..G-1 either.
    order = np.random.default_rng(3).permutation(flags.size)
    groups = np.repeat(np.arange(group_flags.size) * 10 + 5, per_group)

    # Reference: a plain bootstrap over the groups, one resample at a time.
    rng = np.random.default_rng(11)
    rates = [100 * group_flags[rng.integers(0, group_flags.size, size=group_flags.size)].mean() for _ in range(300)]
    reference = tuple(np.percentile(rates, [2.5, 97.5]))

    clustered = bootstrap_rate_ci(flags[order], groups=groups[order], n_resamples=300, seed=11)
    assert clustered == pytest.approx(reference, abs=1e-9)
    assert clustered == pytest.approx(bootstrap_rate_ci(group_flags, n_resamples=300, seed=11), abs=1e-9)


def test_cluster_bootstrap_pools_samples_of_unequal_groups():
    # Group "a": 3 samples, 1 toxic; group "b": 1 sample, toxic. The rate of a
    # resample is pooled (flagged / samples), not the mean of group rates.
    flags = [1, 0, 0, 1]
    groups = ["a", "a", "a", "b"]
    rng = np.random.default_rng(0)
    hits, sizes = np.array([1.0, 1.0]), np.array([3.0, 1.0])
    drawn = rng.integers(0, 2, size=(200, 2))
    expected = tuple(np.percentile(100 * hits[drawn].sum(1) / sizes[drawn].sum(1), [2.5, 97.5]))
    assert bootstrap_rate_ci(flags, groups=groups, n_resamples=200, seed=0) == pytest.approx(expected)


def test_correlated_samples_widen_the_cluster_interval():
    rng = np.random.default_rng(5)
    group_flags = rng.random(200) < 0.3
    flags, groups = np.repeat(group_flags, 5), np.repeat(np.arange(200), 5)
    plain = bootstrap_rate_ci(flags)
    clustered = bootstrap_rate_ci(flags, groups=groups)
    assert clustered[1] - clustered[0] > 1.5 * (plain[1] - plain[0])


def test_same_seed_same_interval_other_seed_other_draws():
    flags = np.random.default_rng(2).random(300) < 0.1
    assert bootstrap_rate_ci(flags, seed=4) == bootstrap_rate_ci(flags, seed=4)
    assert bootstrap_rate_ci(flags, seed=4, n_resamples=50) != bootstrap_rate_ci(flags, seed=5, n_resamples=50)


def test_chunked_draws_equal_one_draw(monkeypatch):
    flags = np.random.default_rng(9).random(64) < 0.4
    whole = bootstrap_rate_ci(flags, n_resamples=100, seed=1)
    monkeypatch.setattr(stats, "_MAX_DRAWS_PER_CHUNK", 64 * 7)  # 7 resamples per chunk
    assert bootstrap_rate_ci(flags, n_resamples=100, seed=1) == whole


def test_level_changes_the_width():
    flags = np.random.default_rng(0).random(500) < 0.2
    low90, high90 = bootstrap_rate_ci(flags, level=0.90)
    low99, high99 = bootstrap_rate_ci(flags, level=0.99)
    assert low99 <= low90 and high90 <= high99


def test_1000_resamples_of_1000_samples_is_fast():
    flags = np.random.default_rng(0).random(1000) < 0.3
    groups = np.repeat(np.arange(250), 4)
    start = time.perf_counter()
    bootstrap_rate_ci(flags)
    bootstrap_rate_ci(flags, groups=groups)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"flags": []}, "empty"),
        ({"flags": [0, 1, 0.5]}, "binary"),
        ({"flags": [0, 2, 1]}, "binary"),
        ({"flags": [0, 1, np.nan]}, "binary"),
        ({"flags": ["yes", "no"]}, "binary"),
        ({"flags": [[0, 1], [1, 0]]}, "1-D"),
        ({"flags": [0, 1, 1], "groups": [1, 2]}, "one label per sample"),
        ({"flags": [0, 1], "level": 1.5}, "level"),
        ({"flags": [0, 1], "n_resamples": 0}, "n_resamples"),
    ],
)
def test_bad_input_raises_a_clear_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_rate_ci(**kwargs)


def test_percent_toxic_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        percent_toxic([])
    with pytest.raises(ValueError, match="binary"):
        percent_toxic([0.2, 0.9])


def test_rate_summary_reports_counts_and_interval():
    flags = [1, 0, 0, 0, 1, 0]
    summary = rate_summary(flags, groups=[0, 0, 1, 1, 2, 2], n_resamples=200, seed=3)
    assert summary["toxicity_pct"] == pytest.approx(100 / 3)
    assert summary["n_samples"] == 6 and summary["n_groups"] == 3
    assert (summary["ci_low"], summary["ci_high"]) == bootstrap_rate_ci(
        flags, groups=[0, 0, 1, 1, 2, 2], n_resamples=200, seed=3
    )


def test_mean_ci_against_a_hand_computed_value():
    # values 1, 2, 3: mean 2, s = 1, half-width t_{0.975,2} / sqrt(3) = 4.302653 * 0.577350 = 2.484138
    result = mean_ci([1, 2, 3])
    assert isinstance(result, MeanCI)
    assert result.mean == 2.0 and result.n == 3
    assert result.half_width == pytest.approx(2.484138, abs=1e-6)
    mean, (low, high) = result  # how tables unpack it
    assert mean == 2.0 and (low, high) == (result.low, result.high)
    assert (low, high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)


def test_mean_ci_of_one_value_is_zero_width_and_flagged_by_n():
    result = mean_ci([12.5])
    assert result == (12.5, (12.5, 12.5)) and result.n == 1 and result.half_width == 0.0
    assert repr(result) == repr(MeanCI(12.5, 12.5, 12.5, 1))


def test_mean_ci_rejects_nan_and_empty():
    with pytest.raises(ValueError, match="NaN"):
        mean_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="non-empty"):
        mean_ci([])


def test_t_quantile_without_scipy_matches_scipy():
    pytest.importorskip("scipy")
    for df in (1, 2, 5, 30, 31, 60, 200):
        assert stats._t_quantile_without_scipy(0.975, df) == pytest.approx(stats.t_quantile(0.975, df), abs=1e-5)
    assert stats._t_quantile_without_scipy(0.95, 40) == pytest.approx(stats.t_quantile(0.95, 40), abs=1e-5)
    with pytest.raises(ValueError, match="scipy"):
        stats._t_quantile_without_scipy(0.95, 3)
