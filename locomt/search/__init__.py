"""Sweeps over view patterns: search spaces (``space``), the study and its trial record (``study``),
the objective (``objective``), workers (``workers``), starting or resuming a sweep (``session``),
the front's quality (``front``) and the report files (``report``). ``python -m locomt.sweep`` and
``python -m locomt.report`` are the commands over this package."""
