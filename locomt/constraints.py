"""Constraints declared where config fields are declared, and the one generic check of them.

A dataclass field says what values it accepts in its metadata, from a small vocabulary::

    n_heads: int = field(default=12, metadata=at_least(1))
    dropout: float = field(default=0.0, metadata=between(0.0, 1.0, hi_open=True))
    backend: str = field(default="decord", metadata=one_of("decord", "pyav"))

and the class's ``__post_init__`` calls :func:`check_fields` first, so a value is checked however
the object is built (``locomt.config.from_dict``, a constructor, ``dataclasses.replace``). Errors
are one line naming the key, the value and what is expected: ``model.d_model=-4: expected an
integer >= 1``. The key is dotted when the object is built inside :func:`section` (``from_dict``
does that, so every config error names e.g. ``model.d_model``); cross-field rules spell their keys
with :func:`key` so they are dotted the same way. ``Check.bad`` holds values that violate a
constraint, so tests can walk a schema and try each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields
from typing import Any

CHECK = "check"  # the metadata key
MAX_SEED = 2**32 - 1  # seeds are 0..MAX_SEED: what numpy and Lightning's seed_everything accept
_SECTION: ContextVar[str] = ContextVar("locomt_config_section", default="")


@contextmanager
def section(where: str) -> Iterator[None]:
    """Objects built inside name their fields ``where.field`` in errors (``""``: bare names)."""
    token = _SECTION.set(where)
    try:
        yield
    finally:
        _SECTION.reset(token)


def key(name: str) -> str:
    """The dotted key of field ``name`` of the object being built (see :func:`section`)."""
    where = _SECTION.get()
    return f"{where}.{name}" if where else name


@dataclass(frozen=True)
class Check:
    """One constraint: ``ok(value)`` decides, ``expect`` says what is accepted, ``bad`` are values
    that fail it (for tests), ``choices`` lists an enumeration's values (None for ranges)."""

    expect: str
    ok: Callable[[Any], bool]
    bad: tuple[Any, ...] = ()
    choices: Callable[[], tuple[Any, ...]] | None = None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _meta(check: Check) -> dict[str, Check]:
    return {CHECK: check}


def at_least(low: int | float, *, integer: bool = True) -> dict[str, Check]:
    """A finite number >= ``low`` (an integer unless ``integer=False``)."""
    kind = "an integer" if integer else "a number"
    bad = (low - 1, -(10**6)) if integer else (low - 0.5, float("nan"), float("inf"))
    return _meta(Check(f"{kind} >= {low}", lambda v: _number(v) and (not integer or isinstance(v, int)) and v >= low,
                       bad))


def positive() -> dict[str, Check]:
    """A finite number > 0."""
    return _meta(Check("a finite number > 0", lambda v: _number(v) and v > 0, (0.0, -1.0, float("nan"), float("inf"))))


def between(low: float, high: float, *, lo_open: bool = False, hi_open: bool = False,
            integer: bool = False) -> dict[str, Check]:
    """A finite number in the interval from ``low`` to ``high`` (each end closed unless open)."""
    text = f"{'(' if lo_open else '['}{low}, {high}{')' if hi_open else ']'}"

    def ok(v: Any) -> bool:
        if not _number(v) or (integer and not isinstance(v, int)):
            return False
        return (v > low if lo_open else v >= low) and (v < high if hi_open else v <= high)

    bad = (low - 1, high + 1) + ((low,) if lo_open else ()) + ((high,) if hi_open else ())
    if not integer:
        bad += (float("nan"),)
    return _meta(Check(f"{'an integer' if integer else 'a number'} in {text}", ok, bad))


def one_of(*choices: Any, lazy: Callable[[], Iterable[Any]] | None = None) -> dict[str, Check]:
    """One of ``choices``, or of what ``lazy()`` returns (a registry filled at import, a library's
    list), which is only asked for when the value is not among ``choices``."""
    def values() -> tuple[Any, ...]:
        return choices + (tuple(lazy()) if lazy is not None else ())

    return _meta(Check("one of {}", lambda v: v in choices or v in values(), ("no-such-value",), values))


def each(inner: dict[str, Check], *, length: int | None = None, unique: bool = False) -> dict[str, Check]:
    """A list whose every element meets ``inner`` (of ``length`` elements; no repeats when ``unique``)."""
    c = inner[CHECK]
    parts = [f"{length} values," if length else "a list of values,", f"each {c.expect}"]
    if unique:
        parts[-1] += ","
        parts.append("without repeats")

    def ok(v: Any) -> bool:
        if not isinstance(v, (list, tuple)) or (length is not None and len(v) != length):
            return False
        return all(c.ok(x) for x in v) and (not unique or len(set(v)) == len(v))

    bad = tuple((b,) * (length or 1) for b in c.bad[:1])
    if length:
        bad += ((c.bad[0],) * (length + 1),) if c.bad else ()
    return _meta(Check(" ".join(parts), ok, bad, c.choices))


def text(*, empty: bool = False, forbid: str = "") -> dict[str, Check]:
    """A string (non-empty unless ``empty``; without any character of ``forbid``)."""
    what = "a string" if empty else "a non-empty string"
    if forbid:
        what += f" without {' or '.join(repr(c) for c in forbid)}"
    return _meta(Check(what, lambda v: isinstance(v, str) and (empty or v.strip() != "") and not set(forbid) & set(v),
                       (("",) if not empty else ()) + ((f"a{forbid[0]}b",) if forbid else ())))


def check_seed(name: str, value: object) -> int:
    """``value`` when it is a seed (an integer in 0..MAX_SEED), else ValueError naming ``name``: a seed
    is checked where it is given, before anything is written, not where numpy refuses it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name}={value!r}: expected an integer in 0..{MAX_SEED} (numpy's seed range)")
    return value


def custom(expect: str, ok: Callable[[Any], bool], bad: tuple[Any, ...]) -> dict[str, Check]:
    """A constraint of its own: ``ok(value)``; ``expect`` says what is accepted."""
    return _meta(Check(expect, ok, bad))


def expectation(check: Check) -> str:
    """What ``check`` accepts, with an enumeration's values filled in."""
    if check.choices is not None:
        return check.expect.format(", ".join(str(c) for c in check.choices()))
    return check.expect


def check_fields(obj: Any) -> None:
    """ValueError naming the first field of dataclass ``obj`` whose value breaks its declared constraint."""
    for f in fields(obj):
        c = f.metadata.get(CHECK)
        if c is None:
            continue
        value = getattr(obj, f.name)
        try:
            good = c.ok(value)
        except TypeError:  # e.g. a string compared with a number
            good = False
        if not good:
            shown = list(value) if isinstance(value, tuple) else value
            raise ValueError(f"{key(f.name)}={shown!r}: expected {expectation(c)}")
