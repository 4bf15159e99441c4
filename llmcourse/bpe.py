"""Old import path of :mod:`llmcourse.tokenizers.bpe` (byte-level BPE, lesson 2)."""

from .tokenizers.bpe import ENDOFTEXT, FORMAT, VERSION, BPETokenizer  # noqa: F401

__all__ = ["BPETokenizer", "ENDOFTEXT", "FORMAT", "VERSION"]
