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


@pytest.mark.parametrize("seed", range(3))
def test_three_objectives_match_optuna(seed):
    """hypervolume_3d (metric up, GFLOPs down, worst missing up) against Optuna's n-D calculator;
    with the third value at 1 for every point it is the 2-D hypervolume."""
    from locomt.search.front import hypervolume_3d

    rng = np.random.default_rng(seed)
    pts = [tuple(map(float, p)) for p in zip(rng.uniform(0.2, 1.0, 10), rng.uniform(0.0, 1.2, 10),
                                              rng.uniform(0.2, 1.0, 10))]
    chance, ref = 0.35, 1.0
    inside = np.array([[g, 1 - m, 1 - w] for m, g, w in pts if m > chance and g < ref and w > chance])
    want = compute_hypervolume(inside, np.array([ref, 1 - chance, 1 - chance])) / ((1 - chance) ** 2 * ref)
    assert hypervolume_3d(pts, chance, ref) == pytest.approx(want, rel=1e-9)
    assert hypervolume_3d([(m, g, 1.0) for m, g, _ in pts], chance, ref) == pytest.approx(
        hypervolume([(m, g) for m, g, _ in pts], chance, ref), rel=1e-12)
    assert hypervolume_3d([], chance, ref) == 0.0


def test_non_dominated_in_two_and_three_objectives():
    """locomt.search.confirm.non_dominated: metric up, GFLOPs down, a third value up; equal points kept."""
    from locomt.search.confirm import non_dominated

    two = {0: (0.8, 1.0), 1: (0.7, 1.0), 2: (0.9, 2.0), 3: (0.8, 1.0), 4: (float("nan"), 0.1)}
    assert non_dominated(two) == {0, 2, 3}
    three = {k: (*v, w) for (k, v), w in zip(two.items(), (0.5, 0.9, 0.4, 0.6, 0.9))}
    assert non_dominated(three) == {1, 2, 3}  # 1 is the most robust; 3 dominates 0 by its third value
