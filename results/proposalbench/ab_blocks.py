"""A/B of one ehvi proposal at ViT-B scale (medvidcl-vitb, 200 observations, 50,000 drawn candidates):
the sampler before commit bc94caa (GP posterior and EHVI over all candidates at once, scipy.stats.norm)
against the current one (blocks of BLOCK_ROWS rows, scipy.special.ndtr), alternating in one process on
the same study, fresh samplers with the same seed per round (so every proposal is a cold GP fit), and
the two proposals compared. Wall, user and system CPU per proposal, then the ratios.

    git show bc94caa~1:locomt/search/ehvi.py > /tmp/ehvi_old.py
    OMP_NUM_THREADS=1 .venv/bin/python results/proposalbench/ab_blocks.py /tmp/ehvi_old.py 4
"""
import importlib.util
import resource
import sys
import time

import numpy as np
import optuna

from locomt.cost import analytic_cost
from locomt.presets import get_preset
from locomt.proposalbench import add_trials, new_study, synthetic_metric
from locomt.search import ehvi as ehvi_new
from locomt.timing import machine_description

spec = importlib.util.spec_from_file_location("ehvi_old", sys.argv[1])
ehvi_old = importlib.util.module_from_spec(spec)
sys.modules["ehvi_old"] = ehvi_old  # its dataclasses look their module up
spec.loader.exec_module(ehvi_old)
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
optuna.logging.set_verbosity(optuna.logging.WARNING)
model = get_preset("medvidcl-vitb")
ps = ehvi_new.PatternSpace.of_model(model)
n_views = ps.features(ps.anchors()[:1]).shape[1] // model.n_fusion_layers
joint = analytic_cost(model.replace(backbone="joint")).gflops
seen = ps.candidates(np.random.default_rng(1), limit=200)[:200]
vals = synthetic_metric(ps.features(seen), n_views, np.random.default_rng(0))
study = new_study(joint)
add_trials(study, ps, seen, vals)


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


res = {"before": [], "after": []}
for rnd in range(rounds):
    order = (("before", ehvi_old), ("after", ehvi_new))
    props = {}
    for label, mod in (order if rnd % 2 == 0 else order[::-1]):
        sampler = mod.EHVISampler(ps, "val/acc", seed=rnd, n_startup_trials=5, mutate=True)
        wall, (u0, s0) = time.perf_counter(), cpu()
        props[label] = sampler.propose(study)
        (u1, s1), wall = cpu(), time.perf_counter() - wall
        res[label].append((wall, u1 - u0, s1 - s0))
        print(f"round {rnd} {label}: wall {wall:.2f} s, user {u1 - u0:.2f} s, system {s1 - s0:.2f} s -> {props[label]}")
    print(f"round {rnd}: the same proposal: {props['before'] == props['after']}")
print(f"machine: {machine_description()}")
for label, r in res.items():
    a = np.array(r)
    print(f"{label}: wall {a[:, 0].mean():.2f} s per proposal (max {a[:, 0].max():.2f}), user {a[:, 1].mean():.2f} s, "
          f"system {a[:, 2].mean():.2f} s")
b, a = np.array(res["before"]), np.array(res["after"])
print(f"after / before: wall {a[:, 0].mean() / b[:, 0].mean():.2f}, CPU {a[:, 1:].sum(1).mean() / b[:, 1:].sum(1).mean():.2f}")
