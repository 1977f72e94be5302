"""The front's hypervolume against a grid count and Optuna's own calculator, and the chance level."""

import numpy as np
import pandas as pd
import pytest
from optuna._hypervolume import compute_hypervolume

from locomt.search.front import chance_level, hypervolume, hypervolume_history


def grid_hypervolume(points, chance, ref, n=400):
    """The dominated share of the reference box, counted on an n x n grid of cell centres."""
    m = chance + (np.arange(n) + 0.5) / n * (1 - chance)
    g = (np.arange(n) + 0.5) / n * ref
    mm, gg = np.meshgrid(m, g)
    hit = np.zeros_like(mm, dtype=bool)
    for pm, pg in points:
        hit |= (mm <= pm) & (gg >= pg)
    return hit.mean()


@pytest.mark.parametrize("seed", range(5))
def test_matches_optuna_and_a_grid(seed):
    rng = np.random.default_rng(seed)
    points = [(float(a), float(b)) for a, b in zip(rng.uniform(0.2, 1.0, 12), rng.uniform(0.0, 1.2, 12))]
    chance, ref = 0.35, 1.0
    hv = hypervolume(points, chance, ref)
    inside = np.array([[g, 1 - m] for m, g in points if m > chance and g < ref])  # both minimised
    assert hv == pytest.approx(compute_hypervolume(inside, np.array([ref, 1 - chance])) / ((1 - chance) * ref))
    assert hv == pytest.approx(grid_hypervolume(points, chance, ref), abs=5e-3)


def test_edges():
    assert hypervolume([], 0.5, 1.0) == 0.0
    assert hypervolume([(0.5, 0.1), (0.9, 1.0), (0.9, 2.0)], 0.5, 1.0) == 0.0  # at chance, or at joint's cost
    assert hypervolume([(1.0, 0.0)], 0.5, 1.0) == 1.0
    assert hypervolume([(0.75, 0.5)], 0.5, 1.0) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="reference point"):
        hypervolume([(0.9, 0.1)], 1.0, 1.0)


def test_history_counts_distinct_completed_trials_in_order():
    trials = pd.DataFrame({"number": [0, 1, 2, 3, 4], "state": ["COMPLETE", "COMPLETE", "PRUNED", "COMPLETE", "COMPLETE"],
                           "duplicate_of": [None, None, None, 1, None], "val/acc": [0.75, 0.9, 0.0, 0.9, 1.0],
                           "gflops": [0.5, 0.8, 0.1, 0.8, 0.9]})
    h = hypervolume_history(trials, "val/acc", 0.5, 1.0)
    assert list(h.number) == [0, 1, 4] and list(h.n_trained) == [1, 2, 3]
    assert list(h.hypervolume) == pytest.approx([0.25, 0.31, 0.33])  # by hand: strips of the sweep over GFLOPs
    assert h.hypervolume.is_monotonic_increasing


def test_chance_level():
    assert chance_level("multiclass", np.array([0, 1, 1, 2])) == 0.5
    assert chance_level("multilabel", np.array([[1, 0], [0, 0], [1, 1], [0, 0]])) == pytest.approx((0.5 + 0.25) / 2)
    with pytest.raises(ValueError, match="empty split"):
        chance_level("multiclass", np.array([], dtype=np.int64))
