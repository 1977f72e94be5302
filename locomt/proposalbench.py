"""``python -m locomt.proposalbench``: what one proposal of the ``ehvi`` sampler costs on a space too
large to list, and whether its candidates reach the cheap extremes of that space.

    python -m locomt.proposalbench --preset medvidcl-vitb --observations 200 --proposals 5
    python -m locomt.proposalbench --preset medvidcl-vitb --csv results/proposalbench/medvidcl-vitb.csv

An in-memory study holds ``--observations`` trials of patterns drawn uniformly from the preset's count
space (ViT-B's 4 fusion layers of 12 heads over 4 views: 455^4 = 4.3e10 patterns), each with the
exact GFLOPs of the cost model and a synthetic validation metric (a fixed function of the share of
heads on each view, plus noise: heads on the cross views pay, self heads cost, the cheapest view
alone is weak; it stands in for training, which this measures nothing of). Then, for each candidate
generator (``random``: ``MAX_CANDIDATES`` uniform draws; ``mutate``: those plus every pattern one
head move from the observed front and the cheapest pattern of each view mix), the sampler proposes
``--proposals`` patterns, each added to the study with its synthetic value before the next. Printed
per generator: the wall and CPU seconds of one proposal (mean, max), the share of the candidates
among the cheapest 1 % of the space's patterns (its GFLOPs quantile estimated from 10^6 uniform
draws), the cheapest candidate's GFLOPs against the cheapest pattern of the space, and the
proposals' GFLOPs and synthetic values. The target (issue 22): at most 5 s per proposal.
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.proposalbench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="medvidcl-vitb", help="model preset (default medvidcl-vitb)")
    p.add_argument("--observations", type=int, default=200, help="trials in the study before proposing (default 200)")
    p.add_argument("--proposals", type=int, default=5, help="proposals timed per generator (default 5)")
    p.add_argument("--generators", nargs="+", default=["random", "mutate"], choices=["random", "mutate"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", help="write one row per proposal to this CSV")
    return p


def synthetic_metric(features, n_views: int, rng):
    """A validation accuracy for patterns by their per-layer view shares (rows: layers x views,
    flattened), plus noise: cross views carry the signal (saturating at a third of the heads), self
    heads add a little; accuracy in [0.33, 1)."""
    import numpy as np

    share = features.reshape(len(features), -1, n_views).mean(axis=1)  # mean over layers of each view's share
    gain = 0.06 * share[:, 0] + sum(w * np.minimum(1.0, 3 * share[:, v]) for v, w in ((1, 0.25), (2, 0.2), (3, 0.1)))
    return np.clip(0.4 + gain + rng.normal(0, 0.01, len(features)), 0.34, 0.99)


def new_study(reference_gflops: float):
    """An empty in-memory two-objective study with the sweep's reference point (chance of 3 classes)."""
    import optuna

    study = optuna.create_study(directions=["maximize", "minimize"])
    study.set_user_attr("chance", 1 / 3)
    study.set_user_attr("reference_gflops", reference_gflops)
    return study


def add_trials(study, ps, rows, values) -> None:
    """Record the patterns ``rows`` of ``ps`` (a PatternSpace) with their ``values`` and exact GFLOPs as
    finished full-fidelity trials, with the user attributes a sweep's trials carry."""
    import optuna
    from optuna.distributions import IntDistribution

    first = len(study.get_trials(deepcopy=False))  # (study.trials deep-copies every trial)
    for i, (name, v, g) in enumerate(zip(ps.names(rows), values, ps.gflops(rows))):
        study.add_trial(optuna.trial.create_trial(
            params={"pattern_id": first + i}, distributions={"pattern_id": IntDistribution(0, 10**9)},
            values=[float(v), float(g)],
            user_attrs={"pattern": name, "gflops": float(g), "fidelity": 10, "key": name}))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.observations < 2 or args.proposals < 1:
        raise ValueError(f"--observations {args.observations}, --proposals {args.proposals}: expected at least 2 "
                         "observations and 1 proposal")
    from locomt.constraints import check_seed
    from locomt.presets import get_preset, list_presets

    check_seed("--seed", args.seed)
    if args.preset not in list_presets():  # answered before the heavy imports
        raise ValueError(f"--preset {args.preset!r}: expected one of {', '.join(list_presets())}")
    import resource
    import time

    import numpy as np
    import optuna
    import pandas as pd

    from locomt.cost import analytic_cost
    from locomt.io import atomic_write_csv
    from locomt.search.ehvi import MAX_CANDIDATES, EHVISampler, PatternSpace
    from locomt.search.workers import console, quiet_libraries
    from locomt.timing import machine_description

    quiet_libraries()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    model = get_preset(args.preset)
    ps = PatternSpace.of_model(model)
    n_views = ps.features(ps.anchors()[:1]).shape[1] // model.n_fusion_layers
    joint = analytic_cost(model.replace(backbone="joint")).gflops
    rng = np.random.default_rng(args.seed)
    sample = ps.candidates(rng, limit=1_000_000)
    cheap_1pct = float(np.quantile(ps.gflops(sample), 0.01))
    cheapest = float(ps.gflops(ps.anchors()).min())
    console.print(f"{args.preset}: {ps.size:.3g} patterns ({model.n_fusion_layers} fusion layers of {model.n_heads} "
                  f"heads, {n_views} views); GFLOPs: cheapest {cheapest:.1f}, 1 % quantile {cheap_1pct:.1f}, "
                  f"joint {joint:.1f}; {MAX_CANDIDATES} drawn candidates", markup=False, highlight=False)

    def value(rows):
        return synthetic_metric(ps.features(rows), n_views, rng)

    seen = ps.candidates(np.random.default_rng(args.seed + 1), limit=args.observations)[: args.observations]
    seen_values = value(seen)
    rows = []
    for generator in args.generators:
        study = new_study(joint)
        add_trials(study, ps, seen, seen_values)
        sampler = EHVISampler(ps, "val/acc", seed=args.seed, n_startup_trials=5, mutate=generator == "mutate")
        for k in range(args.proposals):
            wall, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
            pattern = sampler.propose(study)
            wall, after = time.perf_counter() - wall, resource.getrusage(resource.RUSAGE_SELF)
            cpu_s = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
            row = ps.rows([pattern])
            v = value(row)
            add_trials(study, ps, row, v)
            cand = _candidates(ps, study, generator)
            g = ps.gflops(cand)
            rows.append({"preset": args.preset, "generator": generator, "index": k,
                         "observations": len(study.trials) - 1,
                         "wall_s": wall, "cpu_s": cpu_s, "candidates": len(cand),
                         "share_cheapest_1pct": float((g <= cheap_1pct).mean()),
                         "n_cheapest_1pct": int((g <= cheap_1pct).sum()),
                         "cheapest_candidate_gflops": float(g.min()), "cheapest_pattern_gflops": cheapest,
                         "proposal": pattern, "proposal_gflops": float(ps.gflops(row)[0]),
                         "proposal_value": float(v[0])})
            console.print(f"{generator} #{k}: {wall:.2f} s wall, {cpu_s:.2f} s CPU; {len(cand)} candidates, "
                          f"{rows[-1]['n_cheapest_1pct']} in the cheapest 1 %; proposed {pattern} "
                          f"({rows[-1]['proposal_gflops']:.1f} GFLOPs, value {v[0]:.3f})",
                          markup=False, highlight=False)
    df = pd.DataFrame(rows)
    console.print(f"machine: {machine_description()}", markup=False, highlight=False)
    for generator, g in df.groupby("generator", sort=False):
        console.print(f"{generator}: {g.wall_s.mean():.2f} s wall per proposal (max {g.wall_s.max():.2f}), "
                      f"{g.cpu_s.mean():.2f} s CPU; cheapest 1 %: {100 * g.share_cheapest_1pct.mean():.2f} % of "
                      f"candidates; cheapest candidate {g.cheapest_candidate_gflops.mean():.1f} GFLOPs (space: "
                      f"{cheapest:.1f}); proposals' GFLOPs mean {g.proposal_gflops.mean():.1f}, value mean "
                      f"{g.proposal_value.mean():.3f}", markup=False, highlight=False)
    if args.csv:
        console.print(f"wrote {atomic_write_csv(df, args.csv)}", markup=False, highlight=False)
    return 0


def _candidates(ps, study, generator: str):
    """A candidate set as the sampler draws it for this study (a fresh uniform draw, plus, for
    ``mutate``, the neighbours of the observed front and the anchors)."""
    import numpy as np

    from locomt.search.fidelity import front_ranks

    obs = [(t.user_attrs["pattern"], t.values[0], t.user_attrs["gflops"]) for t in study.trials]
    around = None
    if generator == "mutate":
        keep = front_ranks([(v, g) for _, v, g in obs]) == 0
        around = ps.rows([p for (p, _, _), k in zip(obs, keep) if k])
    return ps.candidates(np.random.default_rng(len(obs)), around=around)


if __name__ == "__main__":
    from locomt.io import run_cli

    sys.exit(run_cli(main))
