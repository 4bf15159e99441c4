"""Old import path of the byte-level BPE engine, now in :mod:`llmcourse.tokenizers.bpe`."""

from .tokenizers.bpe import (GPT2_PATTERN, compile_pattern, count_chunks, get_stats, learn_merges,  # noqa: F401
                             merge, merge_piece, split_chunks)

__all__ = ["GPT2_PATTERN", "compile_pattern", "count_chunks", "get_stats", "learn_merges", "merge",
           "merge_piece", "split_chunks"]
