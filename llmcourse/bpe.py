"""Byte-level BPE, the GPT-2 way (lesson 2): train on text, encode, decode, save, load.

Text is cut into chunks by the GPT-2 regex, each chunk becomes UTF-8 bytes (ids 0..255), and the
learned merges join bytes into longer tokens (merge ``i`` makes id ``256 + i``). Special tokens
such as ``<|endoftext|>`` come after the merges and are never split.

>>> tok = BPETokenizer.train("low lower lowest lowly " * 10, vocab_size=262)
>>> [tok.token_bytes(i) for i in range(256, 261)]
[b'lo', b'low', b' low', b' lowe', b'ly']
>>> tok.encode("lowest<|endoftext|>"), tok.vocab_size
([257, 101, 115, 116, 261], 262)
>>> tok.decode(tok.encode("slow lowly")) == "slow lowly"
True

The ids equal tiktoken's given the same merges (``tests/test_tokenizer.py`` proves it)::

    enc = tiktoken.Encoding("mine", pat_str=tok.pattern, mergeable_ranks=tok.mergeable_ranks(),
                            special_tokens=tok.special_tokens)
    enc.encode(text, allowed_special="all") == tok.encode(text)

One known difference: the ``regex`` package knows newer Unicode versions than tiktoken 0.14, so
characters first assigned in Unicode 16 or 17 may be pre-split differently by the two.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import regex

from .tokenizer_core import GPT2_PATTERN, compile_pattern, count_chunks, learn_merges, merge_piece

FORMAT = "llmcourse-bpe"
VERSION = 1
ENDOFTEXT = "<|endoftext|>"


def _readable(b: bytes) -> str:
    """Bytes as text for humans: valid UTF-8 as is, other bytes as ``\\xNN``."""
    return b.decode("utf-8", errors="backslashreplace")


class BPETokenizer:
    """Lesson 2: a byte-level BPE tokenizer whose ids match tiktoken's on the same merges.

    Build one with :meth:`train` or :meth:`load`; ``BPETokenizer(merges, special_tokens)`` takes
    ``merges`` as ``(left id, right id)`` pairs in order and ``special_tokens`` as a list of
    strings (ids follow the merges) or a ``{string: id}`` dict.

    ``encode(text)`` recognises special tokens in the text by default (tiktoken's
    ``allowed_special="all"``); ``encode(text, allowed_special=())`` or :meth:`encode_ordinary`
    treat them as plain text (tiktoken's ``encode_ordinary``); a set allows only those.
    ``decode`` joins the bytes and decodes UTF-8 with ``errors="replace"`` like tiktoken, so a
    token list that ends inside a character shows ``\\ufffd``:

    >>> tok = BPETokenizer([])
    >>> tok.encode("é"), tok.decode([195]), tok.decode_bytes([195])
    ([195, 169], '\\ufffd', b'\\xc3')
    """

    def __init__(self, merges=(), special_tokens=(ENDOFTEXT,), pattern: str = GPT2_PATTERN):
        self._regex = compile_pattern(pattern)
        self.pattern = pattern
        vocab = [bytes([i]) for i in range(256)]
        ranks = {t: i for i, t in enumerate(vocab)}
        self.merges: list[tuple[int, int]] = []
        for k, pair in enumerate(merges):
            try:
                a, b = (int(x) for x in pair)
            except (TypeError, ValueError):
                raise ValueError(f"merge {k} must be a pair of token ids, got {pair!r}.") from None
            if not (0 <= a < len(vocab) and 0 <= b < len(vocab)):
                raise ValueError(f"merge {k} = {pair!r} uses an id that does not exist yet (ids so far: "
                                 f"0..{len(vocab) - 1}); merges must only join earlier tokens.")
            joined = vocab[a] + vocab[b]
            if joined in ranks:
                raise ValueError(f"merge {k} = {pair!r} makes {joined!r}, which is already token "
                                 f"{ranks[joined]}; every token must have different bytes.")
            ranks[joined] = len(vocab)
            vocab.append(joined)
            self.merges.append((a, b))
        self._vocab, self._ranks = vocab, ranks
        if isinstance(special_tokens, dict):
            specials = {str(s): int(i) for s, i in special_tokens.items()}
        else:
            specials = {str(s): len(vocab) + k for k, s in enumerate(special_tokens)}
        expected = list(range(len(vocab), len(vocab) + len(specials)))
        if sorted(specials.values()) != expected or any(not s for s in specials):
            raise ValueError(f"special tokens must be non-empty strings with ids {expected} (right after "
                             f"the {len(vocab)} byte and merge tokens), got {specials!r}.")
        self.special_tokens: dict[str, int] = specials
        self._special_of_id = {i: s.encode("utf-8") for s, i in specials.items()}
        self._special_rx: dict[frozenset, regex.Pattern | None] = {}
        self._cache: dict[str, list[int]] = {}

    # ---- training ---------------------------------------------------------------------------
    @classmethod
    def train(cls, text: str, vocab_size: int, special_tokens=(ENDOFTEXT,),
              pattern: str = GPT2_PATTERN) -> "BPETokenizer":
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text`` (lesson 2).

        ``vocab_size`` counts everything: 256 byte tokens, the merges, the special tokens.
        Special tokens found in ``text`` are cut out first, so no merge crosses or enters them.
        Ties go to the smallest ``(left id, right id)`` pair; the full rules are in
        :func:`llmcourse.tokenizer_core.learn_merges`. If the text runs out of pairs first, a
        warning says so and the vocabulary is smaller.
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train expects the training text as a str, got {type(text).__name__}.")
        special_tokens = list(special_tokens)
        floor = 256 + len(special_tokens)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < floor:
            raise ValueError(f"vocab_size must be an integer >= {floor} (256 bytes + {len(special_tokens)} "
                             f"special tokens), got {vocab_size!r}. Try vocab_size=512.")
        parts = [text]
        if special_tokens:
            alternatives = "|".join(regex.escape(s) for s in sorted(special_tokens, key=len, reverse=True))
            parts = regex.split(alternatives, text)
        merges, _, _ = learn_merges(count_chunks(parts, pattern), vocab_size - floor)
        if len(merges) < vocab_size - floor:
            warnings.warn(f"the training text only supports {len(merges)} merges, fewer than the "
                          f"{vocab_size - floor} asked for: vocab_size is {floor + len(merges)}. Use more "
                          f"text or a smaller vocab_size.", stacklevel=2)
        return cls(merges, special_tokens, pattern)

    # ---- vocabulary ---------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids: 256 bytes + merges + special tokens."""
        return len(self._vocab) + len(self.special_tokens)

    def mergeable_ranks(self) -> dict[bytes, int]:
        """``{token bytes: id}`` for every non-special token: tiktoken's ``mergeable_ranks``."""
        return dict(self._ranks)

    def token_bytes(self, i: int) -> bytes:
        """The bytes of token ``i`` (special tokens too)."""
        return self._bytes_of(int(i), None)

    def _bytes_of(self, i: int, pos) -> bytes:
        if 0 <= i < len(self._vocab):
            return self._vocab[i]
        if i in self._special_of_id:
            return self._special_of_id[i]
        where = "" if pos is None else f" at position {pos}"
        raise IndexError(f"token id {i}{where} is outside the vocabulary (ids 0..{self.vocab_size - 1}). "
                         f"Decode ids made by this same tokenizer.")

    # ---- encoding -----------------------------------------------------------------------------
    def encode_ordinary(self, text: str) -> list[int]:
        """Encode ``text`` with special-token strings treated as plain text."""
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}. Decode bytes first.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: replaced by U+FFFD, as tiktoken does
            text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        cache, ranks, out = self._cache, self._ranks, []
        if len(cache) > 200_000:
            cache.clear()
        for chunk in self._regex.findall(text):
            ids = cache.get(chunk)
            if ids is None:
                ids = cache[chunk] = merge_piece(chunk.encode("utf-8"), ranks)
            out.extend(ids)
        return out

    def encode(self, text: str, allowed_special="all") -> list[int]:
        """Lesson 2: text -> ids. Special tokens in ``allowed_special`` ("all", or a set of strings)
        become their ids; everything between them is encoded as ordinary text.

        >>> tok = BPETokenizer([])
        >>> tok.encode("hi<|endoftext|>"), tok.encode("<|endoftext|>", allowed_special=())[:3]
        ([104, 105, 256], [60, 124, 101])
        """
        rx = self._special_regex(allowed_special)
        if rx is None:
            return self.encode_ordinary(text)
        if not isinstance(text, str):
            raise TypeError(f"encode expects a str, got {type(text).__name__}. Decode bytes first.")
        out, start = [], 0
        for m in rx.finditer(text):
            out.extend(self.encode_ordinary(text[start:m.start()]))
            out.append(self.special_tokens[m.group()])
            start = m.end()
        out.extend(self.encode_ordinary(text[start:]))
        return out

    def _special_regex(self, allowed):
        if allowed == "all":
            allowed = self.special_tokens.keys()
        elif isinstance(allowed, str):
            raise ValueError(f"allowed_special must be 'all' or a set of special tokens, got {allowed!r}.")
        key = frozenset(allowed)
        if key not in self._special_rx:
            unknown = key - self.special_tokens.keys()
            if unknown:
                raise ValueError(f"{sorted(unknown)} are not special tokens of this tokenizer "
                                 f"(it has {sorted(self.special_tokens)}).")
            alts = sorted(key, key=len, reverse=True)  # longest first if one contains another
            self._special_rx[key] = regex.compile("|".join(map(regex.escape, alts))) if alts else None
        return self._special_rx[key]

    # ---- decoding -----------------------------------------------------------------------------
    def decode_bytes(self, ids) -> bytes:
        """ids -> the raw bytes they stand for (no UTF-8 decoding)."""
        return b"".join(self._bytes_of(int(i), pos) for pos, i in enumerate(ids))

    def decode(self, ids, errors: str = "replace") -> str:
        """Lesson 2: ids -> text. Invalid UTF-8 (a list that cuts a character in half) becomes
        ``\\ufffd`` with ``errors="replace"``; ``errors="strict"`` raises instead."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    def pieces(self, text: str) -> list[str]:
        """The tokens of ``text`` as readable strings (partial characters as ``\\xNN``).

        >>> BPETokenizer.train("ab ab ab", vocab_size=259).pieces("ab abc")
        ['ab', ' ab', 'c']
        """
        return [_readable(self.token_bytes(i)) for i in self.encode(text)]

    # ---- saving -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The JSON-ready description; each merge is ``[left id, right id, "readable result"]``
        (the third item is for humans and is checked on load)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "merges": [[a, b, _readable(t)] for (a, b), t in zip(self.merges, self._vocab[256:])],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "BPETokenizer":
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format", d.get("type")) if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"not a BPETokenizer file: expected format {FORMAT!r}, got {got!r}. "
                             f"Char tokenizers load with CharTokenizer.load.")
        if d.get("version") != VERSION:
            raise ValueError(f"BPETokenizer file version {d.get('version')!r} is not supported (this "
                             f"llmcourse reads version {VERSION}). Re-train or re-save it.")
        merges = d["merges"]
        tok = cls([m[:2] for m in merges], d["special_tokens"], d["pattern"])
        for k, (m, t) in enumerate(zip(merges, tok._vocab[256:])):
            if len(m) > 2 and m[2] != _readable(t):
                raise ValueError(f"merge {k} {m!r} says it makes {m[2]!r} but its ids make {_readable(t)!r}: "
                                 f"the file was edited by hand or damaged.")
        return tok

    def save(self, path) -> None:
        """Write a readable JSON file (UTF-8), one merge per line."""
        d = self.to_dict()
        merges = d.pop("merges")
        head = json.dumps(d, ensure_ascii=False, indent=1)[:-2]  # drop the closing "\n}"
        body = ",\n  ".join(json.dumps(m, ensure_ascii=False) for m in merges)
        text = head + ',\n "merges": [' + (f"\n  {body}\n " if merges else "") + "]\n}\n"
        Path(path).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __repr__(self) -> str:
        return (f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
                f"special_tokens={list(self.special_tokens)})")
