"""Multi-fidelity search: the rungs of successive halving over epochs, and who is promoted at a rung.

MO-ASHA (Schmucker et al. 2021), stopping-based as Optuna's SuccessiveHalvingPruner: every
configuration trains on the full schedule, and at each rung (an epoch count: ``min_epochs``,
``min_epochs * eta``, ..., below ``max_epochs``) its validation metric joins those that reached the
rung before it; it goes on only if it is among the best ``max(1, n // eta)`` of the ``n`` there,
ranked by non-dominated sorting of (metric up, GFLOPs down), ties in a front broken by crowding
distance (wider gaps first), as NSGA-II does. GFLOPs are exact and known before training, so only
the metric is a low-fidelity estimate. A stopped configuration keeps its checkpoint: if it is asked
for again at a higher fidelity, it resumes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rungs(min_epochs: int, eta: int, max_epochs: int) -> list[int]:
    """The epoch counts where a configuration is judged: min_epochs * eta**k below max_epochs, then
    max_epochs itself (the full fidelity, where nothing is judged)."""
    if min_epochs < 1 or eta < 2 or max_epochs < 1:
        raise ValueError(f"min_epochs={min_epochs}, eta={eta}, max_epochs={max_epochs}; expected min_epochs >= 1, "
                         "eta >= 2 and max_epochs >= 1")
    out, e = [], min_epochs
    while e < max_epochs:
        out.append(e)
        e *= eta
    return out + [max_epochs]


def front_ranks(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Non-dominated sorting of (metric, gflops) points, metric up and GFLOPs down: 0 for the front,
    1 for the front of the rest, and so on."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    ranks = np.full(len(pts), -1)
    left, k = np.arange(len(pts)), 0
    while len(left):
        sub = pts[left]
        better = (sub[None, :, 0] >= sub[:, None, 0]) & (sub[None, :, 1] <= sub[:, None, 1])
        strictly = (sub[None, :, 0] > sub[:, None, 0]) | (sub[None, :, 1] < sub[:, None, 1])
        dominated = (better & strictly).any(axis=1)
        ranks[left[~dominated]] = k
        left, k = left[dominated], k + 1
    return ranks


def crowding(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """NSGA-II crowding distance of each point within its own set (the ends are infinite)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    out = np.zeros(len(pts))
    if len(pts) <= 2:
        return np.full(len(pts), np.inf)
    for j in range(2):
        order = np.argsort(pts[:, j], kind="stable")
        span = pts[order[-1], j] - pts[order[0], j]
        out[order[0]] = out[order[-1]] = np.inf
        if span > 0:
            out[order[1:-1]] += (pts[order[2:], j] - pts[order[:-2], j]) / span
    return out


def promoted(candidate: tuple[float, float], others: Sequence[tuple[float, float]], eta: int) -> bool:
    """Whether ``candidate`` goes on from a rung where ``others`` arrived before it: it must be among
    the best max(1, n // eta) of the n points (itself included) by front rank, then crowding."""
    pts = [tuple(candidate), *map(tuple, others)]
    keep = max(1, len(pts) // eta)
    ranks = front_ranks(pts)
    crowd = np.zeros(len(pts))
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        crowd[idx] = crowding([pts[i] for i in idx])
    # lexicographic: lower rank first, then larger crowding; the candidate loses ties with earlier arrivals
    order = sorted(range(len(pts)), key=lambda i: (ranks[i], -crowd[i], i == 0))
    return order.index(0) < keep
