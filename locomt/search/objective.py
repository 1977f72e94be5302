"""The sweep's objective: a trial becomes a config, is costed, checked against the budget and earlier
trials, trained once (``locomt.runs.train_cached``) and recorded. Under the ``asha`` strategy it
first climbs the rungs of successive halving (``locomt.search.fidelity``): at each it records the
low-fidelity validation metric (``val/acc@E``) and goes on only if it is promoted, else the trial
ends PRUNED ("stopped"), with its run's checkpoint kept. Promotion-based (``asha_type: promotion``),
a new configuration trains to the first rung and ends PRUNED ("paused"); a worker enqueues a trial
of the same parameters when the configuration is promoted (:func:`enqueue_promotion`), which
resumes its run to the next rung and is charged only the epochs it adds.

Objectives: (validation metric, GFLOPs per example from the analytic cost model, known before
training), and with ``objectives: [metric, gflops, worst_missing]`` the worst validation metric with
one modality missing (``locomt.search.missing``). Test metrics are recorded as user attributes, never
optimised. A trial whose
configuration was trained before reuses that result (``duplicate_of``); one whose configuration
another worker is training is pruned (the lower trial number wins). Ctrl-C during training
enqueues a retry of the same trial, which resumes from the run's checkpoint.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from locomt.config import ExperimentConfig, model_config
from locomt.cost import analytic_cost
from locomt.runs import canonical_config, config_key, train_cached, value_at
from locomt.search.fidelity import next_promotion, promoted, rungs
from locomt.search.missing import WORST, worst_missing, worst_name
from locomt.search.space import SweepSpace, trial_config
from locomt.search.study import epochs_spent, set_attrs
from locomt.task import NonFiniteLossError
from locomt.timing import forward_latency_ms

LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)  # trials whose records count
KEPT = ("backbone", "label", "role", "pattern", "promoted_from", "key", "confirms", "seed")  # what a retry or promotion carries over


def requeue(trial: optuna.Trial) -> None:
    """Enqueue a retry of a trial stopped by Ctrl-C (by the process that ran it, so exactly once)."""
    attrs = {k: v for k, v in trial.user_attrs.items() if k in KEPT}
    trial.study.add_trial(optuna.create_trial(
        state=TrialState.WAITING, params=trial.params, distributions=trial.distributions,
        user_attrs={**attrs, "retry_of": trial.number}, system_attrs={"fixed_params": trial.params}))


def enqueue_promotion(study: optuna.Study, metric: str, space: SweepSpace, max_epochs: int) -> bool:
    """Promotion-based ASHA: enqueue the next promotion (:func:`locomt.search.fidelity.next_promotion`)
    as a trial of the same parameters that resumes the paused run; False when there is none, when
    a trial already waits (enqueued defaults, retries and promotions run first, one at a time) or
    when the study's epoch budget is spent. Two workers may enqueue the same promotion at once: the
    later trial is then a repeat, charged nothing."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials) or (
            space.budget_epochs is not None and epochs_spent(trials) >= space.budget_epochs):
        return False
    source = next_promotion(trials, metric, rungs(space.min_epochs, space.eta, max_epochs), space.eta)
    if source is None:
        return False
    attrs = {k: v for k, v in source.user_attrs.items() if k in KEPT}
    study.add_trial(optuna.create_trial(
        state=TrialState.WAITING, params=source.params, distributions=source.distributions,
        user_attrs={**attrs, "promoted_from": source.number}, system_attrs={"fixed_params": source.params}))
    return True


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
    confirm: bool = False  # after the search, confirm the front on space.confirm_seeds seeds (locomt.sweep)


class Objective:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        ctx = self.ctx
        try:
            cfg = trial_config(trial, ctx.base, ctx.space)
            confirming = "confirms" in trial.user_attrs  # another seed of a front configuration: full schedule
            if confirming:
                cfg = dataclasses.replace(cfg, seed=int(trial.user_attrs["seed"]))
            cfg = canonical_config(cfg)
            mcfg = model_config(cfg, n_classes=ctx.n_classes, vocab_size=ctx.vocab_size)
            cost = analytic_cost(mcfg)
            key = config_key(cfg)
            set_attrs(trial, backbone=cfg.model.backbone, pattern=mcfg.pattern_spec, key=key, gflops=cost.gflops,
                      gmacs=cost.gmacs, seed=cfg.seed)
            budget = ctx.space.budget_gflops
            if budget is not None and cost.gflops > budget:
                set_attrs(trial, note=f"rejected: {cost.gflops:.4g} GFLOPs > budget {budget:g}")
                raise optuna.TrialPruned(f"{cost.gflops:.4g} GFLOPs is over the budget of {budget:g}")
            promotion = "promoted_from" in trial.user_attrs
            same = self._same_promotion(trial) if promotion else self._same_config(trial, key)
            if same is not None:
                return self._repeat(trial, same)
            start = time.perf_counter()
            root = Path(cfg.trainer.out_dir) / "configs"
            trained_before = 0  # epochs of this configuration that earlier trials were charged
            try:
                if ctx.space.strategy == "asha" and not confirming:
                    try:
                        if promotion:
                            trained_before = self._resume(trial, cfg, root)
                        elif ctx.space.asha_type == "promotion":
                            self._pause(trial, cfg, root)
                        else:
                            self._climb(trial, cfg, root, cost.gflops)
                    except optuna.TrialPruned:  # stopped or paused at a rung
                        set_attrs(trial, seconds=round(time.perf_counter() - start, 2))
                        raise
                record, run_dir = train_cached(cfg, root)
                worst = worst_missing(run_dir, ctx.metric) if WORST in ctx.space.objectives else {}  # validation
            except SystemExit:  # Lightning turns Ctrl-C into a checkpoint and sys.exit(1)
                raise KeyboardInterrupt from None
            except NonFiniteLossError as err:
                set_attrs(trial, note=f"diverged: {err}")
                raise optuna.TrialPruned(f"diverged: {err}") from None
            set_attrs(trial, **record.metrics, **worst)
            set_attrs(trial, params=record.params, seconds=round(time.perf_counter() - start, 2), run=str(run_dir),
                      latency_ms=round(forward_latency_ms(mcfg, batch=1), 3), fidelity=cfg.trainer.max_epochs,
                      epochs=cfg.trainer.max_epochs - trained_before)
            if worst:  # the third objective: the worst validation metric with one modality missing
                return record.metrics[ctx.metric], cost.gflops, worst[worst_name(ctx.metric)]
            return record.metrics[ctx.metric], cost.gflops
        except KeyboardInterrupt:
            set_attrs(trial, note="interrupted (Ctrl-C); retried when the sweep runs again")
            requeue(trial)
            raise

    def _climb(self, trial: optuna.Trial, cfg: ExperimentConfig, root: Path, gflops: float) -> None:
        """Successive halving below the full schedule: at each rung, the validation metric after that
        many epochs, compared with every other configuration that reached the rung."""
        sp, metric, full = self.ctx.space, self.ctx.metric, cfg.trainer.max_epochs
        for epochs in rungs(sp.min_epochs, sp.eta, full)[:-1]:
            value = self._reach(trial, cfg, root, epochs)
            name = f"{metric}@{epochs}"
            others = [(t.user_attrs[name], t.user_attrs["gflops"])
                      for t in trial.study.get_trials(deepcopy=False, states=LIVE)
                      if t.number != trial.number and name in t.user_attrs and "duplicate_of" not in t.user_attrs]
            if not promoted((value, gflops), others, sp.eta):
                set_attrs(trial, note=f"stopped at {epochs} of {full} epochs: {metric} {value:.4g} is not among the "
                                      f"best 1/{sp.eta} of the {len(others) + 1} configurations at that rung")
                raise optuna.TrialPruned(f"stopped at {epochs} of {full} epochs")

    def _pause(self, trial: optuna.Trial, cfg: ExperimentConfig, root: Path) -> None:
        """Promotion-based ASHA, a new configuration: train to the first rung, record it, pause."""
        sp, full = self.ctx.space, cfg.trainer.max_epochs
        first = rungs(sp.min_epochs, sp.eta, full)[0]
        if first < full:
            self._rung(trial, cfg, root, first)

    def _resume(self, trial: optuna.Trial, cfg: ExperimentConfig, root: Path) -> int:
        """Promotion-based ASHA, a promoted configuration: its earlier rungs copied from the trial it
        continues, its run resumed to the next rung (paused there again) or to the end; returns the
        epochs the earlier trials had trained."""
        number = trial.user_attrs["promoted_from"]
        source = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == number)
        done = int(source.user_attrs["fidelity"])
        set_attrs(trial, **{k: v for k, v in source.user_attrs.items() if k.startswith(f"{self.ctx.metric}@")})
        later = [e for e in rungs(self.ctx.space.min_epochs, self.ctx.space.eta, cfg.trainer.max_epochs) if e > done]
        if later[0] < cfg.trainer.max_epochs:
            self._rung(trial, cfg, root, later[0], done)
        return done

    def _reach(self, trial: optuna.Trial, cfg: ExperimentConfig, root: Path, epochs: int, done: int = 0) -> float:
        """Train (or resume) the run to the rung at ``epochs`` and record its value there, the trial
        charged the epochs beyond ``done`` (those earlier trials of the configuration trained)."""
        value, run_dir = value_at(cfg, root, epochs, self.ctx.metric)
        set_attrs(trial, **{f"{self.ctx.metric}@{epochs}": value}, fidelity=epochs, epochs=epochs - done,
                  run=str(run_dir))
        return value

    def _rung(self, trial: optuna.Trial, cfg: ExperimentConfig, root: Path, epochs: int, done: int = 0) -> None:
        """Reach the rung at ``epochs`` and end the trial paused there."""
        full = cfg.trainer.max_epochs
        self._reach(trial, cfg, root, epochs, done)
        set_attrs(trial, note=f"paused at {epochs} of {full} epochs: goes on when among the best "
                              f"1/{self.ctx.space.eta} of the configurations at that rung")
        raise optuna.TrialPruned(f"paused at {epochs} of {full} epochs")

    def _same_promotion(self, trial: optuna.Trial) -> optuna.trial.FrozenTrial | None:
        """Another trial promoting the same paused trial (two workers enqueued it at once): finished,
        or running with a lower number."""
        source = trial.user_attrs["promoted_from"]
        for t in trial.study.get_trials(deepcopy=False, states=LIVE):
            a = t.user_attrs
            if t.number != trial.number and a.get("promoted_from") == source and "duplicate_of" not in a and (
                    t.state != TrialState.RUNNING or t.number < trial.number):
                return t
        return None

    def _repeat(self, trial: optuna.Trial, same: optuna.trial.FrozenTrial) -> tuple[float, float]:
        """A configuration the study has: running (pruned; the lower trial number trains it), stopped at
        a rung (pruned again) or finished (its values): copied, not trained again, charged nothing."""
        set_attrs(trial, duplicate_of=same.number, epochs=0)
        if same.state == TrialState.RUNNING:
            set_attrs(trial, note=f"same configuration as running trial {same.number}")
            raise optuna.TrialPruned(f"same configuration as running trial {same.number}")
        set_attrs(trial, **{name: value for name, value in same.user_attrs.items()
                            if name.startswith(("val/", "test/")) or name in ("params", "latency_ms", "run", "fidelity")})
        if same.state == TrialState.PRUNED:
            how = "paused" if str(same.user_attrs.get("note", "")).startswith("paused") else "stopped"
            set_attrs(trial, note=f"same configuration as trial {same.number}, {how} at "
                                  f"{same.user_attrs['fidelity']} epochs: not trained again")
            raise optuna.TrialPruned(f"same configuration as stopped trial {same.number}")
        set_attrs(trial, note=f"same configuration as trial {same.number}: not trained again")
        return tuple(same.values)

    def _same_config(self, trial: optuna.Trial, key: str) -> optuna.trial.FrozenTrial | None:
        """An earlier trial of the same configuration: finished or stopped at a rung (reuse it) or
        running (the lower number wins); the finished one first when it has several (a trial per rung)."""
        same = []
        for t in trial.study.get_trials(deepcopy=False, states=LIVE):
            if t.number == trial.number or t.user_attrs.get("key") != key or "duplicate_of" in t.user_attrs:
                continue
            if t.state == TrialState.PRUNED and "fidelity" not in t.user_attrs:
                continue  # rejected by the budget or diverged: nothing to reuse
            if t.state != TrialState.RUNNING or t.number < trial.number:
                same.append(t)
        return next((t for t in same if t.state == TrialState.COMPLETE), same[0] if same else None)
