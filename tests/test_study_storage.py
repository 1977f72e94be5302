"""The sweep's SQLite storage under concurrent local workers: every enqueued trial is popped once."""

import threading

import optuna

from locomt.search.study import open_storage


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
