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


def dominated_area(points: Iterable[tuple[float, float]], ref_metric: float, ref_gflops: float) -> float:
    """The area that ``(metric, gflops)`` points dominate (metric up, GFLOPs down) above ``ref_metric``
    and below ``ref_gflops``, not normalised; points outside that box add nothing."""
    pts = sorted((g, m) for m, g in points if m > ref_metric and g < ref_gflops and np.isfinite(m) and np.isfinite(g))
    area, best = 0.0, ref_metric
    for i, (g, m) in enumerate(pts):  # sweep from cheap to costly: each point adds the strip it improves
        best = max(best, m)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref_gflops
        area += (best - ref_metric) * (nxt - g)
    return area


def hypervolume(points: Iterable[tuple[float, float]], chance: float, ref_gflops: float) -> float:
    """Normalised hypervolume of ``(metric, gflops)`` points (metric up, GFLOPs down); see the module doc."""
    if not 0.0 <= chance < 1.0 or not ref_gflops > 0:
        raise ValueError(f"reference point ({chance}, {ref_gflops}); expected chance in [0, 1) and GFLOPs > 0")
    area = dominated_area(((min(m, 1.0), g) for m, g in points), chance, ref_gflops)
    return area / ((1.0 - chance) * ref_gflops)


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
