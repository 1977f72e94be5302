"""``python -m locomt.dashboard results/<dataset>``: browse a sweep's study with optuna-dashboard on loopback.

    pip install -e .[dashboard]
    python -m locomt.dashboard results/synthetic-medvidcl [--port 8080]
    make dashboard DATASET=synthetic-medvidcl [PORT=8080]

The study is found as ``python -m locomt.report`` finds it: the folder's ``sweep.json`` (the
default storage is ``sqlite:///results/DATASET/study.db``), or ``--storage`` and ``--study``. The
server listens on 127.0.0.1 only; from another machine, forward the port (``ssh -L
8080:127.0.0.1:8080 HOST``). Ctrl-C stops it. The library is :mod:`locomt.search.dashboard`.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from locomt.io import run_cli
from locomt.search.dashboard import DEFAULT_PORT, dashboard_server, require_dashboard, study_url


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m locomt.dashboard", description=__doc__.split("\n")[0])
    p.add_argument("folder", help="results folder of a sweep, e.g. results/synthetic-medvidcl")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)")
    p.add_argument("--storage", help="Optuna storage URL (default: from FOLDER/sweep.json)")
    p.add_argument("--study", help="study name (default: from FOLDER/sweep.json)")
    args = p.parse_args(argv)
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: expected a port in 0..65535 (0: any free port)")
    require_dashboard()  # before anything else: the one line names the extra
    from locomt.search.study import find_study  # Optuna: once the arguments are read

    storage, name = find_study(Path(args.folder), args.storage, args.study)
    server = dashboard_server(storage, args.port)
    print(f"optuna-dashboard: study {name!r} of {args.folder} at {study_url(server, storage, name)} "
          "(Ctrl-C stops)", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # kill PID stops it as Ctrl-C does
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
