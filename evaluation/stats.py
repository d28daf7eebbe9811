"""Rates with 95% bootstrap intervals, and means across seeds with t intervals.

METHOD.md sec. 5 asks for a 95% bootstrap confidence interval for every rate.
Samples of one prompt are correlated (several generations per prompt), so
``bootstrap_rate_ci`` takes ``groups`` (e.g. prompt ids) and then resamples whole
groups (cluster bootstrap), pooling their samples. The interval is the
percentile interval of the resampled rates (numpy's linear interpolation).
All rates are in percent.
"""
from __future__ import annotations

import math
import numpy as np

_MAX_DRAWS_PER_CHUNK = 4_000_000  # caps the (resamples x groups) index array at ~32 MB


def _as_flags(flags) -> np.ndarray:
    """1-D boolean array from bools or 0/1 numbers; ValueError otherwise."""
    arr = np.asarray(flags)
    if arr.ndim != 1:
        raise ValueError(f"flags must be a 1-D sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("flags is empty: there are no samples to compute a rate from")
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"flags must be binary (bool or 0/1), got dtype {arr.dtype}")
    binary = (arr == 0) | (arr == 1)
    if not binary.all():
        bad = np.unique(arr[~binary])[:5].tolist()
        raise ValueError(f"flags must be binary (bool or 0/1); found other values, e.g. {bad}")
    return arr.astype(bool)


def _check_level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def percent_toxic(flags) -> float:
    """Percent of samples flagged toxic (lower is better)."""
    return float(100.0 * _as_flags(flags).mean())


def _resampled_ratios(sums: np.ndarray, sizes: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """``sum(sums) / sum(sizes)`` over groups drawn with replacement, once per resample: resample
    ``b`` draws row ``b`` of ``default_rng(seed).integers(0, n_groups, (n_resamples, n_groups))``."""
    n_groups = sums.shape[0]
    rng = np.random.default_rng(seed)
    ratios = np.empty(n_resamples, dtype=np.float64)
    chunk = max(1, _MAX_DRAWS_PER_CHUNK // n_groups)
    for start in range(0, n_resamples, chunk):  # chunks keep memory bounded; same stream as one draw
        stop = min(start + chunk, n_resamples)
        drawn = rng.integers(0, n_groups, size=(stop - start, n_groups))
        ratios[start:stop] = sums[drawn].sum(axis=1) / sizes[drawn].sum(axis=1)
    return ratios


def bootstrap_rate_ci(
    flags,
    groups=None,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high), in percent, of the rate of ``flags``.

    With ``groups`` (one label per sample, e.g. the prompt id), groups are drawn
    with replacement and their samples pooled: rate = flagged / samples over the
    drawn groups (cluster bootstrap). Without, each sample is its own group.
    Resample ``b`` draws its group indices as row ``b`` of
    ``default_rng(seed).integers(0, n_groups, (n_resamples, n_groups))``.
    """
    flags = _as_flags(flags)
    level = _check_level(level)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if groups is None:
        hits = flags.astype(np.float64)
        sizes = np.ones_like(hits)
    else:
        groups = np.asarray(groups)
        if groups.ndim != 1 or groups.shape[0] != flags.shape[0]:
            raise ValueError(
                f"groups must give one label per sample: {flags.shape[0]} flags but groups of shape {groups.shape}"
            )
        _, group_of_sample = np.unique(groups, return_inverse=True)
        hits = np.bincount(group_of_sample, weights=flags.astype(np.float64))
        sizes = np.bincount(group_of_sample).astype(np.float64)
    rates = _resampled_ratios(hits, sizes, n_resamples, seed)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(100.0 * rates, [tail, 100.0 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(values, groups=None, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval (low, high) of the mean of ``values``.

    The same scheme as ``bootstrap_rate_ci``, for any values (scores, per-prompt
    measures) instead of flags: with ``groups`` (e.g. the prompt id) groups are drawn with
    replacement and their values pooled (cluster bootstrap); resample ``b`` draws
    row ``b`` of ``default_rng(seed).integers(0, n_groups, (n_resamples, n_groups))``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or infinity: a failed score must not enter the mean")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level!r}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if groups is None:
        sums, sizes = values, np.ones_like(values)
    else:
        groups = np.asarray(groups)
        if groups.shape != values.shape:
            raise ValueError(f"groups must give one label per value: {values.shape[0]} values, groups of shape {groups.shape}")
        _, group_of_value = np.unique(groups, return_inverse=True)
        sums = np.bincount(group_of_value, weights=values)
        sizes = np.bincount(group_of_value).astype(np.float64)
    means = _resampled_ratios(sums, sizes, n_resamples, seed)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def rate_summary(flags, groups=None, n_resamples: int = 1000, level: float = 0.95, seed: int = 0) -> dict:
    """Everything a table row needs about one rate: percent, interval, counts."""
    flags = _as_flags(flags)
    low, high = bootstrap_rate_ci(flags, groups, n_resamples=n_resamples, level=level, seed=seed)
    return {
        "toxicity_pct": percent_toxic(flags),
        "ci_low": low,
        "ci_high": high,
        "ci_level": level,
        "n_samples": int(flags.shape[0]),
        "n_groups": int(flags.shape[0] if groups is None else np.unique(np.asarray(groups)).shape[0]),
        "bootstrap_resamples": int(n_resamples),
        "bootstrap_seed": int(seed),
    }


class MeanCI(tuple):
    """Mean across seeds with a t interval; unpacks as ``mean, (low, high)``.

    Attributes ``mean``, ``low``, ``high``, ``n`` (number of values) and
    ``half_width``. With ``n == 1`` there is no spread to estimate and the
    interval is (mean, mean): tables should show such a row as "n=1", not as
    certainty.
    """

    def __new__(cls, mean: float, low: float, high: float, n: int):
        result = super().__new__(cls, (float(mean), (float(low), float(high))))
        result.n = int(n)
        return result

    mean = property(lambda self: self[0])
    low = property(lambda self: self[1][0])
    high = property(lambda self: self[1][1])
    half_width = property(lambda self: (self.high - self.low) / 2.0)

    def __repr__(self) -> str:
        return f"MeanCI(mean={self.mean!r}, low={self.low!r}, high={self.high!r}, n={self.n})"


def mean_ci(values, level: float = 0.95) -> MeanCI:
    """Mean of per-seed values and its Student-t interval: mean +- t_{(1+level)/2, n-1} * s / sqrt(n).

    NaN policy: a NaN or infinite value raises ValueError (a failed seed must not
    silently vanish from the mean); drop it explicitly before calling.
    """
    level = _check_level(level)
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"values contain NaN or infinity: {arr.tolist()}")
    n = int(arr.size)
    mean = float(arr.mean())
    if n == 1:
        return MeanCI(mean, mean, mean, 1)
    half_width = t_quantile((1.0 + level) / 2.0, n - 1) * float(arr.std(ddof=1)) / math.sqrt(n)
    return MeanCI(mean, mean - half_width, mean + half_width, n)


def t_quantile(p: float, df: int) -> float:
    """Quantile ``p`` of Student's t with ``df`` degrees of freedom (scipy if installed)."""
    try:
        from scipy.stats import t
    except ImportError:
        return _t_quantile_without_scipy(p, df)
    return float(t.ppf(p, df))


# t_{0.975, df} for df = 1..30 (standard tables), used only without scipy.
_T975 = (
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
    2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
    2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
)


def _t_quantile_without_scipy(p: float, df: int) -> float:
    """Table for the 95% two-sided case up to df 30; beyond, the Cornish-Fisher
    expansion of the t quantile around the normal one (Abramowitz & Stegun
    26.7.5; error < 1e-5 for df > 30)."""
    from statistics import NormalDist

    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df <= len(_T975):
        if abs(p - 0.975) < 1e-12:
            return _T975[df - 1]
        raise ValueError("without scipy, only 95% intervals are supported for 31 or fewer values: pip install scipy")
    z = NormalDist().inv_cdf(p)
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
        + (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / (92160 * df**4)
    )
