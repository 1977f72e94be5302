"""The view-pattern grammar: which attention view each head of each fusion layer takes.

Grammar (modality codes are declared by the dataset, e.g. ``v`` video, ``a`` audio, ``t`` text):

- a *view* is ``s`` (self: every modality attends within itself) or a pair of modality codes
  in declared order (``va``: video queries attend to audio keys and audio queries to video keys);
- a *layer* is counts joined by ``+`` that sum to the number of heads: ``8s+4va``;
- a *model pattern* is one layer spec used for every fusion layer, or one spec per fusion layer
  joined by ``/``: ``12s/12s/6s+6va/12va``;
- a *preset* resolves to the grammar: ``all-self``, ``all-cross``, ``half``, ``alternate``,
  ``bottom-self``, ``random:SEED``.

``resolve_pattern`` parses any of these into a ``Pattern`` and ``str(pattern)`` formats the one
canonical string (views ordered ``s`` then pairs in declared order, zero counts dropped, a single
spec when every layer is the same).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np

SELF = "s"
PRESETS = ("all-self", "all-cross", "half", "alternate", "bottom-self", "random:SEED")
NAMED_PRESETS = tuple(p for p in PRESETS if ":" not in p)  # the presets that need no argument
_TERM = re.compile(r"^(\d+)([a-z]+)$")


class PatternError(ValueError):
    """A view pattern that does not fit the grammar, the modalities or the model shape."""


def view_names(codes: str | tuple[str, ...]) -> tuple[str, ...]:
    """All views for modalities with these codes, in canonical order: ``s`` then the pairs."""
    codes = tuple(codes)
    return (SELF,) + tuple(a + b for a, b in itertools.combinations(codes, 2))


@dataclass(frozen=True)
class Pattern:
    """Per fusion layer, the number of heads on each view (in ``view_names(codes)`` order)."""

    codes: tuple[str, ...]
    n_heads: int
    layers: tuple[tuple[int, ...], ...]

    @property
    def views(self) -> tuple[str, ...]:
        return view_names(self.codes)

    def layer_views(self, layer: int) -> list[tuple[str, int]]:
        """(view, head count) of one fusion layer, zero counts dropped, canonical order."""
        return [(v, c) for v, c in zip(self.views, self.layers[layer]) if c]

    def head_views(self, layer: int) -> list[str]:
        """The view of every head of one fusion layer: heads are grouped by view in canonical order."""
        return [v for v, c in self.layer_views(layer) for _ in range(c)]

    def n_cross_heads(self) -> int:
        return sum(sum(layer[1:]) for layer in self.layers)

    def __str__(self) -> str:
        specs = ["+".join(f"{c}{v}" for v, c in self.layer_views(i)) for i in range(len(self.layers))]
        if specs and all(s == specs[0] for s in specs):
            return specs[0]
        return "/".join(specs)


def _pairs(codes: tuple[str, ...]) -> list[str]:
    return list(view_names(codes)[1:])


def _spread(n: int, k: int) -> list[int]:
    """n heads spread as evenly as possible over k views, the remainder to the first views."""
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _layer_all_self(codes, n_heads):
    return (n_heads,) + (0,) * len(_pairs(codes))


def _layer_all_cross(codes, n_heads):
    return (0,) + tuple(_spread(n_heads, len(_pairs(codes))))


def _layer_half(codes, n_heads):
    n_self = n_heads // 2
    return (n_self,) + tuple(_spread(n_heads - n_self, len(_pairs(codes))))


def _preset(name: str, codes: tuple[str, ...], n_heads: int, n_layers: int) -> tuple[tuple[int, ...], ...] | None:
    if name == "all-self":
        return (_layer_all_self(codes, n_heads),) * n_layers
    if name == "all-cross":
        return (_layer_all_cross(codes, n_heads),) * n_layers
    if name == "half":
        return (_layer_half(codes, n_heads),) * n_layers
    if name == "alternate":
        return tuple(
            _layer_all_self(codes, n_heads) if i % 2 == 0 else _layer_all_cross(codes, n_heads) for i in range(n_layers)
        )
    if name == "bottom-self":
        n_low = n_layers // 2
        return tuple(
            _layer_all_self(codes, n_heads) if i < n_low else _layer_half(codes, n_heads) for i in range(n_layers)
        )
    if name.startswith("random:"):
        seed_text = name.split(":", 1)[1]
        if not seed_text.isdigit():
            raise PatternError(f"preset {name!r}: the seed must be a non-negative integer, as in 'random:0'")
        rng = np.random.default_rng(int(seed_text))
        n_views = len(view_names(codes))
        draws = rng.integers(0, n_views, size=(n_layers, n_heads))
        return tuple(tuple(int((row == v).sum()) for v in range(n_views)) for row in draws)
    return None


def _parse_layer(spec: str, codes: tuple[str, ...], n_heads: int, where: str) -> tuple[int, ...]:
    views = view_names(codes)
    counts = [0] * len(views)
    seen: set[str] = set()
    if not spec:
        raise PatternError(f"{where}: empty layer spec; expected counts joined by '+', e.g. '{n_heads}s'")
    for term in spec.split("+"):
        m = _TERM.match(term.strip())
        if not m:
            raise PatternError(
                f"{where}: bad term {term!r}; expected COUNT followed by a view, e.g. '4s' or '4{''.join(codes[:2])}'"
            )
        count, view = int(m.group(1)), m.group(2)
        if view not in views:
            unknown = [c for c in view if c != SELF and c not in codes]
            if view != SELF and len(view) == 2 and unknown:
                why = f"modality code {unknown[0]!r} is not one of this dataset's ({', '.join(codes)})"
            elif len(view) == 2 and view[::-1] in views:
                why = f"pairs are written in declared order: {view[::-1]!r}"
            else:
                why = "not a view"
            raise PatternError(f"{where}: unknown view {view!r} in {term!r} ({why}); views are {', '.join(views)}")
        if view in seen:
            raise PatternError(f"{where}: view {view!r} appears twice in {spec!r}; give each view once")
        seen.add(view)
        counts[views.index(view)] = count
    if sum(counts) != n_heads:
        raise PatternError(f"{where}: counts in {spec!r} sum to {sum(counts)}, expected the head count {n_heads}")
    return tuple(counts)


def resolve_pattern(text: str, codes: str | tuple[str, ...], n_heads: int, n_layers: int) -> Pattern:
    """Parse a pattern spec or preset for a model with these modality codes and fusion-layer shape.

    ``n_layers`` is the number of fusion layers (layers from ``fusion_layer`` on).
    """
    codes = tuple(codes)
    if n_heads < 1:
        raise PatternError(f"n_heads must be >= 1, got {n_heads}")
    text = str(text).strip()
    preset = _preset(text, codes, n_heads, n_layers)
    if preset is not None:
        return Pattern(codes, n_heads, preset)
    if re.fullmatch(r"[a-z-]+(:.*)?", text) and not re.search(r"\d", text.split(":")[0]):
        raise PatternError(
            f"unknown preset {text!r}; presets are {', '.join(PRESETS)}, or write a spec such as "
            f"'{n_heads}s' or '{n_heads // 2}s+{n_heads - n_heads // 2}{''.join(codes[:2])}'"
        )
    specs = text.split("/")
    if len(specs) == 1:
        layer = _parse_layer(specs[0], codes, n_heads, f"pattern {text!r}")
        return Pattern(codes, n_heads, (layer,) * n_layers)
    if len(specs) != n_layers:
        expected = "1" if n_layers == 1 else f"1 (for all layers) or {n_layers} (one per fusion layer) joined by '/'"
        raise PatternError(f"pattern {text!r} gives {len(specs)} layer specs, expected {expected}")
    layers = tuple(
        _parse_layer(s.strip(), codes, n_heads, f"pattern {text!r}, fusion layer {i}") for i, s in enumerate(specs)
    )
    return Pattern(codes, n_heads, layers)


def canonical(text: str, codes: str | tuple[str, ...], n_heads: int, n_layers: int) -> str:
    """The one canonical spelling of a pattern spec or preset."""
    return str(resolve_pattern(text, codes, n_heads, n_layers))


def layer_specs(codes: str | tuple[str, ...], n_heads: int) -> list[str]:
    """Every canonical layer spec: all ways to split ``n_heads`` heads over the views (counts only,
    since heads are interchangeable at random initialisation), most self heads first."""
    views = view_names(codes)
    specs = []
    for cuts in itertools.combinations(range(n_heads + len(views) - 1), len(views) - 1):  # stars and bars
        bounds = (-1,) + cuts + (n_heads + len(views) - 1,)
        counts = [bounds[i + 1] - bounds[i] - 1 for i in range(len(views))]
        specs.append("+".join(f"{c}{v}" for v, c in zip(views, counts) if c))
    return specs[::-1]
