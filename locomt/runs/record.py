"""The run record: what one training run produced, as ``metrics.json`` holds it.

Metrics keep the names the LightningModule logs them under (``val/acc``, ``test/acc``, ``test/f1``,
``test/mAP``, ``test/loss``) from the task through ``metrics.json``, the study and every CSV:
``val/<metric>`` is the monitored validation metric at the selected (best) checkpoint, ``test/*``
the test metrics of that checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from locomt.io import atomic_write_text

CONFIG_FILE = "config.yaml"  # a run directory's config (written by locomt.runs.fit)
METRICS_FILE = "metrics.json"
FORMAT = 2


@dataclass(frozen=True)
class RunRecord:
    """One finished run: its model, metrics, analytic cost and training time."""

    backbone: str
    pattern: str  # canonical view pattern; "" for a backbone without views
    monitor: str  # the validation metric that picked the checkpoint, e.g. val/acc
    metrics: dict[str, float] = field(default_factory=dict)  # val/<monitor> and test/* of that checkpoint
    params: int = 0
    gmacs: float = 0.0
    gflops: float = 0.0
    train_seconds: float = 0.0
    epochs: int = 0
    seed: int = 0
    logs: dict[str, str] = field(default_factory=dict)  # logger -> where it wrote, relative to the run directory

    @property
    def val(self) -> float:
        """The monitored validation metric of the selected checkpoint."""
        return self.metrics[self.monitor]

    @property
    def test(self) -> dict[str, float]:
        return {k: v for k, v in self.metrics.items() if k.startswith("test/")}

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "RunRecord":
        data = json.loads(text)
        if "format" not in data:  # written before the record had a format: best_val_acc and a test dict
            best = next(k for k in data if k.startswith("best_val_"))
            monitor = "val/" + best.removeprefix("best_val_")
            data = {**{k: data[k] for k in ("backbone", "pattern", "params", "gmacs", "gflops", "train_seconds",
                                            "epochs", "seed")},
                    "monitor": monitor, "metrics": {monitor: data[best], **data["test"]}}
        data.pop("format", None)
        return cls(**data)

    def write(self, run_dir: str | Path) -> Path:
        return atomic_write_text(Path(run_dir) / METRICS_FILE, self.to_json())

    @classmethod
    def read(cls, run_dir: str | Path) -> "RunRecord":
        path = Path(run_dir) / METRICS_FILE
        try:
            return cls.from_json(path.read_text())
        except (ValueError, KeyError, TypeError, StopIteration) as err:  # JSONDecodeError is a ValueError
            raise ValueError(f"run record {path} is unreadable ({type(err).__name__}: {err}); "
                             "delete it to train the run again") from None
