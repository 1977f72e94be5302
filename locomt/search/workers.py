"""Sweep workers: run trials until the study is done, in this process or in N spawned ones that
share the study (each with cores/N threads and, when there are GPUs, one device each; by default
one worker of one thread per CPU core, or one per visible GPU: :func:`worker_plan`); one console
line and a rewritten report after every trial (its plots at most every ``PLOT_EVERY_S`` seconds:
drawing them takes a second or two, longer than a trial of a tiny test sweep), and a progress bar
read from the storage.

A worker with nothing left to start waits while others' trials run, so that a dead worker's stale
trial (no heartbeat for 3 beats) is failed and retried by a live one. When the search is done and
the context asks for it (``Context.confirm``, set by ``locomt.sweep``), the workers confirm the
front: every configuration on the validation front of seed means, and every baseline, is trained
on ``confirm_seeds`` seeds in all (``locomt.search.confirm``), until the front of means holds only
confirmed configurations.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
import signal
import sys
import time
import warnings

import numpy as np
import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from locomt.io import Interrupted
from locomt.procs import cpu_cores, die_with_parent
from locomt.runs import quiet_lightning
from locomt.search.confirm import enqueue_confirmations, waiting_confirmations
from locomt.search.ehvi import EHVISampler, PatternSpace
from locomt.search.fidelity import RungTPESampler
from locomt.search.objective import Context, Objective, enqueue_promotion
from locomt.search.report import write_report
from locomt.search.study import FINISHED, SweepError, epochs_spent, new_configuration, open_storage, watch_running

console = Console(stderr=True, soft_wrap=True)  # one line per trial, also in logs


def worker_plan(requested: int | None, accelerator: str) -> tuple[int, int]:
    """(local worker processes, torch threads per worker; 0 leaves torch's default). On CPU one worker
    per core, each with one thread, unless ``requested`` says how many (at most the cores; then
    cores // n threads each); with a GPU accelerator one worker per visible CUDA device (at most
    those). SweepError naming the value for a count this machine cannot run."""
    import torch

    if requested is not None and requested < 1:  # the command lines check this first; a caller may not
        raise SweepError(f"--n-workers {requested}: expected 1 or more")
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if gpu:
        devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if requested is not None and requested > devices:
            raise SweepError(f"--n-workers {requested}: a sweep on {accelerator!r} runs one worker per CUDA device and "
                             f"{devices} {'is' if devices == 1 else 'are'} visible; expected at most {devices}")
        return (requested or max(1, devices)), 0
    cores = cpu_cores()
    if requested is None:
        return cores, 1
    if requested > cores:
        raise SweepError(f"--n-workers {requested}: this machine gives the sweep {cores} CPU "
                         f"core{'s' if cores != 1 else ''}; expected at most {cores} (one worker per core)")
    return requested, max(1, cores // requested)
PLOT_EVERY_S = 30.0  # the report's plots are redrawn after a trial when they are this old (and at the end)


def worker_seed(seed: int, worker: int, n_before: int) -> int:
    """The sampler seed of local worker ``worker`` joining a study that held ``n_before`` trials: the
    search seed itself for the first worker of a new study (one worker is deterministic), else a
    number hashed from all three (``numpy.random.SeedSequence``), so that workers and resumes propose
    apart, and so do the studies of neighbouring search seeds. (It was ``seed + 1000 * worker +
    n_before``: the second worker of seed 100, joining after one trial, drew what the second worker of
    seed 101 drew, joining before any; two-worker benchmark studies of seeds 100 and 101 shared three
    proposals.)"""
    if worker == 0 and n_before == 0:
        return seed
    return int(np.random.SeedSequence([seed, worker, n_before]).generate_state(1)[0])


def make_sampler(ctx: Context, seed: int) -> optuna.samplers.BaseSampler:
    """The space's sampler; TPE under successive halving learns from every rung (``RungTPESampler``),
    and so does ``ehvi`` (``EHVISampler``: the GFLOPs of the sweep's model from the cost model)."""
    space, metric = ctx.space, ctx.metric
    if space.sampler == "ehvi":
        patterns = PatternSpace(ctx.base, space.space, ctx.n_classes, ctx.vocab_size)
        return EHVISampler(patterns, metric, seed=seed, n_startup_trials=space.startup_trials,
                           budget_gflops=space.budget_gflops, startup=space.startup, pending=space.pending)
    if space.sampler == "tpe" and space.strategy == "asha":
        return RungTPESampler(metric, seed=seed, n_startup_trials=5)
    if space.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    if space.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def study_done(study: optuna.Study, n_trials: int, budget_epochs: int | None = None) -> tuple[bool, bool]:
    """(nothing left to start, nothing running): the study needs no new trial once ``n_trials``
    distinct configurations have finished (trained, stopped at a rung, rejected or diverged) or are
    running, or once its finished trials have trained ``budget_epochs`` epochs in all, and none
    waits. A trial that repeats a configuration of the study costs nothing and does not count; as
    many repeats as ``n_trials`` end the study too (the sampler has run out of new configurations).
    A promotion (a trial that resumes a paused configuration) is no new configuration."""
    trials = study.get_trials(deepcopy=False)
    waiting = sum(t.state == TrialState.WAITING and "confirms" not in t.user_attrs for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    repeats = sum(t.state in FINISHED and "duplicate_of" in t.user_attrs and "promoted_from" not in t.user_attrs
                  and "confirms" not in t.user_attrs for t in trials)
    started = sum(t.state in (*FINISHED, TrialState.RUNNING) and new_configuration(t) for t in trials)
    over = budget_epochs is not None and epochs_spent(trials) >= budget_epochs
    return waiting == 0 and (started >= n_trials or repeats >= n_trials) or over, running == 0


def run_worker(ctx: Context, worker: int = 0, on_trial=None) -> None:
    """One worker: run trials until the study is done (in this or a child process)."""
    import torch

    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    quiet_libraries()
    storage = open_storage(ctx.storage, ctx.heartbeat)
    n_before = len(optuna.load_study(study_name=ctx.study_name, storage=storage).get_trials(deepcopy=False))
    study = optuna.load_study(study_name=ctx.study_name, storage=storage,
                              sampler=make_sampler(ctx, worker_seed(ctx.space.seed, worker, n_before)))
    objective = Objective(ctx)
    report = ReportCallback(ctx, on_trial)
    promotes = ctx.space.strategy == "asha" and ctx.space.asha_type == "promotion"
    watched: set[int] = set()
    try:
        _trials(study, ctx, objective, report, promotes, watched)
    finally:
        gc.unfreeze()  # what the worker froze may be collected again (an in-process worker's caller)


def _one_trial(study: optuna.Study, objective: Objective, report: ReportCallback) -> None:
    """One trial, then a full garbage collection (what Optuna's ``gc_after_trial`` does: a finished
    Lightning run leaves reference cycles that hold its model and loaders). After the first trial the
    surviving heap (torch, Lightning, the data: ~600,000 objects) is frozen out of the collector's
    reach, so each later collection scans only what the trials made since: a full collection of the
    whole heap took 0.2-0.5 s, 17 % of a test file of small sweeps (``tests/test_strategies.py``)."""
    study.optimize(objective, n_trials=1, callbacks=[report])
    gc.collect()
    if gc.get_freeze_count() == 0:
        gc.freeze()


def _trials(study: optuna.Study, ctx: Context, objective: Objective, report: ReportCallback, promotes: bool,
            watched: set[int]) -> None:
    while True:
        watch_running(study, watched)  # others' trials: a dead one is failed and retried
        if promotes:
            enqueue_promotion(study, ctx.metric, ctx.space, ctx.base.trainer.max_epochs)  # before a new configuration
        no_new, none_running = study_done(study, ctx.n_trials, ctx.space.budget_epochs)
        if no_new and ctx.confirm and waiting_confirmations(study):
            _one_trial(study, objective, report)
            continue
        if no_new and none_running:
            # the search is done: confirm its front (a no-op without confirm seeds or once confirmed)
            if ctx.confirm and enqueue_confirmations(study, ctx.metric, ctx.space.confirm_seeds, ctx.base.seed):
                continue
            return
        if no_new:  # others' trials are running: confirm the baselines meanwhile, or wait (a dead
            # worker's trial gets retried)
            if ctx.confirm and enqueue_confirmations(study, ctx.metric, ctx.space.confirm_seeds, ctx.base.seed,
                                                     baselines_only=True):
                continue
            time.sleep(min(ctx.heartbeat, 2.0))
            continue
        _one_trial(study, objective, report)


class ReportCallback:
    """After every trial: one line on the console and the result files rewritten, the plots when
    they were last drawn ``PLOT_EVERY_S`` or more seconds ago (the sweep draws them at its end)."""

    def __init__(self, ctx: Context, on_trial=None) -> None:
        self.ctx, self.on_trial = ctx, on_trial
        self.plotted = -float("inf")

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        console.print(trial_line(trial, self.ctx.metric), markup=False, highlight=False)
        plots = time.monotonic() - self.plotted >= PLOT_EVERY_S
        write_report(study, self.ctx.out, plots=plots)
        if plots:
            self.plotted = time.monotonic()
        if self.on_trial:
            self.on_trial()


def trial_line(t: optuna.trial.FrozenTrial, metric: str) -> str:
    a = t.user_attrs
    what = a.get("pattern") or a.get("backbone", "?")
    label = f" ({a['label']})" if a.get("label") and a.get("label") != what else ""
    label += f" [resumes trial {a['promoted_from']}]" if "promoted_from" in a else ""
    label += f" [confirms trial {a['confirms']}: seed {a['seed']}]" if "confirms" in a else ""
    head = f"trial {t.number:3d} {a.get('backbone', '?'):10s} {what}{label}"
    if t.state == TrialState.COMPLETE:
        test = {k: v for k, v in a.items() if k in ("test/acc", "test/mAP")}
        worst = [f"worst missing {t.values[2]:.3f}"] if len(t.values) > 2 else []
        tail = "  ".join([f"{metric} {t.values[0]:.3f}", *worst, *(f"{k} {v:.3f}" for k, v in test.items()),
                          f"{t.values[1]:.4f} GFLOPs", f"{a.get('seconds', 0):.0f} s"])
        return f"{head}  {tail}" + (f"  [{a['note']}]" if "note" in a else "")
    return f"{head}  {t.state.name.lower()}" + (f": {a['note']}" if "note" in a else "")


def quiet_libraries() -> None:
    """Keep the console to one line per trial: Lightning's and Optuna's per-run messages off."""
    quiet_lightning()
    # ERROR: Optuna's "Trial N failed" warning repeats a Ctrl-C with a traceback; a real failure
    # reaches the command's own error line instead
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _child(ctx: Context, worker: int, parent: int) -> None:
    die_with_parent(parent)  # a killed sweep leaves no worker training on
    # a sweep started with SIGINT ignored (nohup, a script's background job) passes that on to its
    # workers: the SIGINT by which the parent turns its SIGTERM into an orderly stop must interrupt
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.environ.get("CUDA_VISIBLE_DEVICES_LIST"):
        gpus = os.environ["CUDA_VISIBLE_DEVICES_LIST"].split(",")
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[worker % len(gpus)]
    try:
        run_worker(ctx, worker)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as err:  # one line, as the CLI does
        console.print(f"error: worker {worker}: {err}", markup=False, highlight=False)
        sys.exit(2)


def run_workers(ctx: Context, n_workers: int, study: optuna.Study) -> None:
    """``n_workers`` processes share the study; this process shows the progress (from the storage)."""
    import torch

    if n_workers == 1:
        with SweepProgress(study, ctx.n_trials, ctx.space.budget_epochs) as refresh:
            run_worker(ctx, 0, on_trial=refresh)
        return
    if torch.cuda.is_available():
        os.environ["CUDA_VISIBLE_DEVICES_LIST"] = ",".join(str(i) for i in range(torch.cuda.device_count()))
    ctx = dataclasses.replace(ctx, threads=ctx.threads or max(1, cpu_cores() // n_workers))
    mp = multiprocessing.get_context("spawn")
    procs = [mp.Process(target=_child, args=(ctx, w, os.getpid()), name=f"locomt-sweep-{w}") for w in range(n_workers)]
    try:
        for p in procs:
            p.start()
        with SweepProgress(study, ctx.n_trials, ctx.space.budget_epochs) as refresh:
            while any(p.is_alive() for p in procs):
                time.sleep(1.0)
                refresh()
    except BaseException as err:
        # Ctrl-C in a terminal reaches the whole process group; a SIGTERM (Interrupted), an error here
        # or a SIGINT sent to this process alone (kill -INT) reaches this process only
        stop_workers(procs, maybe_reached=isinstance(err, KeyboardInterrupt) and not isinstance(err, Interrupted))
        raise
    failed = [(p.name, p.exitcode) for p in procs if p.exitcode]
    if failed:
        raise SweepError(f"worker {failed[0][0]} exited with code {failed[0][1]}; finished trials are kept in the "
                         "study: run the same command again to go on")


GRACE_S = 5.0  # how long workers get to end by a Ctrl-C that may have reached them too, before being told


def stop_workers(procs: list, maybe_reached: bool) -> None:
    """Stop the workers of an interrupted sweep, each handing its trial back to the study as on Ctrl-C
    (SIGINT: the trial failed, a retry waiting), and leave none behind. A SIGINT may have reached
    them too (``maybe_reached``: Ctrl-C in a terminal): those still there after ``GRACE_S`` are told
    then (a ``kill -INT`` of this process alone once left them training to the study's end while this
    process waited, and a SIGTERM during that wait left it waiting on them for good). Whatever comes
    while waiting (a second Ctrl-C, a SIGTERM) ends the wait: a worker still alive is killed, its trial
    retried once its heartbeat goes stale."""
    started = [p for p in procs if p.pid is not None]
    try:
        if maybe_reached:
            _join(started, GRACE_S)
        for p in started:
            if p.is_alive():
                os.kill(p.pid, signal.SIGINT)
        _join(started, 60.0)
    finally:
        for p in started:
            if p.is_alive():
                p.kill()


def _join(procs: list, timeout: float) -> None:
    """Wait for ``procs`` to end, ``timeout`` seconds for all of them together."""
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))


class SweepProgress:
    """A rich progress bar over finished trials, read from the storage (so it counts every worker);
    over the epochs trained when the study has an epoch budget."""

    def __init__(self, study: optuna.Study, n_trials: int, budget_epochs: int | None = None) -> None:
        self.study, self.n_trials, self.budget = study, n_trials, budget_epochs
        self.bar = Progress(TextColumn("[bold]sweep {task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                            disable=not console.is_terminal)

    def refresh(self) -> None:
        trials = self.study.get_trials(deepcopy=False)
        done = sum(t.state in FINISHED and new_configuration(t) for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        total = max(self.n_trials, done + running + sum(t.state == TrialState.WAITING for t in trials))
        if self.budget is not None:  # the bar counts epochs; the trials go in the text
            spent = epochs_spent(trials)
            self.bar.update(self.task, completed=min(spent, self.budget), total=self.budget,
                            info=f"epochs, {done} configurations, {running} running")
            return
        self.bar.update(self.task, completed=done, total=total, info=f"{running} running")

    def __enter__(self):
        self.bar.__enter__()
        self.task = self.bar.add_task(self.study.study_name, total=self.budget or self.n_trials, info="")
        self.refresh()
        return self.refresh

    def __exit__(self, *exc) -> None:
        try:
            self.refresh()
        finally:
            self.bar.__exit__(*exc)
