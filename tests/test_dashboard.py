"""python -m locomt.dashboard: optuna-dashboard serves a sweep's study on loopback with the objectives
named (val/acc, gflops); bad input is one line and writes nothing."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

from locomt.dashboard import main
from locomt.io import run_cli
from locomt.search.dashboard import dashboard_server, study_url
from locomt.search.study import create_or_load, open_storage, write_pointer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


@pytest.fixture()
def results(tmp_path) -> Path:
    """A results folder as a sweep leaves it: study.db with three finished trials, sweep.json."""
    out = tmp_path / "results" / "toy"
    out.mkdir(parents=True)
    study, created = create_or_load(open_storage(f"sqlite:///{out / 'study.db'}", None), "toy", "val/acc")
    assert created
    study.set_user_attr("metric", "val/acc")
    for acc, gflops in ((0.5, 1.0), (0.7, 2.0), (0.6, 3.0)):
        trial = study.ask()
        trial.suggest_int("n_cross", 0, 4)
        study.tell(trial, [acc, gflops])
    write_pointer(out, "toy", None)
    return out


def test_create_or_load_names_the_objectives(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}", None)
    new, created = create_or_load(storage, "new", "test/mAP")
    assert created and new.metric_names == ["test/mAP", "gflops"]
    # a study made before the names were set (as Optuna makes it) gets them when the sweep resumes it
    optuna.create_study(storage=storage, study_name="old", directions=["maximize", "minimize"])
    assert optuna.load_study(study_name="old", storage=storage).metric_names is None
    old, created = create_or_load(storage, "old", "val/acc")
    assert not created and old.metric_names == ["val/acc", "gflops"]
    assert optuna.load_study(study_name="old", storage=storage).metric_names == ["val/acc", "gflops"]


def test_server_listens_on_loopback_only(results):
    server = dashboard_server(open_storage(f"sqlite:///{results / 'study.db'}", None), port=0)
    try:
        assert server.server_address[0] == "127.0.0.1" and server.server_port > 0
        assert study_url(server, open_storage(f"sqlite:///{results / 'study.db'}", None), "toy") == (
            f"http://127.0.0.1:{server.server_port}/dashboard/studies/1")
    finally:
        server.server_close()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200
        return json.loads(r.read())


def first_line(proc: subprocess.Popen, seconds: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout=seconds):
        proc.kill()
        raise AssertionError(f"no line from the dashboard in {seconds} s: {proc.communicate()}")
    return proc.stdout.readline()


@pytest.mark.slow
def test_dashboard_serves_the_study_with_named_objectives_and_stops(results):
    proc = subprocess.Popen([sys.executable, "-m", "locomt.dashboard", str(results), "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = first_line(proc, 60)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/dashboard/studies/(\d+)", line)
        assert match and "'toy'" in line, line
        port, study_id = int(match[1]), int(match[2])
        base = f"http://127.0.0.1:{port}"
        summaries = get_json(f"{base}/api/studies")["study_summaries"]
        assert [(s["study_id"], s["study_name"]) for s in summaries] == [(study_id, "toy")]
        assert summaries[0]["directions"] == ["maximize", "minimize"]
        detail = get_json(f"{base}/api/studies/{study_id}")
        assert detail["name"] == "toy" and detail["objective_names"] == ["val/acc", "gflops"]
        assert [t["values"] for t in detail["trials"]] == [[0.5, 1.0], [0.7, 2.0], [0.6, 3.0]]
        with urllib.request.urlopen(f"{base}/dashboard/studies/{study_id}", timeout=30) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        proc.send_signal(signal.SIGTERM)
        start = time.monotonic()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert time.monotonic() - start < 10
    with pytest.raises(ConnectionRefusedError):  # nothing left listening
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert "Traceback" not in err


def one_line_error(capsys, argv: list[str]) -> str:
    assert run_cli(main, argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and not captured.out, captured
    return lines[0]


def listing(folder: Path) -> dict[str, int | None]:
    """Every path below ``folder``, with its mtime where it is a file."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns if p.is_file() else None for p in folder.rglob("*")}


@pytest.mark.timeout(120)
def test_bad_input_is_one_line_and_writes_nothing(results, tmp_path, capsys, monkeypatch):
    before = listing(tmp_path)
    err = one_line_error(capsys, [str(tmp_path / "results" / "bogus")])  # no sweep of that dataset yet
    assert "has no sweep.json or study.db" in err and "make sweep DATASET=bogus" in err
    empty = tmp_path / "results" / "empty"
    empty.mkdir()
    (empty / "sweep.json").write_text('{"study": "empty", "storage": null}')
    assert "empty has no study.db (its sweep.json names no other storage)" in one_line_error(capsys, [str(empty)])
    (empty / "sweep.json").write_text(json.dumps({"study": "x", "storage": f"sqlite:///{empty / 'study.db'}"}))
    assert "run the sweep first (make sweep)" in one_line_error(capsys, [str(empty)])
    assert "no study 'other'" in one_line_error(capsys, [str(results), "--study", "other"])
    assert "--port 70000" in one_line_error(capsys, [str(results), "--port", "70000"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert f"cannot serve on 127.0.0.1:{port}" in one_line_error(capsys, [str(results), "--port", str(port)])
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # import optuna_dashboard now raises ImportError
    err = one_line_error(capsys, [str(results), "--port", "0"])
    assert "optuna-dashboard is not installed" in err and "pip install -e .[dashboard]" in err
    (empty / "sweep.json").unlink()
    empty.rmdir()
    assert listing(tmp_path) == before


def test_make_dashboard_runs_the_command_on_the_dataset_folder():
    dry = subprocess.run(["make", "-n", "dashboard", "DATASET=medvidcl", "PORT=9001"], cwd=REPO, capture_output=True,
                         text=True, env={**os.environ, "MAKEFLAGS": ""}, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "-m locomt.dashboard results/medvidcl --port 9001" in dry.stdout
