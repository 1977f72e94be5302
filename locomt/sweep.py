"""``python -m locomt.sweep``: search per-head view patterns with Optuna, write Pareto tables and plots.

    python -m locomt.sweep --dataset synthetic-medvidcl          # what `make sweep` runs
    python -m locomt.sweep --dataset medvidcl --n-workers 2      # two local worker processes
    python -m locomt.sweep --dataset medvidcl --storage postgresql://user:pw@db-host/locomt   # many machines

A sweep is one multi-objective Optuna study: maximise the validation metric (``val/acc``, or
``val/mAP`` for AudioSet), minimise GFLOPs per example from the analytic cost model (known before
training). Test metrics are recorded for every trial but never optimised. The experiment config is
``experiments/<dataset>.yaml``; the search space ``sweeps/<dataset>.yaml`` (``--space`` for another):

    space: counts            # counts: heads per view in each fusion layer (the default)
                             # heads: a view per head; shared: one layer spec for every fusion layer
    n_trials: 14             # distinct configurations, enqueued baselines and presets included
    sampler: tpe             # tpe | nsga2 | random
    seed: 0
    budget_gflops: null      # configurations above it are rejected (pruned) before training
    baselines: [early, joint, late, bottleneck]
    presets: [all-self, half, all-cross, alternate, bottom-self]
    overrides: [trainer.max_epochs=6]          # applied to every trial's config
    params:                                    # optional extra dimensions, dotted config keys
      model.fusion_layer: {choices: [1, 2]}
      optim.lr: {low: 1.0e-4, high: 3.0e-3, log: true}

Storage defaults to ``sqlite:///results/<dataset>/study.db``; ``--storage URL`` takes any Optuna
storage (PostgreSQL for many machines). Running the same command again resumes the study: it
runs until ``n_trials`` distinct configurations have finished (a trial that repeats a trained
configuration reuses its result and does not count). A worker killed mid-trial leaves its trial
``RUNNING`` until its heartbeat is older than the grace period; then the next worker marks it
failed and retries it, and the retry resumes training from the run's last checkpoint. A trial
stopped by Ctrl-C is marked failed and retried when the sweep is run again. Every configuration
is trained once: runs live in ``<trainer.out_dir>/configs/<config key>/`` and a trial whose
configuration (canonical pattern and settings) was already trained reuses that result.

Results (``trials.csv``, ``pareto.csv``, ``pareto.png``, ``summary.md``) go to ``results/<dataset>/``
after every trial; ``python -m locomt.report results/<dataset>`` regenerates them from the study.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import shlex
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from locomt.config import (ConfigError, ExperimentConfig, experiment_path, get_value, load_config, model_config,
                           with_model, with_values)
from locomt.io import atomic_write_text, run_cli
from locomt.models import BASELINES
from locomt.pattern import NAMED_PRESETS, layer_specs, resolve_pattern, view_names

SPACES = ("counts", "heads", "shared")
SAMPLERS = ("tpe", "nsga2", "random")
STUDY_FILE = "study.db"
POINTER_FILE = "sweep.json"  # where the study lives, for locomt.report
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
console = Console(stderr=True, soft_wrap=True)  # one line per trial, also in logs


class SweepError(ValueError):
    """A sweep that cannot start or go on: bad space, unreachable storage, a failed worker."""


@dataclass(frozen=True)
class SweepSpace:
    """A search space file (``sweeps/*.yaml``); see the module docstring."""

    space: str = "counts"
    n_trials: int = 14
    sampler: str = "tpe"
    seed: int = 0
    budget_gflops: float | None = None
    baselines: tuple[str, ...] = BASELINES
    presets: tuple[str, ...] = NAMED_PRESETS
    overrides: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise ValueError(f"space {self.space!r} is unknown; expected one of {', '.join(SPACES)}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler {self.sampler!r} is unknown; expected one of {', '.join(SAMPLERS)}")
        if self.n_trials < 1:
            raise ValueError(f"n_trials must be >= 1, got {self.n_trials}")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ValueError(f"baselines: {bad[0]!r} is not a baseline; expected some of {', '.join(BASELINES)}")
        for key, dist in self.params.items():
            _distribution(key, dist)  # validates


def load_space(path: str | Path) -> SweepSpace:
    return load_config(path, schema=SweepSpace)


def space_path(dataset: str) -> Path:
    """``sweeps/<dataset>.yaml`` next to the experiment config of that name."""
    path = experiment_path(dataset).parent.parent / "sweeps" / f"{dataset}.yaml"
    if not path.is_file():
        raise ConfigError(f"no search space {str(path)!r} for dataset {dataset!r}; give one with --space")
    return path


# ------------------------------------------------------------------ trial -> config
def _distribution(key: str, dist: Any) -> optuna.distributions.BaseDistribution:
    """``{choices: [...]}`` -> categorical; ``{low, high[, log][, step]}`` -> int or float range."""
    if not isinstance(dist, dict):
        raise ConfigError(f"params.{key}: expected {{choices: [...]}} or {{low: .., high: ..}}, got {dist!r}")
    if set(dist) == {"choices"} and isinstance(dist["choices"], list) and dist["choices"]:
        return optuna.distributions.CategoricalDistribution(dist["choices"])
    if {"low", "high"} <= set(dist) <= {"low", "high", "log", "step"}:
        low, high = dist["low"], dist["high"]
        # integers: int bounds without log, or an int step; anything else is a float range
        step, log = dist.get("step"), bool(dist.get("log"))
        ints = (isinstance(low, int) and isinstance(high, int) and not log) or isinstance(step, int)
        try:
            if ints:
                return optuna.distributions.IntDistribution(int(low), int(high), log=log, step=int(step or 1))
            return optuna.distributions.FloatDistribution(float(low), float(high), log=log, step=step)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"params.{key}: {err}") from None
    raise ConfigError(f"params.{key}: expected {{choices: [...]}} or {{low: .., high: ..[, log: true][, step: ..]}}, "
                      f"got {dist!r}")


def pattern_params(pattern: str, space: str, cfg: ExperimentConfig) -> dict[str, Any] | None:
    """The trial parameters that express ``pattern`` in a search space, or None when the space
    cannot (a per-layer pattern in the ``shared`` space)."""
    mcfg = model_config(cfg, n_classes=1)
    p = resolve_pattern(pattern, mcfg.codes, mcfg.n_heads, mcfg.n_fusion_layers)
    specs = str(p).split("/") if "/" in str(p) else [str(p)] * mcfg.n_fusion_layers
    if space == "shared":
        return {"pattern": specs[0]} if len(set(specs)) == 1 else None
    if space == "counts":
        return {f"layer{i}": s for i, s in enumerate(specs)}
    return {f"layer{i}.head{h}": v for i in range(len(p.layers)) for h, v in enumerate(p.head_views(i))}


def suggest_pattern(trial: optuna.Trial, space: str, cfg: ExperimentConfig) -> str:
    """Ask the sampler for a view pattern of the model ``cfg`` describes (canonical form)."""
    mcfg = model_config(cfg, n_classes=1)
    codes, n_heads, n_layers = mcfg.codes, mcfg.n_heads, mcfg.n_fusion_layers
    if n_layers == 0:
        return f"{n_heads}s"
    if space == "shared":
        spec = trial.suggest_categorical("pattern", layer_specs(codes, n_heads))
    elif space == "counts":
        specs = layer_specs(codes, n_heads)
        spec = "/".join(trial.suggest_categorical(f"layer{i}", specs) for i in range(n_layers))
    else:
        views = view_names(codes)
        layers = []
        for i in range(n_layers):
            heads = [trial.suggest_categorical(f"layer{i}.head{h}", views) for h in range(n_heads)]
            layers.append("+".join(f"{heads.count(v)}{v}" for v in views if heads.count(v)))
        spec = "/".join(layers)
    return str(resolve_pattern(spec, codes, n_heads, n_layers))


def trial_config(trial: optuna.Trial, base: ExperimentConfig, space: SweepSpace) -> ExperimentConfig:
    """The experiment config of a trial: the extra params, then the backbone and view pattern
    (fixed for enqueued baselines and presets through the trial's user attributes)."""
    values = {key: _suggest(trial, key, _distribution(key, dist)) for key, dist in space.params.items()}
    cfg = with_values(base, values)
    backbone = trial.user_attrs.get("backbone", "locomt")
    if backbone != "locomt":
        pattern = cfg.model.pattern
    elif "pattern" in trial.user_attrs:
        pattern = trial.user_attrs["pattern"]
    else:
        pattern = suggest_pattern(trial, space.space, cfg)
    return with_model(cfg, backbone, pattern)


def _suggest(trial: optuna.Trial, key: str, dist: optuna.distributions.BaseDistribution) -> Any:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(key, dist.choices)
    if isinstance(dist, optuna.distributions.IntDistribution):
        return trial.suggest_int(key, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(key, dist.low, dist.high, step=dist.step, log=dist.log)


def _contains(dist: optuna.distributions.BaseDistribution, value: Any) -> bool:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return value in dist.choices
    return isinstance(value, (int, float)) and dist.low <= value <= dist.high


# ------------------------------------------------------------------ enqueued trials
def default_trials(base: ExperimentConfig, space: SweepSpace) -> list[tuple[dict, dict]]:
    """(params, user_attrs) of the baselines and presets every study holds. Extra params are fixed
    at the base config's values where the space contains them."""
    fixed = {}
    for key, dist in space.params.items():
        value = get_value(base, key)
        if _contains(_distribution(key, dist), value):
            fixed[key] = value
    trials = [(dict(fixed), {"backbone": b, "label": b, "role": "baseline"}) for b in space.baselines]
    for preset in space.presets:
        params = pattern_params(preset, space.space, base)
        attrs = {"label": preset, "role": "preset"}
        if params is None:
            attrs["pattern"] = preset
        trials.append(({**fixed, **(params or {})}, attrs))
    return trials


def enqueue_defaults(study: optuna.Study, base: ExperimentConfig, space: SweepSpace) -> int:
    """Enqueue the baselines and presets that the study holds no trial of; returns how many."""
    labels = {t.user_attrs.get("label") for t in study.get_trials(deepcopy=False)}
    todo = [(params, attrs) for params, attrs in default_trials(base, space) if attrs["label"] not in labels]
    for params, attrs in todo:
        study.enqueue_trial(params, user_attrs=attrs)
    return len(todo)


def requeue(trial: optuna.Trial) -> None:
    """Enqueue a retry of a trial stopped by Ctrl-C (by the process that ran it, so exactly once)."""
    attrs = {k: v for k, v in trial.user_attrs.items() if k in ("backbone", "label", "role", "pattern")}
    trial.study.add_trial(optuna.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs={**attrs, "retry_of": trial.number}, system_attrs={"fixed_params": trial.params}))


# ------------------------------------------------------------------ the objective
@dataclass
class Context:
    """Everything a worker process needs (picklable)."""

    base: ExperimentConfig
    space: SweepSpace
    storage: str
    study_name: str
    n_trials: int
    out: str
    heartbeat: int
    metric: str
    n_classes: int = 1
    vocab_size: int | None = None
    threads: int = 0


class Objective:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        from locomt.bench import forward_latency_ms
        from locomt.cost import analytic_cost
        from locomt.task import NonFiniteLossError
        from locomt.train import canonical_config, config_key, train_cached

        ctx = self.ctx
        try:
            cfg = canonical_config(trial_config(trial, ctx.base, ctx.space))
            mcfg = model_config(cfg, n_classes=ctx.n_classes, vocab_size=ctx.vocab_size)
            cost = analytic_cost(mcfg)
            key = config_key(cfg)
            for name, value in {"backbone": cfg.model.backbone, "pattern": mcfg.pattern_spec, "key": key,
                                "gflops": cost.gflops, "gmacs": cost.gmacs}.items():
                trial.set_user_attr(name, value)
            budget = ctx.space.budget_gflops
            if budget is not None and cost.gflops > budget:
                trial.set_user_attr("note", f"rejected: {cost.gflops:.4g} GFLOPs > budget {budget:g}")
                raise optuna.TrialPruned(f"{cost.gflops:.4g} GFLOPs is over the budget of {budget:g}")
            same = self._same_config(trial, key)
            if same is not None:
                trial.set_user_attr("duplicate_of", same.number)
                if same.state == TrialState.RUNNING:
                    trial.set_user_attr("note", f"same configuration as running trial {same.number}")
                    raise optuna.TrialPruned(f"same configuration as running trial {same.number}")
                for name, value in same.user_attrs.items():
                    if name.startswith(("val/", "test/")) or name in ("params", "latency_ms", "run"):
                        trial.set_user_attr(name, value)
                trial.set_user_attr("note", f"same configuration as trial {same.number}: not trained again")
                return tuple(same.values)
            start = time.perf_counter()
            try:
                result, run_dir = train_cached(cfg, Path(cfg.trainer.out_dir) / "configs")
            except SystemExit:  # Lightning turns Ctrl-C into a checkpoint and sys.exit(1)
                raise KeyboardInterrupt from None
            except NonFiniteLossError as err:
                trial.set_user_attr("note", f"diverged: {err}")
                raise optuna.TrialPruned(f"diverged: {err}") from None
            val = result[f"best_{ctx.metric.replace('/', '_')}"]
            trial.set_user_attr(ctx.metric, val)
            for name, value in result["test"].items():
                trial.set_user_attr(name, value)
            trial.set_user_attr("params", result["params"])
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 2))
            trial.set_user_attr("run", str(run_dir))
            trial.set_user_attr("latency_ms", round(forward_latency_ms(mcfg, batch=1), 3))
            return val, cost.gflops
        except KeyboardInterrupt:
            trial.set_user_attr("note", "interrupted (Ctrl-C); retried when the sweep runs again")
            requeue(trial)
            raise

    def _same_config(self, trial: optuna.Trial, key: str) -> optuna.trial.FrozenTrial | None:
        """An earlier trial of the same configuration: finished (reuse it) or running (lower number wins)."""
        for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            if t.number == trial.number or t.user_attrs.get("key") != key or "duplicate_of" in t.user_attrs:
                continue
            if t.state == TrialState.COMPLETE or t.number < trial.number:
                return t
        return None


# ------------------------------------------------------------------ storage and workers
def open_storage(url: str, heartbeat: int) -> optuna.storages.RDBStorage:
    """An Optuna RDB storage with heartbeats (stale trials are failed and retried twice at most)."""
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(4):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2),
                )
        except Exception as err:
            # Workers starting together on an empty database race to create Optuna's tables; the
            # loser sees a duplicate key or an existing table, and succeeds once they exist.
            if attempt < 3 and any(s in str(err) for s in ("duplicate key", "already exists")):
                time.sleep(0.5 + attempt)
                continue
            _storage_error(url, err)
    raise AssertionError("unreachable")


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
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def make_sampler(space: SweepSpace, seed: int) -> optuna.samplers.BaseSampler:
    if space.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
    if space.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def study_done(study: optuna.Study, n_trials: int) -> tuple[bool, bool]:
    """(nothing left to start, nothing running): the study needs no new trial once ``n_trials``
    distinct configurations have finished (trained, rejected or diverged) or are running, and none
    waits. A trial that repeats a trained configuration costs nothing and does not count; as many
    repeats as ``n_trials`` end the study too (the sampler has run out of new configurations)."""
    trials = study.get_trials(deepcopy=False)
    waiting = sum(t.state == TrialState.WAITING for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    repeats = sum(t.state in FINISHED and "duplicate_of" in t.user_attrs for t in trials)
    started = sum(t.state in FINISHED for t in trials) - repeats + running
    return waiting == 0 and (started >= n_trials or repeats >= n_trials), running == 0


def run_worker(ctx: Context, worker: int = 0, on_trial=None) -> None:
    """One worker: run trials until the study is done (in this or a child process)."""
    import torch

    if ctx.threads:
        torch.set_num_threads(ctx.threads)
    quiet_libraries()
    storage = open_storage(ctx.storage, ctx.heartbeat)
    n_before = len(optuna.load_study(study_name=ctx.study_name, storage=storage).get_trials(deepcopy=False))
    # a seed per worker and per resume, so that workers do not propose the same configurations
    study = optuna.load_study(study_name=ctx.study_name, storage=storage,
                              sampler=make_sampler(ctx.space, ctx.space.seed + 1000 * worker + n_before))
    objective = Objective(ctx)
    report = ReportCallback(ctx, on_trial)
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        no_new, none_running = study_done(study, ctx.n_trials)
        if no_new and none_running:
            return
        if no_new:  # others' trials are running: wait, so that a dead worker's trial gets retried
            time.sleep(min(ctx.heartbeat, 2.0))
            continue
        study.optimize(objective, n_trials=1, callbacks=[report], gc_after_trial=True)


class ReportCallback:
    """After every trial: one line on the console and the result files rewritten."""

    def __init__(self, ctx: Context, on_trial=None) -> None:
        self.ctx, self.on_trial = ctx, on_trial

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        from locomt.report import write_report

        console.print(trial_line(trial, self.ctx.metric), markup=False, highlight=False)
        write_report(study, self.ctx.out)
        if self.on_trial:
            self.on_trial()


def trial_line(t: optuna.trial.FrozenTrial, metric: str) -> str:
    a = t.user_attrs
    what = a.get("pattern") or a.get("backbone", "?")
    label = f" ({a['label']})" if a.get("label") and a.get("label") != what else ""
    head = f"trial {t.number:3d} {a.get('backbone', '?'):10s} {what}{label}"
    if t.state == TrialState.COMPLETE:
        test = {k: v for k, v in a.items() if k in ("test/acc", "test/mAP")}
        tail = "  ".join([f"{metric} {t.values[0]:.3f}", *(f"{k} {v:.3f}" for k, v in test.items()),
                          f"{t.values[1]:.4f} GFLOPs", f"{a.get('seconds', 0):.0f} s"])
        return f"{head}  {tail}" + (f"  [{a['note']}]" if "note" in a else "")
    return f"{head}  {t.state.name.lower()}" + (f": {a['note']}" if "note" in a else "")


def quiet_libraries() -> None:
    """Keep the console to one line per trial: Lightning's and Optuna's per-run messages off."""
    from locomt.train import quiet_lightning

    quiet_lightning()
    # ERROR: Optuna's "Trial N failed" warning repeats a Ctrl-C with a traceback; a real failure
    # reaches the command's own error line instead
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _child(ctx: Context, worker: int) -> None:
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
        with SweepProgress(study, ctx.n_trials) as refresh:
            run_worker(ctx, 0, on_trial=refresh)
        return
    if torch.cuda.is_available():
        os.environ["CUDA_VISIBLE_DEVICES_LIST"] = ",".join(str(i) for i in range(torch.cuda.device_count()))
    ctx = dataclasses.replace(ctx, threads=ctx.threads or max(1, (os.cpu_count() or 1) // n_workers))
    mp = multiprocessing.get_context("spawn")
    procs = [mp.Process(target=_child, args=(ctx, w), name=f"locomt-sweep-{w}") for w in range(n_workers)]
    for p in procs:
        p.start()
    try:
        with SweepProgress(study, ctx.n_trials) as refresh:
            while any(p.is_alive() for p in procs):
                time.sleep(1.0)
                refresh()
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=60)
        raise
    failed = [(p.name, p.exitcode) for p in procs if p.exitcode]
    if failed:
        raise SweepError(f"worker {failed[0][0]} exited with code {failed[0][1]}; finished trials are kept in the "
                         "study: run the same command again to go on")


class SweepProgress:
    """A rich progress bar over finished trials, read from the storage (so it counts every worker)."""

    def __init__(self, study: optuna.Study, n_trials: int) -> None:
        self.study, self.n_trials = study, n_trials
        self.bar = Progress(TextColumn("[bold]sweep {task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console,
                            disable=not console.is_terminal)

    def refresh(self) -> None:
        trials = self.study.get_trials(deepcopy=False)
        done = sum(t.state in FINISHED and "duplicate_of" not in t.user_attrs for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        total = max(self.n_trials, done + running + sum(t.state == TrialState.WAITING for t in trials))
        self.bar.update(self.task, completed=done, total=total, info=f"{running} running")

    def __enter__(self):
        self.bar.__enter__()
        self.task = self.bar.add_task(self.study.study_name, total=self.n_trials, info="")
        self.refresh()
        return self.refresh

    def __exit__(self, *exc) -> None:
        try:
            self.refresh()
        finally:
            self.bar.__exit__(*exc)


# ------------------------------------------------------------------ the command
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.sweep", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="synthetic-medvidcl",
                   help="experiments/DATASET.yaml and sweeps/DATASET.yaml (default synthetic-medvidcl)")
    p.add_argument("--config", help="another experiment YAML instead of experiments/DATASET.yaml")
    p.add_argument("--space", help="another search space YAML instead of sweeps/DATASET.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted config override for every trial (repeatable), e.g. --set trainer.max_epochs=3")
    p.add_argument("--n-trials", type=int,
                   help="distinct configurations in the study (default: the space's n_trials)")
    p.add_argument("--n-workers", type=int, default=1, help="local worker processes sharing the study (default 1)")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///OUT/study.db)")
    p.add_argument("--study", help="study name (default: the space file's name)")
    p.add_argument("--out", help="results folder (default: results/DATASET)")
    p.add_argument("--heartbeat", type=int, default=20,
                   help="seconds between a running trial's heartbeats; it is stale after 3 missed (default 20)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.n_workers < 1:
        raise SweepError(f"--n-workers {args.n_workers}: expected 1 or more")
    if args.heartbeat < 1:
        raise SweepError(f"--heartbeat {args.heartbeat}: expected a whole number of seconds >= 1")
    space_file = Path(args.space) if args.space else space_path(args.dataset)
    space = load_space(space_file)
    cfg = load_config(args.config or experiment_path(args.dataset), [*space.overrides, *args.overrides])
    n_trials = args.n_trials or space.n_trials
    if n_trials < 1:
        raise SweepError(f"--n-trials {n_trials}: expected 1 or more")
    default_trials(cfg, space)  # a bad preset or param fails here, before any data or study

    # the data first: a missing data root stops here, before a study or a results folder exists
    from locomt.data.datamodule import build_datamodule
    from locomt.train import monitor_metric

    quiet_libraries()
    dm = build_datamodule(cfg, progress=console.is_terminal)
    dm.prepare_data()
    metric = monitor_metric(dm.task)

    out = Path(args.out or Path("results") / args.dataset)
    storage_url = args.storage or f"sqlite:///{out / STUDY_FILE}"
    study_name = args.study or space_file.stem
    if not args.storage:
        out.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
    storage = open_storage(storage_url, args.heartbeat)  # an unreachable server stops here, before any output
    out.mkdir(parents=True, exist_ok=True)
    study, created = create_or_load(storage, study_name, metric)
    command = shlex.join(["python", "-m", "locomt.sweep", *argv])
    if created:
        for k, v in {"dataset": args.dataset, "metric": metric, "task": dm.task,
                     "config": args.config or f"experiments/{args.dataset}.yaml", "space": str(space_file),
                     "space_kind": space.space}.items():
            study.set_user_attr(k, v)
    study.set_user_attr("command", command)
    # the default storage is recorded as null: the study.db next to sweep.json, wherever the folder moves
    pointer = {"study": study_name, "storage": redact(args.storage) if args.storage else None}
    atomic_write_text(out / POINTER_FILE, json.dumps(pointer, indent=2) + "\n")
    # The creator enqueues the baselines and presets. A process that loads a study with finished
    # trials enqueues those it lacks (a changed space); one that loses the creation race does not,
    # so two workers started together do not enqueue everything twice.
    started = any(t.state in FINISHED for t in study.get_trials(deepcopy=False))
    n_new = enqueue_defaults(study, cfg, space) if created or started else 0
    console.print(f"study {study_name!r} in {redact(storage_url)}: {len(study.trials) - n_new} trials so far, "
                  f"{n_new} enqueued, {n_trials} wanted; results in {out}/", markup=False, highlight=False)
    ctx = Context(base=cfg, space=space, storage=storage_url, study_name=study_name, n_trials=n_trials,
                  out=str(out), heartbeat=args.heartbeat, metric=metric, n_classes=dm.n_classes,
                  vocab_size=dm.vocab_size)
    from locomt.report import write_report

    try:
        run_workers(ctx, args.n_workers, study)
    except KeyboardInterrupt:
        write_report(study, out)
        console.print(f"interrupted: finished trials are kept in the study; run the same command again to go on "
                      f"({command})", markup=False, highlight=False)
        return 130
    finally:
        storage.remove_session()
    paths = write_report(study, out)
    console.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False, highlight=False)
    return 0


def create_or_load(storage: optuna.storages.BaseStorage, name: str, metric: str) -> tuple[optuna.Study, bool]:
    """The study ``name`` and whether this call created it (with the two directions); an existing
    study is loaded and checked."""
    directions = [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    try:
        return optuna.create_study(storage=storage, study_name=name, directions=["maximize", "minimize"]), True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage)
    if study.directions != directions:
        raise SweepError(f"study {name!r} exists with directions {[d.name for d in study.directions]}; expected "
                         "MAXIMIZE (validation metric), MINIMIZE (GFLOPs): give another --study name")
    if study.user_attrs.get("metric", metric) != metric:
        raise SweepError(f"study {name!r} optimises {study.user_attrs['metric']!r}, this dataset's metric is "
                         f"{metric!r}: give another --study name")
    return study, False


if __name__ == "__main__":
    sys.exit(run_cli(main))
