"""Every ``python -m locomt.X`` command answers ``--help``, an unknown option and a config error
without importing torch, Lightning, Optuna, pandas, matplotlib or the media decoders: it imports
them inside ``main`` once its arguments and config are checked. The cases are those that
``python -m locomt.startbench`` times (``locomt.startbench.CASES``); this test does not time them,
it looks at ``sys.modules`` of a fresh interpreter after each. (Run the benchmark for the seconds.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from locomt.startbench import CONFIG_ERRORS, HEAVY, cases, commands

# Runs the command's main in-process in a fresh interpreter, then reports its exit status and which
# heavy packages ended up imported (argparse exits with SystemExit, errors through run_cli).
DRIVER = """
import importlib, json, sys
cmd, argv = sys.argv[1], sys.argv[2:]
from locomt.io import run_cli
module = importlib.import_module(cmd)
try:
    code = run_cli(module.main, argv)
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.__stdout__.write("\\nRESULT " + json.dumps({{"code": code, "heavy": heavy}}) + "\\n")
""".format(heavy=HEAVY)

CASES = cases()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every case, two at a time (a fresh interpreter each), in an empty folder of its own."""

    def run(case):
        cwd = tmp_path_factory.mktemp("startup")
        proc = subprocess.run([sys.executable, "-c", DRIVER, case.command, *case.argv], cwd=cwd,
                              capture_output=True, text=True, timeout=120)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        assert line, f"{case}: no result; stderr: {proc.stderr[-2000:]}"
        return {**json.loads(line[-1][len("RESULT "):]), "stderr": proc.stderr, "files": sorted(
            str(p.relative_to(cwd)) for p in cwd.rglob("*"))}

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(CASES, pool.map(run, CASES)))


def test_every_command_has_its_cases():
    assert set(CONFIG_ERRORS) == set(commands()), "add a config-error case to locomt.startbench.CONFIG_ERRORS"
    assert {"locomt.train", "locomt.sweep", "locomt.searchbench", "locomt.fetch", "locomt.dashboard"} <= set(commands())


@pytest.mark.slow  # 39 fresh interpreters
@pytest.mark.parametrize("case", CASES, ids=[f"{c.command.removeprefix('locomt.')}-{c.kind}" for c in CASES])
def test_answers_without_heavy_imports(results, case):
    r = results[case]
    assert r["code"] == case.exit_code, f"{case}: exit {r['code']}; stderr: {r['stderr'][-1000:]}"
    assert not r["heavy"], f"{case} imported {r['heavy']}: import them inside main, after the checks"
    if case.exit_code:
        errors = [x for x in r["stderr"].splitlines() if "error:" in x]
        assert len(errors) == 1 and "Traceback" not in r["stderr"], r["stderr"]
    assert not r["files"], f"{case} left {r['files']}"


@pytest.mark.slow
def test_the_check_can_fail():
    """The driver does see a heavy import: a command whose main imports pandas is caught."""
    code = DRIVER.replace("module = importlib.import_module(cmd)",
                          "import pandas\nmodule = importlib.import_module(cmd)")
    proc = subprocess.run([sys.executable, "-c", code, "locomt.report", "--help"], capture_output=True, text=True,
                          timeout=120)
    result = json.loads(proc.stdout.splitlines()[-1][len("RESULT "):])
    assert result["code"] == 0 and "pandas" in result["heavy"]
