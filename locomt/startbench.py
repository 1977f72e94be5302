"""``python -m locomt.startbench``: how long every ``python -m locomt.X`` command takes to answer
``--help``, an argument error and a config error (a value the schema or the command rejects), each in
a fresh subprocess, the median of ``--repeats`` runs, wall and CPU (user + sys) seconds.

    python -m locomt.startbench --repeats 5 --csv results/startup/startup.csv

Such answers should not wait for torch, Lightning or Optuna: a command imports them inside ``main``
once its arguments and config are checked. The cases (:data:`CASES`) are also what the tests run to
check that nothing heavy is imported for them (tests/test_startup.py). Every case runs in an empty
temporary folder; a case that exits otherwise than expected (0 for ``--help``, 2 for an error) is
marked in the table and makes the command exit 1. Two references are timed in the same run: a bare
interpreter (``python -c pass``) and ``python -c "import torch"`` (what a command that imports torch at
start-up pays at least); ``vs_torch_import`` is each case's wall time over the latter.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(__file__).resolve().parent
CONFIG = str(REPO / "experiments" / "synthetic-medvidcl.yaml")
BAD_VALUE = "model.n_heads=0"  # rejected by the schema: model.n_heads=0: expected an integer >= 1
HEAVY = ("torch", "lightning", "optuna", "pandas", "matplotlib", "librosa", "decord", "av", "sklearn", "scipy")


def commands() -> list[str]:
    """Every ``python -m locomt.X`` command: a module of the package with ``if __name__ == "__main__":``."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(line.startswith("if __name__ == ") for line in path.read_text().splitlines()):
            found.append(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    return found


@dataclass(frozen=True)
class Case:
    """One way to call a command and the exit status it must give."""

    command: str  # locomt.train
    kind: str  # help | argument error | config error
    argv: tuple[str, ...]
    exit_code: int


# per command: the arguments of a config error (a value that the schema or the command rejects)
CONFIG_ERRORS: dict[str, tuple[str, ...]] = {
    "locomt.ablate": ("--patterns", "half", "--set", BAD_VALUE),
    "locomt.bench": ("--preset", "no-such-preset"),
    "locomt.dashboard": ("no-such-folder", "--port", "70000"),
    "locomt.fetch": ("--config", CONFIG, BAD_VALUE),
    "locomt.flops": ("--config", CONFIG, "--set", BAD_VALUE),
    "locomt.inspect_checkpoint": ("--set", BAD_VALUE),
    "locomt.prepare": ("--config", CONFIG, BAD_VALUE),
    "locomt.proposalbench": ("--preset", "no-such-preset"),
    "locomt.report": ("no-such-folder",),
    "locomt.robust": ("no-such-run", "--missing", "smell"),
    "locomt.searchbench": ("--budget-epochs", "4", "--set", BAD_VALUE),
    "locomt.startbench": ("--repeats", "0"),
    "locomt.sweep": ("--set", BAD_VALUE),
    "locomt.synth": ("--layout", "medvidcl", "--out", "synthetic", "--n", "1"),
    "locomt.train": ("--config", CONFIG, BAD_VALUE),
}


def cases(names: list[str] | None = None) -> list[Case]:
    """``--help``, an unknown option and a config error of every command (or of ``names``)."""
    out = []
    for name in names or commands():
        if name not in CONFIG_ERRORS:
            raise ValueError(f"command {name} has no config-error case; add one to locomt.startbench.CONFIG_ERRORS")
        out += [Case(name, "help", ("--help",), 0), Case(name, "argument error", ("--no-such-option",), 2),
                Case(name, "config error", CONFIG_ERRORS[name], 2)]
    return out


# the references: the interpreter alone, and torch's import
REFERENCES = [Case("python", "reference", ("-c", "pass"), 0), Case("import torch", "reference",
                                                                   ("-c", "import torch"), 0)]


def run_case(case: Case, cwd: str | Path, python: str = sys.executable) -> tuple[int, float, float, str]:
    """Run ``case`` once in a fresh interpreter in ``cwd``: exit status, wall and CPU seconds, stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    args = list(case.argv) if case.kind == "reference" else ["-m", case.command, *case.argv]
    proc = subprocess.run([python, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, wall, cpu, proc.stderr


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m locomt.startbench", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--command", action="append", metavar="NAME",
                   help="only this command, e.g. train or locomt.train (repeatable; default every command)")
    p.add_argument("--repeats", type=int, default=3, help="runs per case; the median is reported (default 3)")
    p.add_argument("--csv", help="also write the table as CSV here")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.repeats < 1:
        raise ValueError(f"--repeats {args.repeats}: expected an integer >= 1")
    known = commands()
    names = None
    if args.command:
        names = [n if n.startswith("locomt.") else f"locomt.{n}" for n in args.command]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"--command {unknown[0]}: unknown; expected one of "
                             f"{', '.join(n.removeprefix('locomt.') for n in known)}")
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from locomt.io import atomic_write_csv
    from locomt.timing import machine_description

    console = Console(stderr=True)
    machine = machine_description()
    rows = []
    for case in REFERENCES + cases(names):
        runs = []
        with tempfile.TemporaryDirectory(prefix="locomt-startbench-") as cwd:
            for _ in range(args.repeats):
                runs.append(run_case(case, cwd))
        codes = sorted({r[0] for r in runs})
        rows.append({"command": case.command.removeprefix("locomt."), "case": case.kind,
                     "argv": " ".join(case.argv).replace(str(REPO) + "/", ""),
                     "exit_code": codes[0] if len(codes) == 1 else "/".join(map(str, codes)),
                     "expected_exit_code": case.exit_code,
                     "wall_seconds": round(statistics.median(r[1] for r in runs), 3),
                     "cpu_seconds": round(statistics.median(r[2] for r in runs), 3),
                     "runs": args.repeats})
        console.print(f"{rows[-1]['command']:<20} {case.kind:<15} {rows[-1]['wall_seconds']:7.2f} s", markup=False)
    df = pd.DataFrame(rows)
    torch_wall = float(df.loc[df["command"] == "import torch", "wall_seconds"].iloc[0])
    df["vs_torch_import"] = (df["wall_seconds"] / torch_wall).round(3)
    rows = df.to_dict("records")
    table = Table(title=f"start-up of every command (median of {args.repeats}), {machine}")
    for col in ("command", "case", "exit_code", "wall_seconds", "cpu_seconds", "vs_torch_import"):
        table.add_column(col, justify="right" if col.endswith("seconds") else "left")
    for r in rows:
        bad = r["exit_code"] != r["expected_exit_code"]
        table.add_row(r["command"], r["case"], f"{r['exit_code']}" + (f" (expected {r['expected_exit_code']})"
                                                                      if bad else ""),
                      f"{r['wall_seconds']:.2f}", f"{r['cpu_seconds']:.2f}", f"{r['vs_torch_import']:.2f}")
    out = Console()
    (out if out.is_terminal else Console(width=120)).print(table)  # piped: not folded into 80 columns
    cmds = df[df["case"] != "reference"]
    print(f"slowest: {cmds['wall_seconds'].max():.2f} s wall ({cmds.loc[cmds['wall_seconds'].idxmax(), 'command']} "
          f"{cmds.loc[cmds['wall_seconds'].idxmax(), 'case']}); cases over 1 s: "
          f"{int((cmds['wall_seconds'] > 1).sum())} of {len(cmds)}; import torch alone: {torch_wall:.2f} s")
    if args.csv:
        df.insert(0, "machine", machine)
        atomic_write_csv(df, args.csv)
        print(f"wrote {args.csv}")
    return 1 if (df["exit_code"] != df["expected_exit_code"]).any() else 0


if __name__ == "__main__":
    from locomt.io import run_cli

    sys.exit(run_cli(main))
