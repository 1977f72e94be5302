"""``python -m locomt.sweep``: search per-head view patterns with Optuna, write Pareto tables and plots.

    python -m locomt.sweep --dataset synthetic-medvidcl          # what `make sweep` runs
    python -m locomt.sweep --dataset medvidcl --n-workers 2      # two local worker processes
    python -m locomt.sweep --dataset medvidcl --storage postgresql://user:pw@db-host/locomt   # many machines

A sweep is one multi-objective Optuna study: maximise the validation metric (``val/acc``, or
``val/mAP`` for AudioSet), minimise GFLOPs per example from the analytic cost model (known before
training). Test metrics are recorded for every trial but never optimised. The experiment config is
``experiments/<dataset>.yaml``; the search space ``sweeps/<dataset>.yaml`` (``--space`` for another):

    space: counts            # counts: integer heads per view in each fusion layer (the default)
                             # heads: a view per head; shared: one set of counts for every fusion layer
    strategy: full           # full: train each configuration; asha: successive halving over epochs
    min_epochs: 1            # asha: the first rung; then min_epochs * eta, ... (eta: 3)
    asha_type: stopping      # asha: stopping (judged on arrival at a rung) | promotion (paused at a rung,
                             # resumed as a new trial once among the best 1/eta there)
    n_trials: 14             # distinct configurations, enqueued baselines and presets included
    budget_epochs: null      # or end the study once its trials trained this many epochs
    sampler: tpe             # tpe | nsga2 | random | ehvi (a GP of the metric, GFLOPs exact from the cost
                             # model, the pattern of highest expected hypervolume improvement; no params)
    seed: 0
    budget_gflops: null      # configurations above it are rejected (pruned) before training
    confirm_seeds: 3         # after the search, the front and the baselines on 3 seeds in all (0: none)
    objectives: [metric, gflops]   # or [metric, gflops, worst_missing]: also maximise the worst validation
                             # metric with one modality missing (strategy full; sampler tpe, nsga2 or random)
    n_workers: null          # local workers: one per CPU core (one thread each) or per GPU; or a number
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
after every trial (the plots at most every 30 s, and at the end); ``python -m locomt.report
results/<dataset>`` regenerates them from the study.

``--robustness``: once the sweep is done (its front confirmed), the front's and the baselines' runs
are tested with each modality missing (test split): ``robustness.csv``, ``robustness.png`` and a
section of ``summary.md`` (``locomt.search.missing``; a rerun tests only what ``robustness.csv`` lacks).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from locomt.config import experiment_path
from locomt.experiment import load_experiment
from locomt.io import run_cli
from locomt.search.missing import check_own_table
from locomt.search.space import ASHA_TYPES, SAMPLERS, STRATEGIES, load_space, space_path


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
    p.add_argument("--n-workers", type=int,
                   help="local worker processes sharing the study (default: the space's n_workers, else one per CPU "
                   "core with one torch thread each, or one per visible GPU)")
    p.add_argument("--strategy", choices=STRATEGIES,
                   help="full: train every configuration on the whole schedule; asha: successive halving over "
                   "epochs (default: the space's strategy)")
    p.add_argument("--asha-type", choices=ASHA_TYPES,
                   help="with --strategy asha: stopping (a configuration is judged as it reaches a rung and trains "
                   "on or stops) or promotion (every configuration pauses at a rung and resumes, as a new trial, "
                   "once among the best 1/eta there) (default: the space's asha_type, else stopping)")
    p.add_argument("--sampler", choices=SAMPLERS,
                   help="what proposes configurations: Optuna's tpe, nsga2 or random, or ehvi (a Gaussian process "
                   "of the metric and the cost model's exact GFLOPs; view patterns only) (default: the space's)")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///OUT/study.db)")
    p.add_argument("--study", help="study name (default: the space file's name)")
    p.add_argument("--out", help="results folder (default: results/DATASET)")
    p.add_argument("--robustness", action="store_true",
                   help="once the sweep is done, test the front's and the baselines' runs with each modality missing "
                   "(test split; locomt.search.missing): robustness.csv, robustness.png and a section of summary.md; "
                   "a rerun tests only the runs robustness.csv lacks")
    p.add_argument("--heartbeat", type=int, default=20,
                   help="seconds between a running trial's heartbeats; it is stale after 3 missed (default 20)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.n_workers is not None and args.n_workers < 1:
        raise ValueError(f"--n-workers {args.n_workers}: expected 1 or more")
    if args.heartbeat < 1:
        raise ValueError(f"--heartbeat {args.heartbeat}: expected a whole number of seconds >= 1")
    sp = load_space(args.space or space_path(args.dataset))  # a bad space or config answers before the heavy imports
    cfg = load_experiment(args.config or experiment_path(args.dataset), [*sp.overrides, *args.overrides])
    if args.robustness:
        check_own_table(args.out or Path("results") / args.dataset)  # not a locomt.robust table, before a sweep
    for what, asked in (("--robustness", args.robustness),
                        ("objectives: worst_missing", "worst_missing" in sp.objectives)):
        if asked and len(cfg.data.modalities) < 2:
            raise ValueError(f"{what}: data.modalities={list(cfg.data.modalities)} has one modality; expected two "
                             "or more (one of them is removed at a time)")
    from locomt.search.report import write_report
    from locomt.search.session import open_sweep
    from locomt.search.study import redact
    from locomt.search.workers import console, quiet_libraries, run_workers

    quiet_libraries()
    command = shlex.join(["python", "-m", "locomt.sweep", *argv])
    sweep = open_sweep(args.dataset, command, config=args.config, space=args.space, overrides=args.overrides,
                       n_trials=args.n_trials, storage=args.storage, study=args.study, out=args.out,
                       heartbeat=args.heartbeat, progress=console.is_terminal,
                       space_changes=({"strategy": args.strategy} if args.strategy else {})
                       | ({"asha_type": args.asha_type} if args.asha_type else {})
                       | ({"sampler": args.sampler} if args.sampler else {}) or None, n_workers=args.n_workers)
    ctx, study = dataclasses.replace(sweep.ctx, threads=sweep.threads, confirm=True), sweep.study
    console.print(f"study {ctx.study_name!r} in {redact(ctx.storage)}: {len(study.trials) - sweep.n_enqueued} trials "
                  f"so far, {sweep.n_enqueued} enqueued, {ctx.n_trials} wanted"
                  + (f", then the front and the baselines on {ctx.space.confirm_seeds} seeds"
                     if ctx.space.confirm_seeds > 1 else "")
                  + f"; {sweep.n_workers} worker{'s' if sweep.n_workers > 1 else ''}"
                  f"{f' of {sweep.threads} thread' + ('s' if sweep.threads > 1 else '') if sweep.threads else ''}; "
                  f"results in {sweep.out}/",
                  markup=False, highlight=False)
    try:
        run_workers(ctx, sweep.n_workers, study)
    except KeyboardInterrupt:
        write_report(study, sweep.out)
        console.print(f"interrupted: finished trials are kept in the study; run the same command again to go on "
                      f"({command})", markup=False, highlight=False)
        return 130
    finally:
        sweep.storage.remove_session()
    try:  # --robustness: here, in the one parent process, once every worker is done and the front confirmed
        paths = write_report(study, sweep.out, robustness=console if args.robustness else None)
    except (KeyboardInterrupt, SystemExit):  # (Lightning's test turns Ctrl-C into sys.exit(1))
        if not args.robustness:
            raise
        console.print(f"interrupted: the runs tested so far are kept in {sweep.out / 'robustness.csv'}; run the "
                      f"same command again to test the rest ({command})", markup=False, highlight=False)
        return 130
    console.print(f"wrote {', '.join(str(p) for p in paths)}", markup=False, highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
