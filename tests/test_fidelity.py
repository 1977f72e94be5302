"""Successive halving over epochs: the rungs, non-dominated sorting, who is promoted (on arrival at
a rung, or from a pause), and the sampler that learns from the rungs."""

from itertools import combinations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from locomt.search.fidelity import RungTPESampler, front_ranks, hv_select, next_promotion, promoted, rungs
from locomt.search.objective import enqueue_promotion, requeue
from locomt.search.space import SweepSpace
from locomt.search.front import dominated_area


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


def test_dominated_area_by_hand():
    # two boxes above metric 0.5 and below 4 GFLOPs: (0.9 - 0.5) * (4 - 3) + (0.7 - 0.5) * (3 - 1)
    assert dominated_area([(0.7, 1.0), (0.9, 3.0), (0.6, 2.0)], 0.5, 4.0) == pytest.approx(0.4 + 0.4)
    assert dominated_area([(0.4, 1.0), (0.9, 5.0)], 0.5, 4.0) == 0.0  # outside the box: nothing


def _select_reference(pts):
    pts = np.asarray(pts)
    span = np.ptp(pts, axis=0)
    return pts[:, 0].min() - max(0.1 * span[0], 1e-9), pts[:, 1].max() + max(0.1 * span[1], 1e-9)


def test_selection_keeps_fronts_in_rank_order_and_most_area_against_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(60):
        n = int(rng.integers(2, 9))
        pts = [(float(a), float(b)) for a, b in zip(rng.random(n).round(2), rng.random(n).round(2))]
        keep = int(rng.integers(1, n + 1))
        chosen = hv_select(pts, keep)
        ranks = front_ranks(pts)
        assert len(set(chosen)) == keep
        # every point of a better front is kept before any of a worse one
        assert max(ranks[chosen]) <= min(ranks[[i for i in range(n) if i not in chosen]], default=99)
        # from the front that did not fit: within (1 - 1/e) of the best subset's area (greedy on a
        # monotone submodular function), and exactly the best when it picks one point
        last = max(ranks[chosen])
        fixed = [i for i in chosen if ranks[i] < last]
        picked = [i for i in chosen if ranks[i] == last]
        pool = [i for i in range(n) if ranks[i] == last]
        ref = _select_reference(pts)
        area = lambda idx: dominated_area([pts[i] for i in [*fixed, *idx]], *ref)  # noqa: E731
        best = max(area(c) for c in combinations(pool, len(picked)))
        assert area(picked) >= (1 - 1 / np.e) * best - 1e-12
        if len(picked) == 1:
            assert area(picked) == pytest.approx(best)


def test_promotion():
    # alone at a rung: promoted (max(1, 1 // 3) = 1)
    assert promoted((0.4, 1.0), [], eta=3)
    # three there, keep one: the candidate must be the best by front rank
    assert not promoted((0.5, 2.0), [(0.9, 1.0), (0.6, 1.5)], eta=3)  # dominated by both
    assert promoted((0.95, 0.5), [(0.9, 1.0), (0.6, 1.5)], eta=3)  # dominates both
    # all three on the front, keep one: the one whose box is largest, not an end of the front (the
    # cheapest at a poor metric, or the most accurate at a high cost)
    ends = [(0.45, 0.41), (0.70, 0.70)]
    assert promoted((0.65, 0.50), ends, eta=3)
    assert not promoted((0.45, 0.41), [(0.65, 0.50), (0.70, 0.70)], eta=3)
    # a tie goes to the earlier arrival
    assert not promoted((0.6, 1.0), [(0.6, 1.0), (0.1, 9.0), (0.2, 8.0)], eta=3)
    # a cheap point is on the front too: six there, keep two; both front points are kept
    others = [(0.9, 3.0), (0.5, 2.5), (0.6, 2.8), (0.55, 2.9), (0.7, 3.5)]
    assert promoted((0.4, 0.5), others, eta=3)
    assert not promoted((0.45, 2.6), others, eta=3)


def _study_with_rungs(n: int, full_every: int) -> optuna.Study:
    """A study as successive halving leaves it: every configuration has val/acc@2 (acc@2 = a / 4,
    GFLOPs = 1 + b), every ``full_every``-th went on to 10 epochs; the rest are pruned."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    for i in range(n):
        t = study.ask()
        a, b = t.suggest_int("a", 0, 4), t.suggest_int("b", 0, 4)
        t.set_user_attr("gflops", 1.0 + b)
        t.set_user_attr("val/acc@2", a / 4)
        t.set_user_attr("fidelity", 2)
        if i % full_every == 0:
            t.set_user_attr("fidelity", 10)
            study.tell(t, [a / 4 + 0.1, 1.0 + b])
        else:
            study.tell(t, state=TrialState.PRUNED)
    return study


def test_rung_sampler_fits_the_highest_fidelity_enough_configurations_reached():
    study = _study_with_rungs(12, full_every=3)  # 12 at 2 epochs, 4 at 10
    sampler = RungTPESampler("val/acc", seed=0)  # n_min = 1 + 2 parameters = 3
    fidelity, obs, repeats = sampler.observations(study)
    assert fidelity == 10 and len(obs) == 4 and not repeats
    assert all(v == t.values[0] for t, v in obs)
    fidelity, obs, _ = RungTPESampler("val/acc", seed=0, n_min=5).observations(study)
    assert fidelity == 2 and len(obs) == 12  # too few at 10: the rung every configuration reached
    assert sorted(v for _, v in obs) == sorted(t.user_attrs["val/acc@2"] for t in study.trials)
    copy = RungTPESampler("val/acc", seed=0, n_min=5).observed(study)
    assert [t.state for t in copy.trials] == [TrialState.COMPLETE] * 12
    assert [t.values for t in copy.trials] == [[v, t.user_attrs["gflops"]] for t, v in obs]


def test_rung_sampler_learns_from_pruned_configurations():
    # only pruned trials carry the signal (a high, b low is good); plain TPE sees them without values
    study = _study_with_rungs(30, full_every=100)  # trial 0 finished, 29 pruned at 2 epochs
    props = {}
    for name, sampler in {"rung": RungTPESampler("val/acc", seed=3), "plain": optuna.samplers.TPESampler(seed=3)}.items():
        s = optuna.load_study(study_name=study.study_name, storage=study._storage, sampler=sampler)
        draws = []
        for _ in range(20):
            t = s.ask()
            draws.append((t.suggest_int("a", 0, 4), t.suggest_int("b", 0, 4)))
            s.tell(t, state=TrialState.FAIL)  # not seen by either sampler
        props[name] = np.mean([a - b for a, b in draws])
    assert props["rung"] > 2.0 > props["plain"]


def test_rung_sampler_moves_away_from_repeated_proposals():
    study = _study_with_rungs(12, full_every=100)
    sampler = RungTPESampler("val/acc", seed=0, n_min=50)
    s = optuna.load_study(study_name=study.study_name, storage=study._storage, sampler=sampler)
    keys = {(t.params["a"], t.params["b"]) for t in study.trials}
    seen, n_repeats = [], 0
    for _ in range(15):
        t = s.ask()
        p = (t.suggest_int("a", 0, 4), t.suggest_int("b", 0, 4))
        seen.append(p)
        if p in keys:  # as the sweep records a repeat: pruned, no values
            n_repeats += 1
            t.set_user_attr("duplicate_of", 0)
            s.tell(t, state=TrialState.PRUNED)
        else:
            keys.add(p)
            t.set_user_attr("gflops", 1.0 + p[1])
            t.set_user_attr("val/acc@2", p[0] / 4)
            t.set_user_attr("fidelity", 2)
            s.tell(t, state=TrialState.PRUNED)
    assert len(sampler.observations(s)[2]) == n_repeats
    assert max(seen.count(p) for p in set(seen)) <= 4  # not the same configuration over and over


# ------------------------------------------------------------------ promotion-based
def _paused(number, key, values, gflops, state=TrialState.PRUNED, **attrs):
    """A trial of configuration ``key`` that reached the rungs in ``values`` ({epochs: val/acc})."""
    user = {"key": key, "gflops": gflops, **{f"val/acc@{e}": v for e, v in values.items()}, **attrs}
    if values and state != TrialState.WAITING:
        user.setdefault("fidelity", max(values))
    t = optuna.trial.create_trial(state=state, params={"a": number}, user_attrs=user,
                                  distributions={"a": optuna.distributions.IntDistribution(0, 99)},
                                  values=[0.9, gflops] if state == TrialState.COMPLETE else None)
    t.number = number
    return t


R = [2, 6, 10]


def test_next_promotion_takes_the_best_nth_of_a_rung_highest_rung_first():
    # two at rung 2: 2 // 3 = 0 go on
    a, b = _paused(0, "a", {2: 0.5}, 1.0), _paused(1, "b", {2: 0.7}, 1.0)
    assert next_promotion([a, b], "val/acc", R, 3) is None
    c = _paused(2, "c", {2: 0.6}, 1.0)
    assert next_promotion([a, b, c], "val/acc", R, 3) is b  # the best of three, as hv_select ranks them
    # same accuracy, fewer GFLOPs: c dominates b and goes first
    cheap = _paused(2, "c", {2: 0.7}, 0.5)
    assert next_promotion([a, b, cheap], "val/acc", R, 3) is cheap
    # b's promotion is waiting, then running, then paused at 6: nothing else at 2 is in the best third
    for state in (TrialState.WAITING, TrialState.RUNNING):
        going = _paused(3, "b", {2: 0.7}, 1.0, state=state, promoted_from=1)
        assert next_promotion([a, b, c, going], "val/acc", R, 3) is None
    b6 = _paused(3, "b", {2: 0.7, 6: 0.8}, 1.0, promoted_from=1)
    assert next_promotion([a, b, c, b6], "val/acc", R, 3) is None  # 1 at rung 6
    # a failed promotion does not hold the configuration: it is promoted again
    failed = _paused(3, "b", {2: 0.7}, 1.0, state=TrialState.FAIL, promoted_from=1)
    assert next_promotion([a, b, c, failed], "val/acc", R, 3) is b
    # six at rung 2 (best two go on), three of them at rung 6: rung 6 first
    more = [_paused(4 + i, k, {2: v}, 1.0) for i, (k, v) in enumerate([("d", 0.1), ("e", 0.2), ("f", 0.3)])]
    six = [_paused(10, "a", {2: 0.5, 6: 0.55}, 1.0, promoted_from=0), _paused(11, "c", {2: 0.6, 6: 0.9}, 1.0,
                                                                           promoted_from=2)]
    trials = [a, b, c, *more, b6, *six]
    assert next_promotion(trials, "val/acc", R, 3).number == 11  # c, best of a, b, c at rung 6
    done = _paused(12, "c", {2: 0.6, 6: 0.9}, 1.0, state=TrialState.COMPLETE, promoted_from=11, fidelity=10)
    assert next_promotion([*trials, done], "val/acc", R, 3) is None  # rung 6: c went on; rung 2: b, c went on
    # a repeat of a configuration (duplicate_of) is not a configuration
    rep = _paused(13, "g", {2: 0.99}, 1.0, duplicate_of=1)
    assert next_promotion([*trials, done, rep], "val/acc", R, 3) is None


def _space(**kw):
    return SweepSpace(strategy="asha", min_epochs=2, eta=3, asha_type="promotion", **kw)


def test_enqueue_promotion_enqueues_one_trial_of_the_same_parameters():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (k, v) in enumerate([("a", 0.5), ("b", 0.7), ("c", 0.6)]):
        t = _paused(i, k, {2: v}, 1.0, role="search", label="")
        study.add_trial(t)
    assert enqueue_promotion(study, "val/acc", _space(), 10)
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 1 and waiting[0].user_attrs["promoted_from"] == 1 and waiting[0].user_attrs["key"] == "b"
    assert waiting[0].system_attrs["fixed_params"] == {"a": 1}
    assert not enqueue_promotion(study, "val/acc", _space(), 10)  # one waits already
    trial = study.ask()  # pops it, with b's parameters
    assert trial.number == 3 and trial.suggest_int("a", 0, 99) == 1 and trial.user_attrs["promoted_from"] == 1
    assert not enqueue_promotion(study, "val/acc", _space(), 10)  # running: b is taken; a and c are not in the best third
    requeue(trial)  # Ctrl-C: the retry still resumes b's pause
    retry = study.get_trials(states=(TrialState.WAITING,))
    assert retry[0].user_attrs["promoted_from"] == 1 and retry[0].user_attrs["retry_of"] == 3


def test_rung_sampler_sees_a_configuration_once_at_its_highest_fidelity():
    study = optuna.create_study(directions=["maximize", "minimize"])
    for t in [_paused(0, "a", {2: 0.5}, 1.0), _paused(1, "b", {2: 0.7}, 2.0),
              _paused(2, "b", {2: 0.7, 6: 0.8}, 2.0, promoted_from=1),
              _paused(3, "b", {2: 0.7, 6: 0.8}, 2.0, state=TrialState.COMPLETE, promoted_from=2, fidelity=10),
              _paused(4, "b", {2: 0.7}, 2.0, promoted_from=1, duplicate_of=2)]:  # the same promotion twice
        study.add_trial(t)
    fidelity, obs, repeats = RungTPESampler("val/acc", n_min=2).observations(study)
    assert fidelity == 2 and sorted((t.number, v) for t, v in obs) == [(0, 0.5), (3, 0.7)]
    assert not repeats  # a repeated promotion is no repeated proposal
    fidelity, obs, _ = RungTPESampler("val/acc", n_min=1).observations(study)
    assert fidelity == 10 and [(t.number, v) for t, v in obs] == [(3, 0.9)]
