"""Old import path of :mod:`llmcourse.tokenizers.walkthrough` (the article's BPE by hand, lesson 2)."""

from .tokenizers.walkthrough import (SEPARATOR, BPEWalkthrough, WalkthroughStep, bpe_walkthrough,  # noqa: F401
                                     count_pairs, merge_pair)

__all__ = ["bpe_walkthrough", "BPEWalkthrough", "WalkthroughStep", "count_pairs", "merge_pair", "SEPARATOR"]
