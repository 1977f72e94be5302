"""locomt: LoCoMT per-head attention views, fusion baselines and an exact cost model."""

__version__ = "0.1.0"
