"""Studies: where a sweep's Optuna study lives, how it is opened, created and found again, and the
record of one trial that the sweep writes and the report reads.

A sweep is one multi-objective study (maximise the validation metric, minimise GFLOPs per example).
Storage is any Optuna RDB URL: SQLite ``results/<dataset>/study.db`` by default, PostgreSQL for
many machines. A results folder's ``sweep.json`` names its study and storage (null storage: the
``study.db`` beside it, wherever the folder moves).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import TrialState

from locomt.io import atomic_write_text
from locomt.search.missing import worst_name

STUDY_FILE = "study.db"
POINTER_FILE = "sweep.json"  # where the study lives, for locomt.report
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
DIRECTIONS = ("maximize", "minimize")  # validation metric, GFLOPs
GFLOPS = "gflops"  # the second objective's metric name (the first is the dataset's, e.g. val/acc)


class SweepError(ValueError):
    """A sweep that cannot start or go on: bad space, unreachable storage, a failed worker."""


def open_storage(url: str, heartbeat: int | None) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage with heartbeats (stale trials are failed and retried twice at most);
    ``heartbeat`` None: none, for a reader (report, dashboard) that runs no trial."""
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    beats = {} if heartbeat is None else {
        "heartbeat_interval": heartbeat, "grace_period": 3 * heartbeat,
        "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)}
    for attempt in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **beats)
            if storage.engine.name == "sqlite":
                serialize_sqlite(storage.engine)
            return storage
        except Exception as err:
            # Workers starting together on an empty database race to create Optuna's tables; the
            # loser sees a duplicate key or an existing table, and succeeds once they exist.
            if attempt < 3 and any(s in str(err) for s in ("duplicate key", "already exists")):
                time.sleep(0.5 + attempt)
                continue
            _storage_error(url, err)
    raise AssertionError("unreachable")


def serialize_sqlite(engine) -> None:
    """Make each SQLite transaction take the write lock when it begins (``BEGIN IMMEDIATE``).

    Optuna pops a waiting (enqueued) trial by reading its state and then setting it RUNNING in one
    transaction, with ``SELECT ... FOR UPDATE``, which SQLite ignores; and Python's sqlite3 opens
    the transaction only at the UPDATE, so two local workers could both read WAITING and both run
    the trial (optuna/optuna#4621; here the loser failed with "Cannot tell a COMPLETE trial"). The
    driver is told not to open transactions itself and every transaction SQLAlchemy begins takes
    the lock at once (SQLAlchemy's recipe for pysqlite transactions); connections opened before
    (Optuna's table and version checks) are closed."""

    @sqlalchemy.event.listens_for(engine, "connect")
    def _driver_opens_no_transaction(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    engine.dispose()


def epochs_spent(trials: list[optuna.trial.FrozenTrial]) -> int:
    """The epochs the study's finished search trials were charged (``TrialRecord.epochs``; the
    confirmation of the front after the search is not part of its budget)."""
    return sum(t.user_attrs.get("epochs") or 0 for t in trials if t.state in FINISHED and "confirms" not in t.user_attrs)


def new_configuration(t: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial evaluates a configuration of its own: not a repeat of one the study has
    (``duplicate_of``), nor a promotion that resumes a paused one (``promoted_from``), nor another
    seed of a front configuration (``confirms``)."""
    return not {"duplicate_of", "promoted_from", "confirms"} & set(t.user_attrs)


def watch_running(study: optuna.Study, seen: set[int]) -> None:
    """Fail the stale trials, then give each RUNNING trial this process has not seen before one heartbeat.

    Optuna fails a running trial as stale only once its heartbeat has grown old; a trial that never
    beat is left RUNNING for ever (by design: optuna/optuna#4055). A worker killed after taking a
    trial and before its heartbeat thread first wrote (seconds, on a loaded machine) would leave
    every other worker, and every rerun of the sweep, waiting for that trial. One beat from here
    makes such a trial stale one grace period later, when it is failed and retried as any killed
    trial; a live trial beats on regardless, and a dead one that did beat is failed at most one
    grace period later than it would have been."""
    if study._storage.get_heartbeat_interval() is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # first: a trial that beat long ago fails now, not later
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t._trial_id not in seen:
            seen.add(t._trial_id)
            study._storage.record_heartbeat(t._trial_id)


def _storage_error(url: str, err: Exception) -> None:
    """Raise the one-line SweepError for a storage that cannot be opened."""
    if isinstance(err, ImportError):  # Optuna's wording hides the module: name it
        cause = err.__cause__ or err
        name = getattr(cause, "name", None) or str(cause)
        raise SweepError(f"storage {redact(url)!r} needs the database driver {name!r}, which is not installed; "
                         "pip install it (postgresql:// uses psycopg, a locomt dependency)") from None
    reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]  # sqlalchemy's OperationalError, ...
    raise SweepError(f"cannot open study storage {redact(url)!r}: {reason}") from None


def redact(url: str) -> str:
    """The storage URL without its password."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def create_or_load(storage: optuna.storages.BaseStorage, name: str, metric: str, worst_missing: bool = False
                   ) -> tuple[optuna.Study, bool]:
    """The study ``name`` and whether this call created it (with the two directions, or three with
    ``worst_missing``: the worst validation metric with one modality missing, maximised); an existing
    study is loaded and checked. Either way its objectives carry Optuna's metric names (``metric``,
    ``gflops``[, ``<metric>_worst_missing``]), which optuna-dashboard and Optuna's plots label their axes with."""
    wanted = [*DIRECTIONS, *(["maximize"] if worst_missing else [])]
    directions = [optuna.study.StudyDirection[d.upper()] for d in wanted]
    names = [metric, GFLOPS, *([worst_name(metric)] if worst_missing else [])]
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=wanted)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study, created = optuna.load_study(study_name=name, storage=storage), False
    if study.directions != directions:
        raise SweepError(f"study {name!r} exists with directions {[d.name for d in study.directions]}; expected "
                         f"{', '.join(d.name for d in directions)} ({', '.join(names)}): give another --study name")
    if study.user_attrs.get("metric", metric) != metric:
        raise SweepError(f"study {name!r} optimises {study.user_attrs['metric']!r}, this dataset's metric is "
                         f"{metric!r}: give another --study name")
    if study.metric_names != names:  # a study made before the names were set gets them now
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    return study, created


@dataclass
class TrialRecord:
    """One trial as ``trials.csv`` lists it. The sweep stores these fields as the trial's user
    attributes (``set_attrs``); the report reads them back (``from_trial``). Metrics (the validation
    metric and every ``test/*``) are added as columns under the names the task logs them with; under
    successive halving, the low-fidelity estimates too, one column per rung (``val/acc@1``: the
    validation metric after 1 epoch), apart from the full-fidelity ``val/acc``. ``fidelity`` is the
    epochs the configuration was trained to, ``epochs`` those its trial trained (what it is charged:
    0 for a repeat of a configuration the study had, or one rejected before training). Under
    promotion-based successive halving a configuration has a trial per rung it reached:
    ``promoted_from`` is the trial whose paused run this one resumed (its earlier rung values are
    repeated on it), and ``epochs`` counts only the epochs it added."""

    number: int
    state: str
    role: str = "search"  # baseline | preset | search
    label: str = ""
    backbone: str = ""
    pattern: str = ""
    params: int | None = None
    gmacs: float | None = None
    gflops: float | None = None
    latency_ms: float | None = None
    seconds: float | None = None
    fidelity: int | None = None
    epochs: int | None = None
    is_pareto: bool = False
    duplicate_of: int | None = None
    promoted_from: int | None = None
    confirms: int | None = None  # another seed of this trial's configuration (the front's confirmation)
    seed: int | None = None  # the trainer seed (config ``seed``; part of the run's config key)
    note: str | None = None
    key: str | None = None
    run: str | None = None

    HEAD = ("number", "state", "role", "label", "backbone", "pattern")  # columns before the metrics

    @classmethod
    def attrs(cls) -> tuple[str, ...]:
        """The user attributes a trial may carry (every field but number, state and is_pareto)."""
        return tuple(f.name for f in fields(cls) if f.name not in ("number", "state", "is_pareto"))

    @classmethod
    def columns(cls, metrics: list[str]) -> list[str]:
        names = [f.name for f in fields(cls)]
        return [*cls.HEAD, *metrics, *(n for n in names if n not in cls.HEAD)]

    @classmethod
    def from_trial(cls, t: optuna.trial.FrozenTrial, metric: str, front: set[int]) -> dict[str, Any]:
        """The trials.csv row of ``t``: its record fields and metrics (values from the objectives)."""
        a = t.user_attrs
        rec = cls(number=t.number, state=t.state.name, is_pareto=t.number in front,
                  **{k: a[k] for k in cls.attrs() if k in a and a[k] != ""})
        rec.role = rec.role or "search"
        if t.values:
            rec.gflops = t.values[1]
        metrics = {metric: t.values[0] if t.values else a.get(metric),
                   **{k: v for k, v in sorted(a.items()) if k.startswith(f"{metric}_")},  # worst_missing's
                   **{k: v for k, v in sorted(a.items(), key=lambda kv: rung_order(kv[0]))
                      if k.startswith(f"{metric}@")},
                   **{k: v for k, v in sorted(a.items()) if k.startswith("test/")}}
        return {**{f.name: getattr(rec, f.name) for f in fields(cls)}, **metrics}


def rung_order(name: str) -> tuple[str, int]:
    """Sort key of metric names that puts ``val/acc@3`` after ``val/acc@1`` (not after ``@10``)."""
    head, _, epochs = name.partition("@")
    return head, int(epochs) if epochs.isdigit() else 0


def set_attrs(trial: optuna.Trial, **values: Any) -> None:
    """Store record fields or metrics (``val/*``, ``test/*``) on a trial; an unknown name is a bug."""
    known = TrialRecord.attrs()
    for name, value in values.items():
        if name not in known and not name.startswith(("val/", "test/")):
            raise KeyError(f"{name!r} is not a TrialRecord field; expected one of {', '.join(known)}")
        trial.set_user_attr(name, value)


def write_pointer(out: Path, study_name: str, storage: str | None) -> Path:
    """``OUT/sweep.json``: the study's name and storage (None: the ``study.db`` in OUT)."""
    pointer = {"study": study_name, "storage": redact(storage) if storage else None}
    return atomic_write_text(out / POINTER_FILE, json.dumps(pointer, indent=2) + "\n")


def find_study(folder: Path, storage: str | None, study: str | None) -> tuple[optuna.storages.RDBStorage, str]:
    """The opened storage and the name of the study a results folder was written from (its
    ``sweep.json``, else the ``study.db`` in it), or of the one given; SweepError when there is none."""
    pointer = folder / POINTER_FILE
    info = {}
    if pointer.is_file():
        try:
            info = json.loads(pointer.read_text())
        except json.JSONDecodeError as err:
            raise SweepError(f"{pointer} is not valid JSON ({err.msg} at line {err.lineno}); give --storage "
                             "and --study") from None
    url = storage or info.get("storage") or (f"sqlite:///{folder / STUDY_FILE}" if (folder / STUDY_FILE).is_file()
                                             else None)
    if url is None:
        what = (f"{folder} has no {STUDY_FILE} (its {POINTER_FILE} names no other storage)" if pointer.is_file()
                else f"{folder} has no {POINTER_FILE} or {STUDY_FILE}")
        raise SweepError(f"{what}; expected a folder written by python -m locomt.sweep (run make sweep "
                         f"DATASET={folder.name} first), or give --storage URL")
    if "***" in url:
        raise SweepError(f"{pointer} names a storage with a hidden password ({url}); give it with --storage")
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise SweepError(f"study storage {url} does not exist; run the sweep first (make sweep)")
    name = study or info.get("study")
    storage_obj = open_storage(url, heartbeat=None)  # a reader: no trial to keep alive
    names = optuna.get_all_study_names(storage_obj)
    if name is None:
        if len(names) != 1:
            raise SweepError(f"{url} holds {len(names)} studies ({', '.join(names)}); give --study NAME")
        name = names[0]
    if name not in names:
        raise SweepError(f"no study {name!r} in {url}; studies there: {', '.join(names) or 'none'}")
    return storage_obj, name


def load_study_from(folder: Path, storage: str | None, study: str | None) -> optuna.Study:
    """The study a results folder was written from (its ``sweep.json``), or the one given (:func:`find_study`)."""
    storage_obj, name = find_study(folder, storage, study)
    return optuna.load_study(study_name=name, storage=storage_obj)
