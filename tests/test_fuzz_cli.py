"""Bad input to every command, fed in-process through ``main(argv)`` as ``python -m`` runs it
(``locomt.io.run_cli``; argparse's exits caught): wrong types, values out of range and unknown names
of fetch, dashboard, searchbench, sweep (strategies, samplers, the fast space file), loggers, seeds
and the rest. Each must exit 2 with exactly one ``error:`` line that names the bad value, no
traceback, and leave no file in the working folder: all of it is refused before any training.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from locomt.io import error_line, run_cli

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "experiments" / "synthetic-medvidcl.yaml")
FAST = str(REPO / "sweeps" / "synthetic-medvidcl-fast.yaml")
BIG_SEED = str(2**32)

# (command, argv, what the error line must name); "SPACE:<yaml>" is a space file written for the case
CASES = [
    # fetch
    ("fetch", ["--config", CONFIG, "--workers", "x"], "'x'"),
    ("fetch", ["--config", CONFIG, "--workers", "0"], "--workers"),
    ("fetch", ["--config", CONFIG, "--limit", "-1"], "--limit"),
    ("fetch", ["--config", CONFIG, "--retries", "-1"], "--retries"),
    ("fetch", ["--config", CONFIG, "--rate-limit", "fast"], "fast"),
    ("fetch", ["--config", CONFIG, "data.video.size=abc"], "data.video.size='abc'"),
    ("fetch", ["--config", CONFIG, "data.dataset=kinetics"], "kinetics"),
    ("fetch", ["--config", "no-such.yaml"], "no-such.yaml"),
    # dashboard
    ("dashboard", ["results/x", "--port", "x"], "'x'"),
    ("dashboard", ["results/x", "--port", "-1"], "--port -1"),
    ("dashboard", ["results/x", "--port", "70000"], "--port 70000"),
    # proposalbench and robust (added with issues 22 and 23)
    ("proposalbench", ["--preset", "vit-huge"], "vit-huge"),
    ("proposalbench", ["--seed", "-3"], "--seed=-3"),
    ("proposalbench", ["--observations", "1"], "--observations 1"),
    ("proposalbench", ["--generators", "grid"], "'grid'"),
    ("robust", ["no-such-run"], "no-such-run"),
    # searchbench
    ("searchbench", ["--budget-epochs", "10", "--at-epochs", "x"], "'x'"),
    ("searchbench", ["--budget-epochs", "0"], "--budget-epochs 0"),
    ("searchbench", ["--budget-epochs", "ten"], "'ten'"),
    ("searchbench", ["--budget-epochs", "10", "--seeds", "-1"], "--seeds=-1"),
    ("searchbench", ["--budget-epochs", "10", "--seeds", "0", BIG_SEED], f"--seeds={BIG_SEED}"),
    ("searchbench", ["--budget-epochs", "10", "--seeds", "one"], "'one'"),
    ("searchbench", ["--budget-epochs", "10", "--strategies", "grid"], "'grid'"),
    ("searchbench", ["--budget-epochs", "10", "--rank-patterns", "1"], "--rank-patterns 1"),
    ("searchbench", ["--budget-epochs", "10", "--replicate-seeds", "1", "0"], "--replicate-seeds 0: the studies train"),
    ("searchbench", ["--budget-epochs", "10", "--replicate-seeds", "-1"], "--replicate-seeds=-1"),
    ("searchbench", ["--budget-epochs", "10", "--replicate-seeds", "x"], "'x'"),
    ("searchbench", ["--budget-epochs", "10", "--n-workers", "0"], "--n-workers 0"),
    ("searchbench", ["--budget-epochs", "10", "--n-workers", "two"], "'two'"),
    ("searchbench", ["--budget-epochs", "10", "--n-workers", "999"], "--n-workers 999"),
    ("searchbench", ["--budget-epochs", "10", "--set", "trainer.loggers=[wandb]"], "wandb"),
    ("searchbench", ["--budget-epochs", "10", "--space", "SPACE:seed: -5"], "seed=-5"),
    ("searchbench", ["--budget-epochs", "10", "--space", FAST, "--seeds", "-1"], "--seeds=-1"),
    ("searchbench", ["--budget-epochs", "10", "--space", FAST, "--strategies", "asha", "bohb"], "'bohb'"),
    # sweep: strategies, samplers, loggers, the fast space file
    ("sweep", ["--strategy", "bohb"], "'bohb'"),
    ("sweep", ["--sampler", "cmaes"], "'cmaes'"),
    ("sweep", ["--asha-type", "median"], "'median'"),
    ("sweep", ["--n-workers", "0"], "--n-workers 0"),
    ("sweep", ["--n-workers", "two"], "'two'"),
    ("sweep", ["--heartbeat", "0"], "--heartbeat 0"),
    ("sweep", ["--set", "trainer.loggers=[wandb]"], "wandb"),
    ("sweep", ["--set", "model.pattern=zz"], "'zz'"),
    ("sweep", ["--set", "seed=-1"], "seed=-1"),
    ("sweep", ["--set", f"data.split_seed={BIG_SEED}"], f"data.split_seed={BIG_SEED}"),
    ("sweep", ["--space", FAST, "--set", "trainer.max_epochs=0"], "trainer.max_epochs=0"),
    ("sweep", ["--space", FAST, "--set", "trainer.loggers=[tensorboard, tensorboard]"], "tensorboard"),
    ("sweep", ["--space", FAST, "--sampler", "grid"], "'grid'"),
    ("sweep", ["--space", "SPACE:sampler: cmaes"], "'cmaes'"),
    ("sweep", ["--space", "SPACE:strategy: asha\neta: 1"], "eta=1"),
    ("sweep", ["--space", "SPACE:strategy: asha\nmin_epochs: 0"], "min_epochs=0"),
    ("sweep", ["--space", "SPACE:seed: -1"], "seed=-1"),
    ("sweep", ["--space", f"SPACE:seed: {BIG_SEED}"], f"seed={BIG_SEED}"),
    ("sweep", ["--space", "SPACE:seed: x"], "seed='x'"),
    ("sweep", ["--space", "SPACE:n_trials: 0"], "n_trials"),
    ("sweep", ["--space", "no-such-space.yaml"], "no-such-space.yaml"),
    ("sweep", ["--robustness", "--set", "data.modalities=[video]"], "--robustness"),
    ("sweep", ["--space", "SPACE:objectives: [metric, gflops, worst_missing]\nstrategy: full\nsampler: tpe",
               "--set", "data.modalities=[video]"], "objectives: worst_missing"),
    ("sweep", ["--space", "SPACE:objectives: [metric, gflops, worst_missing]\nsampler: ehvi"], "worst_missing"),
    ("sweep", ["--space", "SPACE:objectives: [metric, cost]"], "objectives"),
    # train: loggers, seeds, types
    ("train", ["--config", CONFIG, "trainer.loggers=[wandb]"], "wandb"),
    ("train", ["--config", CONFIG, "seed=-1"], "seed=-1"),
    ("train", ["--config", CONFIG, f"data.split_seed={BIG_SEED}"], f"data.split_seed={BIG_SEED}"),
    ("train", ["--config", CONFIG, "trainer.max_epochs=x"], "trainer.max_epochs='x'"),
    ("train", ["--config", CONFIG, "data.synthetic={seed: -2}"], "seed=-2"),
    ("train", ["--config", CONFIG, "data.dataset=audioset"], "'text'"),
    ("train", ["--config", CONFIG, "model.backbone=mbt"], "'mbt'"),
    # the others
    ("ablate", ["--patterns", "zz"], "'zz'"),
    ("ablate", ["--patterns", "half", "--seeds", "0"], "--seeds 0"),
    ("ablate", ["--patterns", "half", "--seeds", "x"], "'x'"),
    ("synth", ["--layout", "medvidcl", "--out", "synthetic", "--seed", "-1"], "seed=-1"),
    ("synth", ["--layout", "medvidcl", "--out", "synthetic", "--n", "1"], "n=1"),
    ("synth", ["--layout", "kinetics", "--out", "synthetic"], "'kinetics'"),
    ("prepare", ["--config", CONFIG, "data.video.size=-8"], "data.video.size=-8"),
    ("flops", ["--tokens", "v=0"], "v=0"),
    ("flops", ["--backbone", "mbt"], "'mbt'"),
    ("flops", ["--preset", "nope"], "'nope'"),
    ("bench", ["--mode", "backward"], "'backward'"),
    ("bench", ["--repeats", "0"], "0"),
    ("report", ["no-such-folder"], "no-such-folder"),
    ("inspect_checkpoint", ["--backbone", "mbt"], "'mbt'"),
    ("inspect_checkpoint", ["no-such.safetensors"], "no-such.safetensors"),
    ("startbench", ["--repeats", "0"], "--repeats 0"),
    ("startbench", ["--command", "nope"], "nope"),
]


def _argv(argv: list[str], folder: Path) -> list[str]:
    """A ``SPACE:<yaml>`` argument becomes a space file outside the working folder."""
    out = []
    for a in argv:
        if a.startswith("SPACE:"):
            path = folder / f"space{len(out)}.yaml"
            path.write_text(a[len("SPACE:"):] + "\n")
            a = str(path)
        out.append(a)
    return out


@pytest.mark.parametrize("command, argv, needle", CASES,
                         ids=[f"{c}:{' '.join(a)[-60:]}" for c, a, _ in CASES])
def test_bad_input_is_one_error_line_and_nothing_written(command, argv, needle, tmp_path, monkeypatch, capsys):
    work, files = tmp_path / "work", tmp_path / "files"
    work.mkdir()
    files.mkdir()
    monkeypatch.chdir(work)
    main = importlib.import_module(f"locomt.{command}").main
    try:
        code = run_cli(main, _argv(argv, files))
    except SystemExit as exit:  # argparse
        code = exit.code
    out = capsys.readouterr()
    errors = [line for line in out.err.splitlines() if "error:" in line]
    assert code == 2, (code, out.err)
    assert len(errors) == 1 and "Traceback" not in out.err, out.err
    assert needle in errors[0], f"the error line does not name {needle!r}: {errors[0]}"
    assert not list(work.iterdir()), f"left behind: {sorted(p.name for p in work.iterdir())}"


def test_a_bare_key_is_not_the_whole_message():
    """A KeyError holding just a key (a lookup that failed, e.g. a missing column) says it is
    missing; a KeyError with a message keeps it."""
    assert error_line(KeyError("gflops")) != "gflops" and "'gflops' is missing" in error_line(KeyError("gflops"))
    assert error_line(KeyError("inputs lack modalities ['text']")) == "inputs lack modalities ['text']"
