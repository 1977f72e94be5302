"""Multi-fidelity search: the rungs of successive halving over epochs, who is promoted at a rung,
and a sampler that learns from the rungs.

MO-ASHA (Schmucker et al. 2021), stopping-based as Optuna's SuccessiveHalvingPruner: every
configuration trains on the full schedule, and at each rung (an epoch count: ``min_epochs``,
``min_epochs * eta``, ..., below ``max_epochs``) its validation metric joins those that reached the
rung before it; it goes on only if it is among the best ``max(1, n // eta)`` of the ``n`` there,
ranked by non-dominated sorting of (metric up, GFLOPs down), ties in a front broken by hypervolume
contribution (greedy hypervolume subset selection, as Optuna's multi-objective TPE breaks its ties):
the points kept are those that keep most of the rung's dominated area, the quantity the search is
judged by. GFLOPs are exact and known before training, so only the metric is a low-fidelity
estimate. A stopped configuration keeps its checkpoint: if it is asked for again at a higher
fidelity, it resumes.

Promotion-based (``asha_type: promotion``, ASHA as Li et al. 2020 run it; :func:`next_promotion`):
every configuration stops at the first rung, paused; before starting a new configuration, a worker
resumes a paused one if it is among the best ``n // eta`` of the ``n`` at its rung, the highest rung
first. The first configuration then no longer trains to the end before anything is compared.

``RungTPESampler``: multi-objective TPE fitted on every configuration's result at the highest rung
that enough of them reached (BOHB, Falkner et al. 2018), so that configurations stopped at a rung
inform the proposals; Optuna's TPE would see them only as pruned trials without values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import optuna
from optuna.trial import TrialState

from locomt.search.front import dominated_area


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


def front_ranks(points: Sequence[tuple[float, ...]]) -> np.ndarray:
    """Non-dominated sorting of (metric, gflops[, more]) points, metric up, GFLOPs down and any
    further objective up (a sweep's ``worst_missing``): 0 for the front, 1 for the front of the rest,
    and so on. Equal points do not dominate each other (as Optuna's ``best_trials``)."""
    pts = np.asarray(points, dtype=float)
    pts = pts.reshape(len(pts), -1) if pts.size else pts.reshape(0, 2)
    up = pts * np.where(np.arange(pts.shape[1]) == 1, -1.0, 1.0)  # every objective up
    ranks = np.full(len(pts), -1)
    left, k = np.arange(len(pts)), 0
    while len(left):
        sub = up[left]
        better = (sub[None, :, :] >= sub[:, None, :]).all(axis=2)
        strictly = (sub[None, :, :] > sub[:, None, :]).any(axis=2)
        dominated = (better & strictly).any(axis=1)
        ranks[left[~dominated]] = k
        left, k = left[dominated], k + 1
    return ranks


def hv_select(points: Sequence[tuple[float, float]], keep: int) -> list[int]:
    """Indices of ``keep`` of the (metric, gflops) points: whole non-dominated fronts in rank order,
    then, from the front that does not fit, greedily the point that adds most dominated area to those
    chosen (ties: the earlier index). The reference point lies 10 % of the points' span (or 1e-9)
    beyond their worst metric and GFLOPs."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if not len(pts):
        return []
    keep = min(keep, len(pts))
    ranks = front_ranks(pts)
    span = np.ptp(pts, axis=0)
    ref_metric = pts[:, 0].min() - max(0.1 * span[0], 1e-9)
    ref_gflops = pts[:, 1].max() + max(0.1 * span[1], 1e-9)
    chosen: list[int] = []
    for r in np.unique(ranks):
        idx = [int(i) for i in np.flatnonzero(ranks == r)]
        if len(chosen) + len(idx) <= keep:
            chosen += idx
            continue
        while len(chosen) < keep:
            base = [tuple(pts[i]) for i in chosen]
            gains = [dominated_area([*base, tuple(pts[i])], ref_metric, ref_gflops) for i in idx]
            best = idx[int(np.argmax(gains))]  # argmax: the first of equal gains
            chosen.append(best)
            idx.remove(best)
        break
    return chosen


def next_promotion(trials: Sequence[optuna.trial.FrozenTrial], metric: str, rung_epochs: Sequence[int],
                   eta: int) -> optuna.trial.FrozenTrial | None:
    """Promotion-based ASHA's choice: the paused trial whose configuration goes on next, or None.

    A configuration (trials sharing a ``key``; repeats and failed trials left out) sits at every rung
    it has a ``metric@E`` value for. From the highest rung below full fidelity down, the best
    ``n // eta`` of the ``n`` configurations at a rung (:func:`hv_select`) may go on; the first of
    them, in that order, whose newest trial is paused at that rung (PRUNED with that fidelity, no
    later trial waiting or running for it) is the one."""
    by_key: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for t in trials:
        a = t.user_attrs
        if t.state != TrialState.FAIL and "duplicate_of" not in a and "key" in a:
            by_key.setdefault(a["key"], []).append(t)
    for epochs in reversed(rung_epochs[:-1]):
        name = f"{metric}@{epochs}"
        members = []
        for ts in by_key.values():
            values = [t.user_attrs[name] for t in ts if name in t.user_attrs]
            if values:  # (a retry waiting to run has the key, and no GFLOPs yet)
                members.append((ts, values[0], next(t.user_attrs["gflops"] for t in ts if "gflops" in t.user_attrs)))
        keep = hv_select([(value, gflops) for _, value, gflops in members], len(members) // eta) if members else []
        for i in keep:
            newest = max(members[i][0], key=lambda t: t.number)
            if newest.state == TrialState.PRUNED and newest.user_attrs.get("fidelity") == epochs:
                return newest
    return None


def promoted(candidate: tuple[float, float], others: Sequence[tuple[float, float]], eta: int) -> bool:
    """Whether ``candidate`` goes on from a rung where ``others`` arrived before it: it must be among
    the max(1, n // eta) of the n points (itself included) that :func:`hv_select` keeps; it loses
    ties with the earlier arrivals."""
    pts = [*map(tuple, others), tuple(candidate)]
    return len(pts) - 1 in hv_select(pts, max(1, len(pts) // eta))


def rung_observations(study: optuna.Study, metric: str, n_min: int | None = None
                  ) -> tuple[int | None, list[tuple[optuna.trial.FrozenTrial, float]], list[optuna.trial.FrozenTrial]]:
    """What a model of the study's results learns from: (the fidelity E used, [(trial, metric after E
    epochs)] over the study's trained configurations, [repeated proposals]).

    Every trained configuration is seen once, through its trial of the highest fidelity (a
    configuration with a trial per rung under promotion-based ASHA), at one fidelity E for all: the
    highest (a rung, or the full schedule) that at least ``n_min`` configurations reached (default:
    1 + the number of searched parameters), else the lowest, which every trained configuration has.
    Trials without searched parameters (baselines), repeats and configurations never trained
    (rejected by the GFLOPs budget, diverged) are left out of the observations; repeated proposals
    are listed apart."""
    seen: dict[int, list[tuple[optuna.trial.FrozenTrial, float]]] = {}
    repeats, newest = [], {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        a = t.user_attrs
        if t.params and "duplicate_of" in a and "promoted_from" not in a:
            repeats.append(t)
        if not t.params or "duplicate_of" in a or "gflops" not in a or not a.get("fidelity"):
            continue
        key = a.get("key", t.number)  # a configuration once, at the highest fidelity any of its trials reached
        if key not in newest or a["fidelity"] > newest[key].user_attrs["fidelity"]:
            newest[key] = t
    for t in newest.values():
        a = t.user_attrs
        for name, value in a.items():
            head, _, e = name.partition("@")
            if head == metric and e.isdigit():
                seen.setdefault(int(e), []).append((t, value))
        if t.state == TrialState.COMPLETE:
            seen.setdefault(int(a["fidelity"]), []).append((t, t.values[0]))
    if not seen:
        return None, [], repeats
    n_min = n_min or 1 + max(len(t.distributions) for obs in seen.values() for t, _ in obs)
    enough = [e for e, obs in seen.items() if len(obs) >= n_min]
    fidelity = max(enough) if enough else min(seen)
    return fidelity, seen[fidelity], repeats


class RungTPESampler(optuna.samplers.BaseSampler):
    """Multi-objective TPE that sees every configuration's low-fidelity result (BOHB's model).

    Before each proposal it builds an in-memory copy of the study in which every trained
    configuration is a finished trial whose values are (``metric@E``, GFLOPs) at one fidelity E: the
    highest (a rung, or the full schedule) that at least ``n_min`` configurations reached, else the
    lowest, which every trained configuration has. TPE then samples from that copy as it would from
    a study of full trainings. A proposal that repeated a configuration of the study is copied as a
    pruned trial without values, which TPE ranks below every finished one, as Optuna's TPE sees a
    repeat stopped at a rung: without it, TPE would propose the best configuration over and over.
    Configurations never trained (rejected by the GFLOPs budget, diverged) are left out; so are
    trials without searched parameters (baselines). A configuration with a trial per rung
    (promotion-based ASHA) is seen once, through its trial of the highest fidelity."""

    def __init__(self, metric: str, seed: int | None = None, n_startup_trials: int = 5, n_min: int | None = None):
        self._metric, self._n_min = metric, n_min
        self._tpe = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup_trials)
        self._copy: tuple[int, optuna.Study] | None = None

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        if self._copy is None or self._copy[0] != trial.number:
            self._copy = trial.number, self.observed(study)
        return self._tpe.sample_independent(self._copy[1], trial, param_name, param_distribution)

    def observations(self, study: optuna.Study) -> tuple[int | None, list[tuple[optuna.trial.FrozenTrial, float]],
                                                        list[optuna.trial.FrozenTrial]]:
        """:func:`rung_observations` of the study for this sampler's metric."""
        return rung_observations(study, self._metric, self._n_min)

    def observed(self, study: optuna.Study) -> optuna.Study:
        """An in-memory study holding :meth:`observations` as finished trials (values: metric, GFLOPs)."""
        level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per proposal on "study created"
        try:
            copy = optuna.create_study(directions=study.directions)
        finally:
            optuna.logging.set_verbosity(level)
        _, obs, repeats = self.observations(study)
        copy.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                                   values=[value, t.user_attrs["gflops"]]) for t, value in obs])
        copy.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                                   state=TrialState.PRUNED) for t in repeats])
        return copy
