"""Confirming a sweep's front over seeds: after the search, every configuration on the validation
front and every baseline is trained again with other trainer seeds, so that each front point
carries its noise.

A configuration is the set of its COMPLETE trials that are not repeats: the search trial that
trained it (seed ``cfg.seed``) and its confirmation trials (``confirms``: that trial's number,
``seed``: another trainer seed). A confirmation trial is an ordinary trial of the study, enqueued
with the configuration's parameters: it is resumed, retried and shared between workers like any
other, and its run is cached under its own config key (the seed is part of it), so a rerun of a
killed sweep retrains nothing that finished. The front is taken on the seed means
(:func:`front_of_means`); a configuration that reaches it only once the confirmed means are known
is confirmed in turn, until every configuration on the front of means (and every baseline) has
``confirm_seeds`` seeds.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.trial import TrialState

from locomt.search.fidelity import front_ranks

CARRIED = ("backbone", "label", "role", "pattern")  # what a confirmation trial takes from its configuration


def configurations(trials: list[optuna.trial.FrozenTrial]) -> dict[int, list[optuna.trial.FrozenTrial]]:
    """The study's trained configurations: the number of the search trial that trained each one ->
    its COMPLETE trials (that one first, then its confirmations), repeats left out."""
    groups: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for t in sorted(trials, key=lambda t: ("confirms" in t.user_attrs, t.number)):
        if t.state != TrialState.COMPLETE or "duplicate_of" in t.user_attrs:
            continue
        source = t.user_attrs.get("confirms", t.number)
        if source in groups or "confirms" not in t.user_attrs:
            groups.setdefault(source, []).append(t)
    return groups


def non_dominated(points: dict[int, tuple[float, ...]]) -> set[int]:
    """The keys whose (metric, gflops[, worst missing]) no other point dominates
    (:func:`locomt.search.fidelity.front_ranks`; a point whose metric is not finite is on no front)."""
    keys = [k for k, p in points.items() if np.isfinite(p[0])]
    ranks = front_ranks([points[k] for k in keys])
    return {k for k, r in zip(keys, ranks) if r == 0}


def front_of_means(groups: dict[int, list[optuna.trial.FrozenTrial]]) -> set[int]:
    """The configurations (search trial numbers) on the front of their seed means of the objective
    values (validation metric up, GFLOPs down; a third objective, worst missing, up)."""
    return non_dominated({k: (float(np.mean([t.values[0] for t in g])), float(g[0].values[1]),
                              *(float(np.mean([t.values[i] for t in g])) for i in range(2, len(g[0].values))))
                          for k, g in groups.items()})


def waiting_confirmations(study: optuna.Study) -> bool:
    """Whether a confirmation trial waits to be run."""
    return any("confirms" in t.user_attrs for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def enqueue_confirmations(study: optuna.Study, metric: str, confirm_seeds: int, base_seed: int,
                          baselines_only: bool = False) -> int:
    """Enqueue the confirmation trials that the front of means and the baselines still lack (seeds
    ``seed, seed + 1, ..., seed + confirm_seeds - 1`` of each configuration, ``seed`` its own);
    returns how many. A seed with a trial waiting, running or finished is not enqueued again.

    The most expensive configurations (GFLOPs) come first, so that the last trials of the sweep are
    short ones and no worker waits long for another at its end. ``baselines_only``: only the
    baselines', which are confirmed whatever the front turns out to be, so a worker with no search
    trial left can train them while the others finish theirs."""
    if confirm_seeds <= 1:
        return 0
    trials = study.get_trials(deepcopy=False)
    groups = configurations(trials)
    targets = {k for k, g in groups.items() if g[0].user_attrs.get("role") == "baseline"}
    if not baselines_only:
        targets |= front_of_means(groups)
    had: dict[int, set[int]] = {}
    for t in trials:
        if "confirms" in t.user_attrs and t.state != TrialState.FAIL:
            had.setdefault(t.user_attrs["confirms"], set()).add(int(t.user_attrs["seed"]))
    n = 0
    for k in sorted(targets, key=lambda k: (-groups[k][0].values[1], k)):
        source = groups[k][0]
        own = int(source.user_attrs.get("seed", base_seed))
        attrs = {a: source.user_attrs[a] for a in CARRIED if a in source.user_attrs}
        for seed in range(own + 1, own + confirm_seeds):
            if seed in had.get(k, set()):
                continue
            study.enqueue_trial(source.params, user_attrs={**attrs, "confirms": k, "seed": seed},
                                skip_if_exists=False)
            n += 1
    return n
