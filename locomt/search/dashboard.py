"""optuna-dashboard over a sweep's study storage: its WSGI app on a threaded server bound to loopback.

optuna-dashboard is an optional extra (``pip install -e .[dashboard]``), imported only by
:func:`require_dashboard`. The server listens on 127.0.0.1 alone: the dashboard can rename and
delete studies, so it is not offered to the network (forward the port over ssh instead).
"""

from __future__ import annotations

from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

if TYPE_CHECKING:
    import optuna

from locomt.io import require_extra

HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    """One thread a request (the dashboard's page polls its API while a plot loads)."""

    daemon_threads = True  # Ctrl-C stops the server without waiting for open requests


class _QuietHandler(WSGIRequestHandler):
    """No line a request on stderr: the page polls the API every few seconds."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def require_dashboard() -> Any:
    """The ``optuna_dashboard`` module, or MissingDependencyError naming the extra that installs it."""
    return require_extra("optuna_dashboard", "optuna-dashboard", "dashboard", "locomt.dashboard")


def dashboard_server(storage: optuna.storages.BaseStorage, port: int = DEFAULT_PORT) -> WSGIServer:
    """A server of optuna-dashboard over ``storage`` bound to ``HOST:port`` (0: any free port; the
    bound one is ``server.server_port``), not yet serving: call ``serve_forever``."""
    if not 0 <= port <= 65535:
        raise ValueError(f"--port {port}; expected a TCP port in 0..65535 (0: any free port)")
    app = require_dashboard().wsgi(storage)
    try:
        return make_server(HOST, port, app, server_class=_ThreadedServer, handler_class=_QuietHandler)
    except OSError as err:
        raise OSError(f"cannot serve on {HOST}:{port} ({err.strerror or err}); give another port "
                      "(make dashboard PORT=8081, or --port)") from None


def study_url(server: WSGIServer, storage: optuna.storages.BaseStorage, study_name: str) -> str:
    """The dashboard's page of ``study_name`` on ``server``."""
    study_id = storage.get_study_id_from_name(study_name)
    return f"http://{HOST}:{server.server_port}/dashboard/studies/{study_id}"
