"""Old import path of :mod:`llmcourse.tokenizers` (the character and BPE tokenizers of lesson 2).

``from llmcourse.tokenizer import CharTokenizer`` keeps working; new code imports from
``llmcourse.tokenizers``.
"""

from .tokenizers import (ENDOFTEXT, GPT2_PATTERN, BPETokenizer, BPEWalkthrough, CharTokenizer,  # noqa: F401
                         bpe_walkthrough, count_pairs, load, merge_pair, split_chunks)

__all__ = ["CharTokenizer", "BPETokenizer", "load", "bpe_walkthrough", "BPEWalkthrough", "count_pairs",
           "merge_pair", "split_chunks", "GPT2_PATTERN", "ENDOFTEXT"]
