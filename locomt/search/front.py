"""The front's quality as one number: the hypervolume of the (validation metric, GFLOPs) front.

The reference point says what "no better than guessing" is: the chance level of the metric
(majority-class accuracy, or chance mAP = the mean positive rate of the classes) and the GFLOPs of
joint fusion (the reference backbone). The hypervolume is the area that the points dominate inside
the box [chance, 1] x [0, joint's GFLOPs], divided by that box's area, so it lies in [0, 1]: 0 when
no point beats guessing at less than joint's cost, 1 for a perfect metric at no cost. A point with
more GFLOPs than joint, or a metric at or below chance, adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def staircase(points: Iterable[tuple[float, float]], ref_metric: float, ref_gflops: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The region that ``(metric, gflops)`` points dominate (metric up, GFLOPs down) as strips:
    (start GFLOPs, end GFLOPs, metric level), every point reaching at most ``level`` below GFLOPs g
    in [start, end). The first strip starts at -inf at ``ref_metric``, the last ends at
    ``ref_gflops``; a point at or below ``ref_metric``, past ``ref_gflops`` or not finite adds none."""
    pts = sorted((g, m) for m, g in points if m > ref_metric and g < ref_gflops and np.isfinite(m) and np.isfinite(g))
    starts, levels, best = [-np.inf], [ref_metric], ref_metric
    for g, m in pts:  # from cheap to costly: each point starts the strip it reaches
        best = max(best, m)
        if g == starts[-1]:
            levels[-1] = best
        else:
            starts.append(g)
            levels.append(best)
    starts_a = np.array(starts)
    return starts_a, np.append(starts_a[1:], ref_gflops), np.array(levels)


def dominated_area(points: Iterable[tuple[float, float]], ref_metric: float, ref_gflops: float) -> float:
    """The area that ``(metric, gflops)`` points dominate (metric up, GFLOPs down) above ``ref_metric``
    and below ``ref_gflops``, not normalised: the :func:`staircase`'s strips; points outside that box
    add nothing."""
    starts, ends, levels = staircase(points, ref_metric, ref_gflops)
    return float(sum((level - ref_metric) * (end - start) for start, end, level in zip(starts[1:], ends[1:], levels[1:])))


def hypervolume(points: Iterable[tuple[float, float]], chance: float, ref_gflops: float) -> float:
    """Normalised hypervolume of ``(metric, gflops)`` points (metric up, GFLOPs down); see the module doc."""
    if not 0.0 <= chance < 1.0 or not ref_gflops > 0:
        raise ValueError(f"reference point ({chance}, {ref_gflops}); expected chance in [0, 1) and GFLOPs > 0")
    area = dominated_area(((min(m, 1.0), g) for m, g in points), chance, ref_gflops)
    return area / ((1.0 - chance) * ref_gflops)


def hypervolume_3d(points: Iterable[tuple[float, float, float]], chance: float, ref_gflops: float) -> float:
    """Normalised hypervolume of ``(metric, gflops, worst)`` points (metric up, GFLOPs down, worst up:
    the metric with one modality missing), in the box [chance, 1] x [0, ref_gflops] x [chance, 1]:
    exact, as slabs along the third axis, each the :func:`dominated_area` of the points that reach it."""
    if not 0.0 <= chance < 1.0 or not ref_gflops > 0:
        raise ValueError(f"reference point ({chance}, {ref_gflops}); expected chance in [0, 1) and GFLOPs > 0")
    pts = [(min(m, 1.0), g, min(w, 1.0)) for m, g, w in points if np.isfinite(w) and w > chance]
    levels = sorted({w for _, _, w in pts}, reverse=True)
    volume = 0.0
    for upper, lower in zip(levels, [*levels[1:], chance]):  # between lower and upper, the points at upper or more
        volume += dominated_area(((m, g) for m, g, w in pts if w >= upper), chance, ref_gflops) * (upper - lower)
    return volume / ((1.0 - chance) ** 2 * ref_gflops)


def hypervolume_history(trials: pd.DataFrame, metric: str, chance: float, ref_gflops: float) -> pd.DataFrame:
    """Hypervolume after each trial, in trial order, over the completed distinct configurations so far
    (``number``, ``n_trained`` configurations, ``hypervolume``)."""
    done = trials[(trials["state"] == "COMPLETE") & trials["duplicate_of"].isna()].sort_values("number")
    rows, points = [], []
    for _, r in done.iterrows():
        points.append((float(r[metric]), float(r["gflops"])))
        rows.append({"number": int(r["number"]), "n_trained": len(points),
                     "hypervolume": hypervolume(points, chance, ref_gflops)})
    return pd.DataFrame(rows, columns=["number", "n_trained", "hypervolume"])


def chance_level(task: str, labels: np.ndarray) -> float:
    """The metric a guess reaches on ``labels``: the majority class's share (multiclass accuracy), or
    the mean positive rate over classes (the mAP of a constant score, multilabel)."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("no labels: the chance level of an empty split is undefined")
    if task == "multiclass":
        return float(np.bincount(labels.astype(np.int64)).max() / len(labels))
    return float(labels.astype(np.float64).mean(axis=0).mean())
