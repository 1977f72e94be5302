"""Statistics over seeds: one home for what a sweep's confirmed front and an ablation report.

A configuration trained on n seeds gives n values of each metric. :func:`seed_interval` is their
mean, standard deviation (ddof 1) and the 95 % confidence interval of the mean from Student's t
distribution (mean +- t(0.975, n-1) * std / sqrt(n)); one seed has no spread (std and interval
NaN). :func:`summarise` applies it per group of a runs table (columns ``M_mean``, ``M_std``,
``M_lo``, ``M_hi``), :func:`differ` says whether two configurations' means differ by more than
their noise (Welch's t-test at 5 %), and :func:`bootstrap_interval` is a percentile interval of any
statistic of several groups' values, each group resampled with replacement (the hypervolume of a
front of means, over seeds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

LEVEL = 0.95  # confidence of every interval
SUFFIXES = ("mean", "std", "lo", "hi")


def seed_interval(values: Sequence[float]) -> dict[str, float]:
    """n, mean, std (ddof 1) and the 95 % t interval (lo, hi) of the mean of ``values`` (NaN ignored)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    n = len(v)
    if n == 0:
        return {"n": 0, "mean": np.nan, "std": np.nan, "lo": np.nan, "hi": np.nan}
    mean = float(v.mean())
    if n == 1:
        return {"n": 1, "mean": mean, "std": np.nan, "lo": np.nan, "hi": np.nan}
    std = float(v.std(ddof=1))
    half = float(sps.t.ppf(0.5 + LEVEL / 2, n - 1)) * std / np.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "lo": mean - half, "hi": mean + half}


def summarise(runs: pd.DataFrame, by: str, metrics: Sequence[str], first: Sequence[str] = ()) -> pd.DataFrame:
    """One row per ``by`` group of ``runs`` (in order of first appearance): the ``first`` columns
    (taken from the group's first row), ``n_seeds`` and, per metric, ``M_mean``, ``M_std``, ``M_lo``, ``M_hi``."""
    rows = []
    for key, g in runs.groupby(by, sort=False):
        row = {by: key, **{c: g[c].iloc[0] for c in first}, "n_seeds": len(g)}
        for m in metrics:
            s = seed_interval(g[m].tolist())
            row.update({f"{m}_{k}": s[k] for k in SUFFIXES})
        rows.append(row)
    return pd.DataFrame(rows, columns=[by, *first, "n_seeds", *(f"{m}_{k}" for m in metrics for k in SUFFIXES)])


def differ(a: Sequence[float], b: Sequence[float]) -> tuple[bool | None, float]:
    """Whether the means of ``a`` and ``b`` differ by more than their noise: (Welch's t-test p < 0.05,
    p). (None, NaN) when either has fewer than two values (no noise estimate)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return None, float("nan")
    if a.std() == 0 and b.std() == 0:  # no spread at all: the means differ or they do not
        return bool(a.mean() != b.mean()), 0.0 if a.mean() != b.mean() else 1.0
    p = float(sps.ttest_ind(a, b, equal_var=False).pvalue)
    return p < 1 - LEVEL, p


def bootstrap_interval(groups: Sequence[Sequence[float]], statistic: Callable[[list[float]], float],
                       n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of ``statistic`` (a function of one mean per group) when each group's
    values are resampled with replacement (a group of one value stays fixed)."""
    rng = np.random.default_rng(seed)
    arrays = [np.asarray(g, dtype=np.float64) for g in groups]
    draws = []
    for _ in range(n_boot):
        means = [float(a[rng.integers(0, len(a), len(a))].mean()) if len(a) > 1 else float(a[0]) for a in arrays]
        draws.append(statistic(means))
    lo, hi = np.percentile(draws, [100 * (1 - LEVEL) / 2, 100 * (1 + LEVEL) / 2])
    return float(lo), float(hi)
