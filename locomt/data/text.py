"""Text: :class:`WordTokenizer`, a lower-cased word-level vocabulary built from the training split
only (0 = padding, 1 = unknown), saved and loaded as JSON."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from locomt.data.media import PathLike

PAD_ID = 0
UNK_ID = 1
WORD_PATTERN = r"\w+(?:'\w+)?"


@dataclass
class WordTokenizer:
    """Lower-cased word-level tokenizer: ids 0 = padding, 1 = unknown, then words by frequency.

    Build it from the training split only (:meth:`build`); ties in frequency are broken
    alphabetically, so the same texts give the same vocabulary.
    """

    words: list[str] = field(default_factory=list)
    pattern: str = WORD_PATTERN

    def __post_init__(self) -> None:
        self._re = re.compile(self.pattern)
        self._ids = {w: i + 2 for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Iterable[str], vocab_size: int, min_count: int = 1) -> "WordTokenizer":
        """The ``vocab_size - 2`` most frequent words of ``texts`` (seen at least ``min_count`` times)."""
        if vocab_size < 2:
            raise ValueError(f"vocab_size={vocab_size}; expected >= 2 (pad and unknown ids)")
        tok = cls()
        counts = Counter(w for t in texts for w in tok.split(t))
        ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(words=ranked[: vocab_size - 2])

    def __len__(self) -> int:
        return len(self.words) + 2

    @property
    def vocab_size(self) -> int:
        return len(self)

    def split(self, text: str) -> list[str]:
        return self._re.findall(text.lower())

    def encode(self, text: str, max_len: int) -> np.ndarray:
        """int64 (max_len,) ids: the first ``max_len`` words, padded with 0."""
        ids = [self._ids.get(w, UNK_ID) for w in self.split(text)[:max_len]]
        out = np.zeros(max_len, dtype=np.int64)
        out[: len(ids)] = ids
        return out

    def encode_batch(self, texts: Iterable[str], max_len: int) -> np.ndarray:
        rows = [self.encode(t, max_len) for t in texts]
        return np.stack(rows) if rows else np.zeros((0, max_len), np.int64)

    def save(self, path: PathLike) -> None:
        data = {
            "type": "word",
            "version": 1,
            "lowercase": True,
            "pattern": self.pattern,
            "pad_id": PAD_ID,
            "unk_id": UNK_ID,
            "words": self.words,
        }
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: PathLike) -> "WordTokenizer":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("type") != "word" or not isinstance(data.get("words"), list):
            raise ValueError(
                f"{path}: type {data.get('type')!r}; expected a word tokenizer JSON written by WordTokenizer.save"
            )
        return cls(words=list(data["words"]), pattern=data.get("pattern", WORD_PATTERN))
