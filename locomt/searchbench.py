"""``python -m locomt.searchbench``: search strategies side by side at equal training compute.

    python -m locomt.searchbench --dataset synthetic-medvidcl --seeds 0 1 2 --budget-epochs 120
    python -m locomt.searchbench --strategies tpe asha --seeds 0 --budget-epochs 60 --out /tmp/bench

For every search seed and strategy (``random``: random sampling, full training; ``tpe``: TPE, full
training; ``asha``: TPE with multi-objective successive halving over epochs; ``asha-random``;
``asha-promotion``: promotion-based; ``ehvi`` and ``asha-ehvi``: the cost-aware sampler of
``locomt.search.ehvi``, with full training or with halving), one
study of the dataset's search space runs until its trials have trained ``--budget-epochs`` epochs,
in ``OUT/<strategy>-seed<k>/`` (a sweep folder: study.db, trials.csv, pareto.png, ...). No
baseline or preset is enqueued unless ``--enqueue``. All studies share the run cache, so a
configuration trained by one is read back by the others (each is charged its epochs all the same).
Each study runs one worker (deterministic); ``--n-workers N`` runs N sharing the cores, as the
default sweep does (one per core). Rerun the same command to resume. Writes to OUT (default
``results/searchbench/<dataset>``): ``curves.csv`` (hypervolume of the full-fidelity front after each trial against epochs charged),
``compare.csv``, ``hypervolume_vs_epochs.png``, ``ranking.csv`` and ``kendall.csv`` (how well the
metric after E epochs ranks configurations trained to full fidelity), ``paper_scale.csv`` (what each
strategy would cost on one GPU at medvidcl-vitb: ``locomt.search.estimate``) and ``summary.md``.
``--replicate-seeds 1 2`` also trains the best-known front's configurations on those training seeds
(``replicates.csv``) and says how much of the front's hypervolume they keep there: how much of it is
the luck of the one seed the studies train.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from locomt.constraints import check_seed
from locomt.experiment import load_experiment
from locomt.io import run_cli
from locomt.search.space import load_space
from locomt.search.strategies import STRATEGIES, bench_files, check_replicate_seeds


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.searchbench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="synthetic-medvidcl",
                   help="the task: experiments/ and sweeps/DATASET-bench.yaml (the benchmark's frozen copy) where "
                        "they exist, else DATASET.yaml; output results/searchbench/DATASET")
    p.add_argument("--config", help="another experiment YAML")
    p.add_argument("--space", help="another search space YAML")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted config override for every trial (repeatable)")
    p.add_argument("--strategies", nargs="+", default=["random", "tpe", "asha"], choices=list(STRATEGIES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="search seeds (default 0 1 2)")
    p.add_argument("--budget-epochs", type=int, required=True, help="epochs every study may train")
    p.add_argument("--rank-patterns", type=int, default=24,
                   help="configurations in ranking.csv and the Kendall tau (default 24)")
    p.add_argument("--enqueue", action="store_true", help="enqueue the space's baselines and presets in every study")
    p.add_argument("--n-workers", type=int, default=1,
                   help="worker processes per study, sharing the cores (default 1: deterministic studies; the "
                        "default sweep runs one per CPU core)")
    p.add_argument("--out", help="output folder (default results/searchbench/DATASET)")
    p.add_argument("--rescore", action="store_true",
                   help="train nothing: score every study already in OUT from its trials.csv and rewrite the outputs")
    p.add_argument("--known", action="append", default=[], metavar="DIR",
                   help="more studies of the same task (folders of <strategy>-seed<k>/trials.csv) whose configurations "
                        "join the best-known front without being scored (repeatable)")
    p.add_argument("--replicate-seeds", nargs="+", type=int, default=[], metavar="SEED",
                   help="train every configuration of the best-known front again on these training seeds (through "
                        "the run cache; the studies train the config's own seed) and say in the summary how much of "
                        "the front's hypervolume they keep; kept in OUT/replicates.csv for later rescoring")
    p.add_argument("--at-epochs", type=float,
                   help="epochs at which studies are scored against the best-known front "
                        "(default a third of the budget)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.n_workers < 1:
        raise ValueError(f"--n-workers {args.n_workers}: expected 1 or more")
    if args.budget_epochs < 1 or args.rank_patterns < 2 or not args.seeds:
        raise ValueError(f"--budget-epochs {args.budget_epochs}, --rank-patterns {args.rank_patterns}: expected at "
                         "least 1 epoch and 2 patterns, and at least one seed")
    for seed in args.seeds:  # checked before any study is made
        check_seed("--seeds", seed)
    for seed in args.replicate_seeds:
        check_seed("--replicate-seeds", seed)
    bench_config, bench_space = bench_files(args.dataset)
    config, space = args.config or bench_config, args.space or bench_space
    sp = load_space(space)  # a bad space or config answers before the heavy imports
    base = load_experiment(config, [*sp.overrides, *args.overrides])
    check_replicate_seeds(args.replicate_seeds, base.seed)  # before any study trains
    from locomt.search.benchmark import collect_folders, ranking, run_benchmark, write_outputs
    from locomt.search.workers import console, quiet_libraries
    from locomt.timing import machine_description

    quiet_libraries()
    import numpy as np
    import pandas as pd

    out = Path(args.out or Path("results") / "searchbench" / args.dataset)
    command = shlex.join(["python", "-m", "locomt.searchbench", *argv])
    if not args.rescore:
        run_benchmark(args.dataset, args.strategies, args.seeds, args.budget_epochs, out, command,
                      config=config, space=space, overrides=args.overrides,
                      enqueue=args.enqueue, n_workers=args.n_workers, progress=console.is_terminal)
    # every study in OUT, this run's and earlier ones', from the files each leaves (trials.csv, sweep.json)
    curves, trials, metric, reference = collect_folders(out)
    rank = ranking(trials, metric, args.rank_patterns, earlier=out / "ranking.csv")
    known = [trials]
    for folder in args.known:
        _, more, _, theirs = collect_folders(Path(folder))
        if not np.allclose(theirs, reference, rtol=1e-9, atol=0):
            raise ValueError(f"--known {folder}: reference point {theirs}, and the studies of {out} have {reference}; "
                             "expected studies of the same task")
        known.append(more)
    full_epochs = int(trials["fidelity"].max()) if trials["fidelity"].notna().any() else None
    every = pd.concat(known, ignore_index=True)
    replicates_csv = out / "replicates.csv"
    if args.replicate_seeds:
        from locomt.io import atomic_write_csv
        from locomt.search.benchmark import best_known_front, replicate_front

        front = best_known_front(every, metric, *reference)[0]
        new = replicate_front(front, args.replicate_seeds, config, [*sp.overrides, *args.overrides], metric,
                              progress=console.is_terminal)
        old = [pd.read_csv(replicates_csv)] if replicates_csv.is_file() else []
        merged = pd.concat([*old, new], ignore_index=True).drop_duplicates(["key", "seed"], keep="last")
        console.print(f"wrote {atomic_write_csv(merged, replicates_csv)}", markup=False, highlight=False)
    replicates = pd.read_csv(replicates_csv) if replicates_csv.is_file() else None
    for path in write_outputs(out, curves, rank, args.budget_epochs, metric, command, machine_description(),
                              full_epochs, trials=every, reference=reference, at_epochs=args.at_epochs,
                              replicates=replicates):
        console.print(f"wrote {path}", markup=False, highlight=False)
    console.print((out / "summary.md").read_text(), markup=False, highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
