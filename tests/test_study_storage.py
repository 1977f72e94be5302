"""The sweep's storage under concurrent local workers: every enqueued trial is popped once, and a
trial whose worker died before its first heartbeat is failed and retried."""

import threading
import time

import optuna
from optuna.trial import TrialState

from locomt.search.study import open_storage, watch_running


def test_workers_on_one_sqlite_study_pop_each_enqueued_trial_once(tmp_path):
    """Four workers (threads, each with its own storage and connections, as local worker processes
    have) pop 60 enqueued trials; without BEGIN IMMEDIATE, runs here popped 29 and 32 of them twice."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=open_storage(url, None), study_name="s")
    for i in range(60):
        study.enqueue_trial({"x": float(i)})
    popped, errors = [], []

    def worker():
        try:
            mine = optuna.load_study(study_name="s", storage=open_storage(url, None))
            while (trial_id := mine._pop_waiting_trial_id()) is not None:
                popped.append(trial_id)
        except Exception as err:  # a failed worker would pop fewer: say why
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(popped) == sorted(t._trial_id for t in study.get_trials())
    assert all(t.state == optuna.trial.TrialState.RUNNING for t in study.get_trials())


def test_a_trial_killed_before_its_first_heartbeat_is_failed_and_retried(tmp_path):
    """A worker killed after taking a trial and before its heartbeat first wrote: Optuna never fails
    such a trial (it only fails old heartbeats), and every worker and rerun waited for it for ever;
    watch_running gives it a beat, so it is failed one grace period later and retried."""
    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'study.db'}", heartbeat=1),
                                study_name="s")  # stale after 3 s without a beat
    dead = study.ask()  # RUNNING, and no heartbeat thread: as if its worker died at once
    dead.suggest_float("x", 0.0, 1.0)
    time.sleep(3.5)
    optuna.storages.fail_stale_trials(study)
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]  # Optuna alone: RUNNING for ever
    seen: set[int] = set()
    watch_running(study, seen)
    assert seen == {dead._trial_id} and [t.state for t in study.get_trials()] == [TrialState.RUNNING]
    time.sleep(5)  # SQLite keeps whole seconds: more than 3 s apart needs more than 4 s
    watch_running(study, seen)
    failed, retry = study.get_trials()
    assert (failed.state, retry.state) == (TrialState.FAIL, TrialState.WAITING)
    assert retry.params == failed.params and retry.system_attrs["failed_trial"] == 0
