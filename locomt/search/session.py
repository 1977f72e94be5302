"""Starting or resuming a sweep: the space and config are checked, the data prepared, the study
opened (or created, with the baselines and presets enqueued) and its results folder named.

Everything that can fail on bad input fails here, in that order, before anything is written: a bad
space, preset or param (or a param value the config refuses); a trainer section this machine cannot
run; missing data or an empty split; an unreachable storage.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import optuna

from locomt.config import ExperimentConfig, experiment_path, model_config, with_model
from locomt.cost import analytic_cost
from locomt.data.datamodule import MultimodalDataModule, build_datamodule
from locomt.experiment import load_experiment
from locomt.models import reference_backbone
from locomt.runs import check_memory, check_splits, check_trainer, resolve_precision
from locomt.search.front import chance_level
from locomt.search.objective import Context
from locomt.search.space import check_params, default_trials, enqueue_defaults, load_space, space_path
from locomt.search.workers import worker_plan
from locomt.search.study import FINISHED, STUDY_FILE, SweepError, create_or_load, open_storage, write_pointer
from locomt.task import monitor_metric


@dataclass
class Sweep:
    """An open sweep: what its workers need, its study and where its results go."""

    ctx: Context
    study: optuna.Study
    storage: optuna.storages.RDBStorage
    out: Path
    n_enqueued: int
    n_workers: int = 1  # local worker processes (workers.worker_plan: --n-workers, the space's, or one per core/GPU)
    threads: int = 0  # torch threads per worker (0: torch's default)


def open_sweep(dataset: str, command: str, config: str | None = None, space: str | None = None,
               overrides: list[str] = (), n_trials: int | None = None, storage: str | None = None,
               study: str | None = None, out: str | None = None, heartbeat: int = 20,
               progress: bool = True, space_changes: dict | None = None, n_workers: int | None = None) -> Sweep:
    """Open (create or resume) the sweep of ``dataset`` (``experiments/DATASET.yaml`` and
    ``sweeps/DATASET.yaml`` unless ``config``/``space`` name others). ``command`` is recorded in the
    study for the report; ``space_changes`` replace fields of the space file (``--strategy``, and what
    ``locomt.searchbench`` varies). ``n_workers`` (else the space's ``n_workers``, else one per CPU core
    or per GPU) is checked against the machine and planned into ``Sweep.n_workers`` and ``threads``."""
    space_file = Path(space) if space else space_path(dataset)
    sp = load_space(space_file)
    if space_changes:
        try:
            sp = dataclasses.replace(sp, **space_changes)
        except ValueError as err:
            raise SweepError(str(err)) from None
        if "asha_type" in space_changes and sp.strategy != "asha":
            raise SweepError(f"asha_type {sp.asha_type!r} applies to the asha strategy, and this sweep's strategy is "
                             f"{sp.strategy!r}; add --strategy asha")
    cfg = load_experiment(config or experiment_path(dataset), [*sp.overrides, *overrides])
    n_trials = sp.n_trials if n_trials is None else n_trials
    if n_trials < 1:
        raise SweepError(f"--n-trials {n_trials}: expected 1 or more")
    default_trials(cfg, sp)  # a bad preset or param fails here, before any data or study
    check_params(cfg, sp)  # and so does a param value outside what the config accepts
    check_trainer(cfg.trainer, resolve_precision(cfg.trainer.precision, cfg.trainer.accelerator))
    check_memory(cfg)
    workers, threads = worker_plan(n_workers if n_workers is not None else sp.n_workers, cfg.trainer.accelerator)
    if sp.strategy == "asha" and "csv" not in cfg.trainer.loggers:
        raise SweepError(f"trainer.loggers={list(cfg.trainer.loggers)}: the asha strategy reads each epoch's "
                         "validation metric from a run's metrics.csv; expected csv among them")

    # the data first: a missing data root stops here, before a study or a results folder exists
    dm = build_datamodule(cfg, progress=progress)
    dm.prepare_data()
    metric = monitor_metric(dm.task)
    check_splits(dm.cache, dm.meta["counts"], min_items=1)  # an empty split would fail every trial

    out_dir = Path(out or Path("results") / dataset)
    storage_url = storage or f"sqlite:///{out_dir / STUDY_FILE}"
    study_name = study or space_file.stem
    if not storage:
        out_dir.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
    rdb = open_storage(storage_url, heartbeat)  # an unreachable server stops here, before any output
    out_dir.mkdir(parents=True, exist_ok=True)
    st, created = create_or_load(rdb, study_name, metric, worst_missing="worst_missing" in sp.objectives)
    if created:
        for k, v in {"dataset": dataset, "metric": metric, "task": dm.task,
                     "config": config or f"experiments/{dataset}.yaml", "space": str(space_file),
                     "space_kind": sp.space}.items():
            st.set_user_attr(k, v)
    for k, v in reference_attrs(cfg, dm).items():  # the hypervolume's reference point (also for older studies)
        if k not in st.user_attrs:
            st.set_user_attr(k, v)
    st.set_user_attr("command", command)
    write_pointer(out_dir, study_name, storage)
    # The creator enqueues the baselines and presets. A process that loads a study with finished
    # trials enqueues those it lacks (a changed space); one that loses the creation race does not,
    # so two workers started together do not enqueue everything twice.
    started = any(t.state in FINISHED for t in st.get_trials(deepcopy=False))
    n_new = enqueue_defaults(st, cfg, sp) if created or started else 0
    ctx = Context(base=cfg, space=sp, storage=storage_url, study_name=study_name, n_trials=n_trials,
                  out=str(out_dir), heartbeat=heartbeat, metric=metric, n_classes=dm.n_classes,
                  vocab_size=dm.vocab_size)
    return Sweep(ctx, st, rdb, out_dir, n_new, workers, threads)


def reference_attrs(cfg: ExperimentConfig, dm: MultimodalDataModule) -> dict[str, float]:
    """The reference point of the front's hypervolume: the metric's chance level on the validation
    split and joint fusion's GFLOPs at the base config's shapes."""
    mcfg = model_config(with_model(cfg, reference_backbone()), n_classes=dm.n_classes, vocab_size=dm.vocab_size)
    return {"chance": chance_level(dm.task, dm.cache.open_array("val", "labels")),
            "reference_gflops": analytic_cost(mcfg).gflops}
