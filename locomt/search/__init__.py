"""Sweeps over view patterns: search spaces (``space``), the study and its trial record (``study``),
the objective (``objective``), workers (``workers``), starting or resuming a sweep (``session``),
the front's quality (``front``), the report files (``report``) and optuna-dashboard over a study
(``dashboard``). ``python -m locomt.sweep``, ``python -m locomt.report`` and ``python -m
locomt.dashboard`` are the commands over this package."""
