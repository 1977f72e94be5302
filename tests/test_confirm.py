"""locomt.search.confirm without training: which confirmation trials are enqueued, and in what order."""

from __future__ import annotations

import optuna
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from locomt.search.confirm import configurations, enqueue_confirmations, front_of_means


def _study(points):
    """A two-objective study (metric up, GFLOPs down) of finished search trials: (role, metric, gflops)."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for i, (role, metric, gflops) in enumerate(points):
        attrs = {"seed": 0, "label": f"c{i}", **({"role": role} if role else {})}
        study.add_trial(create_trial(state=TrialState.COMPLETE, values=[metric, gflops], params={"x": i},
                                     distributions={"x": IntDistribution(0, 99)}, user_attrs=attrs))
    return study


def _waiting(study):
    return [(t.user_attrs["confirms"], t.user_attrs["seed"])
            for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))]


def test_confirmations_come_most_expensive_first_and_baselines_can_go_ahead():
    # trial 0, 1: baselines (joint 0.07, late 0.05 GFLOPs); 2-4: searched, 2 and 4 on the front, 3 dominated
    study = _study([("baseline", 0.70, 0.07), ("baseline", 0.60, 0.05), (None, 0.80, 0.03), (None, 0.50, 0.04),
                    (None, 0.85, 0.045)])
    assert front_of_means(configurations(study.get_trials())) == {2, 4}
    # while other workers still train search trials: the baselines only, the costlier first
    assert enqueue_confirmations(study, "val/acc", 3, 0, baselines_only=True) == 4
    assert _waiting(study) == [(0, 1), (0, 2), (1, 1), (1, 2)]
    # after the search: the front's are added (those already waiting are not enqueued again), costlier first
    assert enqueue_confirmations(study, "val/acc", 3, 0) == 4
    assert _waiting(study)[4:] == [(4, 1), (4, 2), (2, 1), (2, 2)]
    assert enqueue_confirmations(study, "val/acc", 3, 0) == 0
    assert enqueue_confirmations(study, "val/acc", 1, 0, baselines_only=True) == 0  # 1 seed: no confirmation
