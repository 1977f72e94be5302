"""Issue 21 item 5: how well validation accuracy ranks the 24 patterns of
results/searchbench/synthetic-medvidcl/ranking.csv, on an experiment's own splits.

    # train (two shards in parallel, one torch thread each; runs are cached in runs/configs)
    OMP_NUM_THREADS=1 python results/val-split/ranking.py CONFIG --shard 0/2 &
    OMP_NUM_THREADS=1 python results/val-split/ranking.py CONFIG --shard 1/2
    # then read them back: ranking.csv and kendall.csv into OUT (locomt.search.benchmark.kendall)
    python results/val-split/ranking.py CONFIG --out results/val-split/NAME

Every pattern is trained with backbone locomt and the config's seed and schedule; a run trained
before (same config key) is read back, never trained again.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from locomt.experiment import load_experiment
from locomt.runs import epoch_values, train_cached
from locomt.search.benchmark import kendall

PATTERNS = Path("results/searchbench/synthetic-medvidcl/ranking.csv")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("config")
    p.add_argument("--shard", default="0/1", help="I/N: train every N-th pattern from the I-th")
    p.add_argument("--out", type=Path, default=None, help="write ranking.csv and kendall.csv here (trains nothing new)")
    a = p.parse_args()
    patterns = list(pd.read_csv(PATTERNS)["pattern"])
    i, n = (int(x) for x in a.shard.split("/"))
    rows = []
    for k, pattern in enumerate(patterns):
        if a.out is None and k % n != i:
            continue
        cfg = load_experiment(a.config, ["model.backbone=locomt", f"model.pattern={pattern}"])
        root = Path(cfg.trainer.out_dir) / "configs"
        record, run = train_cached(cfg, root, progress=False)
        values = epoch_values(run, "val/acc")
        rows.append({"pattern": pattern, "run": str(run), "val/acc": record.val, "test/acc": record.metrics["test/acc"],
                     **{f"val/acc@{e}": v for e, v in sorted(values.items())[:-1]}})
        print(pattern, rows[-1]["val/acc"], rows[-1]["test/acc"], flush=True)
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
        rank = pd.DataFrame(rows)
        rank.to_csv(a.out / "ranking.csv", index=False)
        tau = kendall(rank, "val/acc")
        tau.to_csv(a.out / "kendall.csv", index=False)
        print(tau.to_string(index=False))
        plot(rank, tau, a.out / "val_vs_test.png", a.config)


def plot(rank: pd.DataFrame, tau: pd.DataFrame, path: Path, config: str) -> None:
    """Validation against test accuracy of the same models, and Kendall's tau of each epoch's
    validation accuracy against the last."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from locomt.io import save_figure

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.scatter(rank["val/acc"], rank["test/acc"], s=18)
    lo = min(rank["val/acc"].min(), rank["test/acc"].min()) - 0.01
    hi = max(rank["val/acc"].max(), rank["test/acc"].max()) + 0.01
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    t = tau[tau.estimate == "test/acc"].kendall_tau.iloc[0]
    ax.set(xlabel="validation accuracy", ylabel="test accuracy (same model)",
           title=f"{len(rank)} patterns, Kendall tau {t:.2f}")
    by_epoch = tau.dropna(subset=["epochs"])
    bx.plot(by_epoch.epochs.astype(int), by_epoch.kendall_tau, marker="o")
    bx.set(xlabel="epochs", ylabel="Kendall tau against the last epoch", ylim=(0, 1),
           title="validation accuracy after E epochs")
    fig.suptitle(config, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


if __name__ == "__main__":
    main()
