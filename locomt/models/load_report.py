"""What loading a pretrained checkpoint did: parameters loaded, adapted (and how), missing, and
checkpoint keys left unused, as a short summary, a full rich table or plain text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from locomt.models.checkpoints import compact_names

@dataclass(frozen=True)
class Entry:
    """One report row: the model parameters concerned, the checkpoint key(s), and how or why."""

    model: tuple[str, ...]
    checkpoint: str
    how: str = ""


@dataclass
class LoadReport:
    """What ``load_pretrained`` did. Counts are parameter tensors of the model (loaded, adapted,
    missing) and keys of the checkpoint (unexpected)."""

    path: str
    naming: str
    checkpoint_layers: int
    model_layers: int
    loaded: list[Entry] = field(default_factory=list)
    adapted: list[Entry] = field(default_factory=list)
    missing: list[Entry] = field(default_factory=list)
    unexpected: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    CATEGORIES = ("loaded", "adapted", "missing", "unexpected")

    def counts(self) -> dict[str, int]:
        out = {c: sum(len(e.model) for e in getattr(self, c)) for c in ("loaded", "adapted", "missing")}
        out["unexpected"] = len(self.unexpected)
        return out

    def header(self) -> str:
        return (f"init_from {self.path} ({self.naming} naming, {self.checkpoint_layers} layers "
                f"into {self.model_layers})")

    def summary(self) -> str:
        """A few lines: the source and one line per category (counts and the first names)."""
        c = self.counts()
        lines = [self.header()]
        lines.append(f"  loaded      {c['loaded']:4d} tensors copied")
        hows = sorted({e.how for e in self.adapted})
        lines.append(f"  adapted     {c['adapted']:4d} ({'; '.join(hows)})" if hows else "  adapted        0")
        for cat in ("missing", "unexpected"):
            names = [compact_names(e.model) if cat == "missing" else e.checkpoint for e in getattr(self, cat)]
            shown = ", ".join(names[:4]) + (f", ... (+{len(names) - 4})" if len(names) > 4 else "")
            lines.append(f"  {cat:<11} {c[cat]:4d}" + (f" ({shown})" if names else ""))
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("  (full report: python -m locomt.inspect_checkpoint)")
        return "\n".join(lines)

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(category, model parameters, checkpoint key, how/why): one row per entry, except that the
        tensors of one transformer layer (same blocks, same checkpoint layer, same reason) share a row."""
        out: list[tuple[str, str, str, str]] = []
        for cat in self.CATEGORIES:
            groups: list[tuple[tuple[str, str, str], list[Entry]]] = []
            for e in getattr(self, cat):
                key = (_layer_prefix(compact_names(e.model), _MODEL_LAYER), _layer_prefix(e.checkpoint, _CKPT_LAYER), e.how)
                if key[0] or key[1]:
                    if groups and groups[-1][0] == key:
                        groups[-1][1].append(e)
                        continue
                groups.append((key, [e]))
            for (model, ckpt, how), entries in groups:
                if len(entries) == 1:
                    e = entries[0]
                    out.append((cat, compact_names(e.model), e.checkpoint, e.how))
                else:
                    copies = len(entries[0].model)
                    what = f"{len(entries)} tensors" + (f", each into {copies} blocks" if copies > 1 else "")
                    out.append((cat, model + ".*" if model else "", ckpt + ".*" if ckpt else "",
                                f"{how} ({what})" if how else what))
        return out

    def table(self):
        """The full report as a rich Table."""
        from rich import box
        from rich.table import Table

        c = self.counts()
        table = Table(title=self.header(), title_justify="left", box=box.SIMPLE_HEAD,
                      caption=" · ".join(f"{k} {v}" for k, v in c.items())
                      + "".join(f"\nnote: {n}" for n in self.notes), caption_justify="left")
        table.add_column("", no_wrap=True)
        for col in ("model parameter", "checkpoint key", "how / why"):
            table.add_column(col, overflow="fold", ratio=1)
        for row in self.rows():
            table.add_row(*row)
        return table

    def __str__(self) -> str:
        lines = [self.header()]
        for cat in self.CATEGORIES:
            lines.append(f"{cat} ({self.counts()[cat]}):")
            for e in getattr(self, cat):
                model = compact_names(e.model)
                arrow = f"{model} <- {e.checkpoint}" if model and e.checkpoint else model or e.checkpoint
                lines.append(f"  {arrow}" + (f"  [{e.how}]" if e.how else ""))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


_MODEL_LAYER = re.compile(r"^backbone\.layers\.\d+(?=\.)")
_CKPT_LAYER = re.compile(r"^(?:.*\.)?(?:blocks|encoder\.layer|layers)\.\d+(?=\.)")


def _layer_prefix(name: str, pattern: re.Pattern) -> str:
    m = pattern.match(name)
    return m.group(0) if m else ""
