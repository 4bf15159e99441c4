"""BPE by hand on characters: the article's "low lower lowest lowly" walk-through (lesson 2).

:func:`bpe_walkthrough` replays it and keeps every intermediate step, so the lesson can print it
line by line and the tests can check each line against the article:

>>> wt = bpe_walkthrough("low lower lowest lowly", num_merges=3)
>>> [step.pair for step in wt.steps[1:]]
[('l', 'o'), ('lo', 'w'), ('low', 'e')]
>>> wt.tokens, wt.encode("lowest"), wt.encode("lowly"), wt.encode("low")
(['l', 'o', 'w', 'e', 'r', 's', 't', 'y', '_', 'lo', 'low', 'lowe'], [11, 5, 6], [10, 0, 7], [10])

The small helpers :func:`count_pairs` and :func:`merge_pair` are the two steps of every BPE
iteration; the lesson's exercises ask the learner to write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .bpe import merge

SEPARATOR = "_"


def count_pairs(words) -> dict[tuple, int]:
    """Count adjacent pairs inside each word (never across words), in order of first occurrence.

    >>> count_pairs([["l", "o", "w"], ["l", "o", "w", "e", "r"]])
    {('l', 'o'): 2, ('o', 'w'): 2, ('w', 'e'): 1, ('e', 'r'): 1}
    """
    counts: dict[tuple, int] = {}
    for word in words:
        for pair in zip(word, word[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_pair(word, pair, new):
    """Replace each occurrence of ``pair`` in ``word`` by ``new``, left to right, no overlaps.

    >>> merge_pair(["l", "o", "w", "l", "o"], ("l", "o"), "lo")
    ['lo', 'w', 'lo']
    """
    return merge(list(word), pair, new)  # the byte-level tokenizer's own merge, on any symbols


@dataclass
class WalkthroughStep:
    """One iteration: the pair counts seen, the pair merged, and the symbols after the merge
    (iteration 0 is the start: no merge, the plain characters)."""

    iteration: int
    pair_counts: dict[tuple[str, str], int]
    pair: tuple[str, str] | None
    symbols: list[str]

    @property
    def merged(self) -> str | None:
        return None if self.pair is None else self.pair[0] + self.pair[1]

    def line(self) -> str:
        """The two lines the article prints for this iteration."""
        if self.pair is None:
            head = f"Iteration {self.iteration}: Start with characters"
        else:
            a, b = self.pair
            head = f'Iteration {self.iteration}: Most frequent pair: ({a}, {b}) → merge into "{self.merged}"'
        return head + "\n" + " ".join(self.symbols)


@dataclass
class BPEWalkthrough:
    """The result of :func:`bpe_walkthrough`: the steps, the vocabulary and a toy encoder."""

    text: str
    steps: list[WalkthroughStep]
    tokens: list[str]  # id -> token
    merges: list[tuple[str, str]] = field(default_factory=list)

    @property
    def vocab(self) -> dict[str, int]:
        """token -> id."""
        return {t: i for i, t in enumerate(self.tokens)}

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into known tokens by applying the learned merges in order to each word.

        Words are separated by spaces, which become the ``"_"`` token.
        """
        vocab, out = self.vocab, []
        for k, word in enumerate(text.split(" ")):
            if k:
                out.append(SEPARATOR)
            symbols = list(word)
            for pos, ch in enumerate(symbols):
                if ch not in vocab:
                    raise KeyError(f"character {ch!r} in word {word!r} (position {pos}) is not in this toy "
                                   f"vocabulary {self.tokens[:self.n_chars]}; the walk-through only knows "
                                   f"the characters of its training text {self.text!r}.")
            for a, b in self.merges:
                symbols = merge_pair(symbols, (a, b), a + b)
            out.extend(symbols)
        return out

    @property
    def n_chars(self) -> int:
        return len(self.tokens) - len(self.merges)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` in the toy vocabulary."""
        vocab = self.vocab
        return [vocab[t] for t in self.tokenize(text)]

    def encode_line(self, word: str) -> str:
        """The article's line ``"lowest" → ["lowe", "s", "t"] → IDs: [11, 5, 6]``."""
        pieces = ", ".join(f'"{t}"' for t in self.tokenize(word))
        return f'"{word}" → [{pieces}] → IDs: {self.encode(word)}'

    def vocab_lines(self) -> str:
        """The article's vocabulary table: an ``ID:`` line and a ``Token:`` line."""
        return ("ID: " + " ".join(str(i) for i in range(len(self.tokens))) + "\n"
                + "Token: " + " ".join(f'"{t}"' for t in self.tokens))

    def lines(self) -> list[str]:
        """Everything, in the article's words and order."""
        out = [f'Training corpus: "{self.text}"']
        out += [s.line() for s in self.steps]
        out.append(self.vocab_lines())
        return "\n".join(out).split("\n")

    def __str__(self) -> str:
        return "\n".join(self.lines())


def bpe_walkthrough(text: str = "low lower lowest lowly", num_merges: int = 3) -> BPEWalkthrough:
    """Lesson 2: character-level BPE exactly as the article walks through it.

    Rules (the article leaves them implicit; these reproduce every one of its lines):

    * words are the space-separated parts of ``text``; the sequence shows them joined by ``"_"``,
      but ``"_"`` is a **word boundary**: pairs are counted inside words only. (If ``"_"`` were a
      symbol, ``(_, low)`` would occur 3 times in iteration 3 and beat ``(low, e)``.)
    * **ties** go to the pair that occurs first in the text: in iteration 1, ``(l, o)`` and
      ``(o, w)`` both occur 4 times and ``(l, o)`` comes first.
    * the vocabulary lists the characters in order of first appearance, then ``"_"``, then one
      token per merge in the order they were learned.

    >>> print(bpe_walkthrough(num_merges=1))
    Training corpus: "low lower lowest lowly"
    Iteration 0: Start with characters
    l o w _ l o w e r _ l o w e s t _ l o w l y
    Iteration 1: Most frequent pair: (l, o) → merge into "lo"
    lo w _ lo w e r _ lo w e s t _ lo w l y
    ID: 0 1 2 3 4 5 6 7 8 9
    Token: "l" "o" "w" "e" "r" "s" "t" "y" "_" "lo"
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"bpe_walkthrough needs a non-empty training text, got {text!r}.")
    if SEPARATOR in text:
        raise ValueError(f"the walk-through uses {SEPARATOR!r} to show word boundaries, so the text cannot "
                         f"contain it; got {text!r}.")
    words = [list(w) for w in text.split(" ") if w]

    def shown(ws):
        return [s for k, w in enumerate(ws) for s in ([SEPARATOR] if k else []) + w]

    tokens = list(dict.fromkeys(ch for w in words for ch in w)) + [SEPARATOR]
    steps = [WalkthroughStep(0, {}, None, shown(words))]
    merges = []
    for it in range(1, num_merges + 1):
        counts = count_pairs(words)
        if not counts:
            break  # every word is a single token: nothing left to merge
        pair = max(counts, key=counts.get)  # max keeps the first of equal counts: first occurrence
        merges.append(pair)
        tokens.append(pair[0] + pair[1])
        words = [merge_pair(w, pair, pair[0] + pair[1]) for w in words]
        steps.append(WalkthroughStep(it, counts, pair, shown(words)))
    return BPEWalkthrough(text, steps, tokens, merges)
