"""The backbone registry: a name per backbone class, with what each declares about itself.

``@register_backbone("name", takes_pattern=..., baseline=...)`` on a ``BackbonePlan`` subclass
(``locomt.models.plans``) makes it buildable by name. ``takes_pattern``: the backbone reads
``ModelConfig.pattern`` (LoCoMT's per-head views); ``baseline``: sweeps and ablations train it as a fusion baseline to compare against. Code
asks the registry (``takes_pattern(name)``, ``baselines()``) rather than comparing names.
"""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T", bound=type)
_BACKBONES: dict[str, type] = {}


def register_backbone(name: str, *, takes_pattern: bool = False, baseline: bool = False,
                      reference: bool = False) -> Callable[[T], T]:
    """Class decorator: make a backbone buildable by name. Duplicate names are an error, and so is
    a second ``reference`` (the one backbone every cost ratio is taken against)."""

    def add(cls: T) -> T:
        if name in _BACKBONES:
            raise ValueError(f"backbone {name!r} is already registered (by {_BACKBONES[name].__name__})")
        if reference and any(c.reference for c in _BACKBONES.values()):
            raise ValueError(f"backbone {name!r}: {reference_backbone()!r} is already the reference")
        cls.name, cls.takes_pattern, cls.baseline, cls.reference = name, takes_pattern, baseline, reference
        _BACKBONES[name] = cls
        return cls

    return add


def list_backbones() -> list[str]:
    """Registered backbone names, in registration order."""
    return list(_BACKBONES)


def get_backbone(name: str) -> type:
    try:
        return _BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; expected one of {', '.join(_BACKBONES)}") from None


def takes_pattern(name: str) -> bool:
    """Whether backbone ``name`` reads a view pattern (an unknown name is an error)."""
    return get_backbone(name).takes_pattern


def baselines() -> tuple[str, ...]:
    """The backbones registered as baselines, in registration order."""
    return tuple(n for n, cls in _BACKBONES.items() if cls.baseline)


def reference_backbone() -> str:
    """The backbone cost and time ratios are taken against (joint fusion)."""
    return next(n for n, cls in _BACKBONES.items() if cls.reference)
