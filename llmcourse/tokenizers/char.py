"""Character-level tokenizer (lesson 2): every distinct character of a text gets one id.

>>> tok = CharTokenizer.from_text("hello")
>>> tok.vocab_size, tok.encode("hell"), tok.decode([3, 2])
(4, [1, 0, 2, 2], 'ol')
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """Lesson 2: a character-level tokenizer with a sorted vocabulary.

    Characters outside the vocabulary raise a ``KeyError`` naming the character and its position,
    unless the tokenizer was built with ``unk="<some char>"``: then they map to that character's id.
    """

    def __init__(self, chars, unk: str | None = None):
        chars = list(chars)
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer vocabulary has repeated characters.")
        if unk is not None and unk not in chars:
            chars.append(unk)
        self.chars: list[str] = chars
        self.unk = unk
        self.stoi = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str, unk: str | None = None) -> "CharTokenizer":
        """Build the vocabulary from every distinct character of ``text``, sorted by code point."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"CharTokenizer.from_text needs a non-empty string, got {text!r:.60}.")
        return cls(sorted(set(text)), unk=unk)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}.")
        stoi, unk_id = self.stoi, (self.stoi[self.unk] if self.unk is not None else None)
        out = []
        for pos, ch in enumerate(text):
            i = stoi.get(ch, unk_id)
            if i is None:
                raise KeyError(
                    f"character {ch!r} (U+{ord(ch):04X}) at position {pos} is not in this tokenizer's "
                    f"vocabulary of {self.vocab_size} characters. Remove it, or build the tokenizer "
                    f"with CharTokenizer.from_text(text, unk='?') to map unknown characters to '?'."
                )
            out.append(i)
        return out

    def decode(self, ids) -> str:
        chars, n = self.chars, len(self.chars)
        out = []
        for pos, i in enumerate(ids):
            i = int(i)
            if not 0 <= i < n:
                raise IndexError(f"token id {i} at position {pos} is outside the vocabulary (ids 0..{n - 1}).")
            out.append(chars[i])
        return "".join(out)

    def to_dict(self) -> dict:
        return {"type": "char", "version": 1, "chars": self.chars, "unk": self.unk}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        kind = d.get("type", d.get("format")) if isinstance(d, dict) else type(d).__name__
        if kind != "char":
            raise ValueError(f"not a CharTokenizer description: expected type 'char', got {kind!r}. "
                             f"Use llmcourse.tokenizers.load(path), which opens either kind.")
        if d.get("version", 1) != 1:
            raise ValueError(f"CharTokenizer file version {d.get('version')!r} is not supported (this "
                             f"llmcourse reads version 1).")
        return cls(d["chars"], unk=d.get("unk"))

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path) -> "CharTokenizer":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
