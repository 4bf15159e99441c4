"""Tokenizers (lesson 2): text -> token ids -> text.

===============  ==================================================================
module           holds
===============  ==================================================================
``char``         ``CharTokenizer``: one id per distinct character
``bpe``          byte-level ``BPETokenizer`` (GPT-2 style, tiktoken-compatible ids)
                 and its engine: pre-split, ``get_stats`` / ``merge`` / ``learn_merges``,
                 ``merge_piece``
``walkthrough``  ``bpe_walkthrough``: the article's "low lower lowest lowly" by hand
===============  ==================================================================

Everything a lesson needs is importable from here; :func:`load` opens a saved file of either kind:

>>> CharTokenizer.from_text("hello").encode("hell")
[1, 0, 2, 2]
>>> bpe = BPETokenizer.train("low lower lowest lowly", vocab_size=260)
>>> bpe.pieces("lowest")
['low', 'e', 's', 't']
"""

from __future__ import annotations

import json
from pathlib import Path

from .bpe import ENDOFTEXT, GPT2_PATTERN, BPETokenizer, get_stats, learn_merges, merge, split_chunks
from .char import CharTokenizer
from .walkthrough import BPEWalkthrough, bpe_walkthrough, count_pairs, merge_pair

__all__ = ["CharTokenizer", "BPETokenizer", "load", "bpe_walkthrough", "BPEWalkthrough", "count_pairs",
           "merge_pair", "split_chunks", "get_stats", "merge", "learn_merges", "GPT2_PATTERN", "ENDOFTEXT"]


def load(path):
    """Open a tokenizer saved by ``CharTokenizer.save`` or ``BPETokenizer.save``."""
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(d, dict) and d.get("type") == "char":
        return CharTokenizer.from_dict(d)
    return BPETokenizer.from_dict(d)
