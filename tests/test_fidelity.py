"""Successive halving over epochs: the rungs, non-dominated sorting and who is promoted."""

import numpy as np
import pytest

from locomt.search.fidelity import crowding, front_ranks, promoted, rungs


def test_rungs():
    assert rungs(1, 3, 6) == [1, 3, 6]
    assert rungs(2, 2, 6) == [2, 4, 6]
    assert rungs(1, 2, 1) == [1]
    with pytest.raises(ValueError, match="eta >= 2"):
        rungs(1, 1, 6)


def test_front_ranks_against_brute_force():
    rng = np.random.default_rng(0)
    pts = [(float(a), float(b)) for a, b in zip(rng.integers(0, 5, 40) / 4, rng.integers(0, 5, 40))]
    ranks = front_ranks(pts)
    for i, p in enumerate(pts):
        dominators = [j for j, q in enumerate(pts)
                      if q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1])]
        # rank 0 when nothing dominates the point, else one more than its highest-ranked dominator
        assert ranks[i] == (1 + max(ranks[j] for j in dominators) if dominators else 0)


def test_crowding_ends_are_infinite():
    c = crowding([(0.5, 1.0), (0.7, 2.0), (0.9, 4.0)])
    assert np.isinf(c[0]) and np.isinf(c[2]) and c[1] == pytest.approx((0.9 - 0.5) / 0.4 + (4 - 1) / 3)


def test_promotion():
    # alone at a rung: promoted (max(1, 1 // 3) = 1)
    assert promoted((0.4, 1.0), [], eta=3)
    # three there, keep one: the candidate must be the best by front rank
    assert not promoted((0.5, 2.0), [(0.9, 1.0), (0.6, 1.5)], eta=3)  # dominated by both
    assert promoted((0.95, 0.5), [(0.9, 1.0), (0.6, 1.5)], eta=3)  # dominates both
    # a cheap point is on the front too: six there, keep two; both front points are kept
    others = [(0.9, 3.0), (0.5, 2.5), (0.6, 2.8), (0.55, 2.9), (0.7, 3.5)]
    assert promoted((0.4, 0.5), others, eta=3)
    assert not promoted((0.45, 2.6), others, eta=3)
