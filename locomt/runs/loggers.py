"""Where a run's metrics go: ``trainer.loggers``, any of

* ``csv``: ``RUN_DIR/metrics.csv``, every epoch exactly once across resumes (``locomt.runs.history``);
* ``tensorboard``: Lightning's TensorBoardLogger, event files in ``RUN_DIR/tensorboard/``;
* ``mlflow``: Lightning's MLFlowLogger, a store of the run's own in ``RUN_DIR/mlflow/mlflow.db``
  (SQLite: no server; experiment ``locomt``, one MLflow run named after the run directory).

Every logger gets the names the LightningModule logs (``train/loss``, ``val/acc``, ``test/f1`` ...;
MLflow accepts ``/`` in metric names) at the same steps. tensorboard and mlflow are optional extras
(``pip install -e '.[tensorboard]'``, ``'.[mlflow]'``; mlflow-skinny, which logs and reads the store;
the browser UI ``mlflow ui`` is the full ``mlflow`` package): :func:`check_loggers` says which is
missing, in one line, before anything is written. The loggers are built once the run directory is
open, on rank 0 only (opening an MLflow store creates its database).

A resumed run goes on in the same logs: the CSV keeps its finished epochs, TensorBoard drops the
events of the epoch that was cut short (``purge_step``: a reader keeps the values logged again) and
MLflow continues the run its store holds (found in the store, so a copied or renamed run directory
continues too): one MLflow run however often the run was stopped. MLflow cannot delete values, so
the steps of an epoch cut short stay in its history next to those logged again.

MLflow's file store (``mlruns/``) is refused by MLflow 3.17 ("maintenance mode", unless
``MLFLOW_ALLOW_FILE_STORE=true``); its SQLite store is what MLflow recommends instead.
"""

from __future__ import annotations

import importlib
import logging
import shlex
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from locomt.io import MissingDependencyError
from locomt.runs.checkpoints import ResumePoint
from locomt.runs.history import METRICS_CSV, HistoryCSVLogger

TENSORBOARD_DIR = "tensorboard"
MLFLOW_DIR = "mlflow"
MLFLOW_DB = "mlflow.db"
MLFLOW_EXPERIMENT = "locomt"
# logger -> (the module it needs, the extra of pyproject.toml that installs it)
_PACKAGES = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}


def check_loggers(loggers: Sequence[str]) -> None:
    """MissingDependencyError (one line naming the extra to install) when a logger's package is missing."""
    for name in loggers:
        if name not in _PACKAGES:
            continue
        module, extra = _PACKAGES[name]
        try:
            importlib.import_module(module)
        except ImportError:
            raise MissingDependencyError(f"trainer.loggers holds {name!r} but the {module} package is not installed; "
                                         f"install it with pip install -e '.[{extra}]'") from None


def log_files(loggers: Sequence[str]) -> dict[str, str]:
    """Where each logger writes, relative to the run directory."""
    where = {"csv": METRICS_CSV, "tensorboard": f"{TENSORBOARD_DIR}/", "mlflow": f"{MLFLOW_DIR}/{MLFLOW_DB}"}
    return {name: where[name] for name in loggers}


def tracking_uri(run_dir: str | Path) -> str:
    """The MLflow tracking URI of a run's store (an absolute SQLite path)."""
    return f"sqlite:///{(Path(run_dir) / MLFLOW_DIR / MLFLOW_DB).resolve()}"


def where_logs_are(loggers: Sequence[str], run_dir: str | Path) -> str:
    """One line: where a run's logs are and the command that shows each."""
    run_dir = Path(run_dir)
    shown = {"csv": str(run_dir / METRICS_CSV),
             "tensorboard": f"tensorboard --logdir {shlex.quote(str(run_dir / TENSORBOARD_DIR))}",
             "mlflow": f"mlflow ui --backend-store-uri {shlex.quote(tracking_uri(run_dir))}"}
    return "logs: " + ("; ".join(shown[name] for name in loggers) or "none (trainer.loggers is empty)")


def clear_logs(run_dir: Path) -> None:
    """Remove the TensorBoard and MLflow logs of an attempt that finished no epoch (a fresh start)."""
    import shutil

    for name in (TENSORBOARD_DIR, MLFLOW_DIR):
        shutil.rmtree(run_dir / name, ignore_errors=True)


def build_loggers(loggers: Sequence[str], run_dir: Path, start: ResumePoint | None) -> list[Any]:
    """The Lightning loggers of a run (``start``: where a resumed run goes on; None for a fresh one)."""
    out: list[Any] = []
    for name in loggers:
        if name == "csv":
            out.append(HistoryCSVLogger(run_dir, keep_epochs=start.epoch if start else None))
        elif name == "tensorboard":
            from lightning.pytorch.loggers import TensorBoardLogger

            # purge_step: a reader drops what earlier files hold from the first step the resumed run logs
            out.append(TensorBoardLogger(run_dir, name=TENSORBOARD_DIR, version="", default_hp_metric=False,
                                         purge_step=start.global_step if start else None))
        elif name == "mlflow":
            out.append(mlflow_logger(run_dir, resume=start is not None))
        else:
            raise ValueError(f"trainer.loggers holds {name!r}; expected csv, tensorboard or mlflow")
    return out


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """MLflow's info lines ("Creating initial MLflow database tables...") off while its store opens,
    and SQLAlchemy 2.1's deprecation of a loader MLflow's store uses (not ours to fix)."""
    lg = logging.getLogger("mlflow")
    level = lg.level
    lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*``noload`` loader strategy is deprecated.*")
            yield
    finally:
        lg.setLevel(level)


def mlflow_run_id(client: Any) -> str | None:
    """The newest run of the ``locomt`` experiment in a run's own store (None when there is none)."""
    exp = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def mlflow_logger(run_dir: Path, resume: bool) -> Any:
    """Lightning's MLFlowLogger on the run's store; a resumed run continues the MLflow run the store
    holds (marked running again), a fresh one starts a run named after the run directory."""
    from lightning.pytorch.loggers import MLFlowLogger
    from mlflow.tracking import MlflowClient

    (run_dir / MLFLOW_DIR).mkdir(parents=True, exist_ok=True)
    uri = tracking_uri(run_dir)
    with quiet_mlflow():
        client = MlflowClient(uri)
        run_id = mlflow_run_id(client) if resume else None
        if run_id is not None:
            client.update_run(run_id, status="RUNNING")
        elif client.get_experiment_by_name(MLFLOW_EXPERIMENT) is None:
            client.create_experiment(MLFLOW_EXPERIMENT,
                                     artifact_location=(run_dir / MLFLOW_DIR / "artifacts").resolve().as_uri())
        return MLFlowLogger(experiment_name=MLFLOW_EXPERIMENT, run_name=run_dir.name, tracking_uri=uri, run_id=run_id)
