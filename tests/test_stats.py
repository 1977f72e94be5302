"""locomt.stats: the seed statistics of a confirmed front and of an ablation, against scipy and by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from locomt.search.front import hypervolume
from locomt.stats import bootstrap_interval, differ, seed_interval, summarise


def test_seed_interval_is_the_t_interval_of_the_mean():
    v = [0.81, 0.86, 0.79, 0.84]
    s = seed_interval(v)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert (s["n"], s["mean"], s["std"]) == (4, pytest.approx(np.mean(v)), pytest.approx(np.std(v, ddof=1)))
    assert (s["lo"], s["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    one = seed_interval([0.5])
    assert one["mean"] == 0.5 and np.isnan(one["std"]) and np.isnan(one["lo"]) and np.isnan(one["hi"])
    assert seed_interval([])["n"] == 0


def test_summarise_groups_in_order_of_appearance():
    runs = pd.DataFrame({"label": ["b", "a", "b", "a", "b"], "gflops": [2, 1, 2, 1, 2],
                         "val/acc": [0.5, 0.7, 0.6, 0.9, 0.7]})
    df = summarise(runs, "label", ["val/acc"], first=["gflops"])
    assert list(df.label) == ["b", "a"] and list(df.n_seeds) == [3, 2] and list(df.gflops) == [2, 1]
    assert df["val/acc_mean"].tolist() == pytest.approx([0.6, 0.8])
    assert df["val/acc_hi"].iloc[1] == pytest.approx(0.8 + stats.t.ppf(0.975, 1) * np.std([0.7, 0.9], ddof=1) / np.sqrt(2))


def test_differ_is_welch_and_needs_two_seeds():
    a, b = [0.80, 0.82, 0.81], [0.60, 0.62, 0.61]
    verdict, p = differ(a, b)
    assert verdict is True and p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    verdict, p = differ([0.80, 0.90, 0.70], [0.81, 0.71, 0.88])
    assert verdict is False and p > 0.05
    assert differ([0.8], [0.6, 0.7]) == (None, pytest.approx(float("nan"), nan_ok=True))


def test_bootstrap_interval_of_a_front_hypervolume_holds_the_point_estimate():
    groups = [[0.80, 0.85, 0.83], [0.60, 0.66, 0.63], [0.7]]
    gflops = [0.05, 0.03, 0.04]

    def hv(means):
        return hypervolume(zip(means, gflops), 1 / 3, 0.07)

    lo, hi = bootstrap_interval(groups, hv, n_boot=500, seed=1)
    assert lo < hv([np.mean(g) for g in groups]) < hi
    assert bootstrap_interval([[0.8], [0.6]], lambda m: sum(m)) == pytest.approx((1.4, 1.4))  # one seed: no spread
