"""llmcourse: the package behind the course "Build a GPT from scratch".

One module (or folder) per concept, in the order of the pipeline, text -> tokens -> vectors ->
blocks -> logits -> tokens:

========================  =======  =====================================================
module                    lessons  holds
========================  =======  =====================================================
``config``                all      ``GPTConfig``: the sizes and switches every part reads
``tokenizers/``           2        ``CharTokenizer``, byte-level ``BPETokenizer``, walk-through
``embedding``             3-5      token, learned / sinusoidal / rotary positions, input
``norm``                  6        ``LayerNorm``, ``RMSNorm``
``attention``             7-12     softmax, ``causal_mask``, attention, ``MultiHeadAttention``
``feedforward``           13       GELU, ``MLP``
``block``                 14-15    ``TransformerBlock`` (pre-LN, post-LN)
``model``                 16-17    ``GPT``
``sampling``              18       temperature, top-k, top-p, ``generate``
``scaling``               19       parameter / FLOP / memory formulas, GPT_SIZES
``data``                  20       the corpus, windows and batches
``training/``             20       ``Trainer``, ``TrainConfig``, presets, precision, the CLI
``pretrained``            1-20     the shipped ``shakespeare-char`` model; GPT-2's own weights
``experiments/``          3-15     the lessons' longer analyses, one call each
``viz/``, ``widgets/``    all      figures, loss plots, colours; interactive explorers
``grading``               all      exercise checks
========================  =======  =====================================================

Heavy or optional pieces are imported lazily: ``import llmcourse`` only needs torch. The names
most lessons use are importable from here:

>>> import llmcourse
>>> llmcourse.CharTokenizer.from_text("hello").encode("hell")
[1, 0, 2, 2]
>>> llmcourse.GPTConfig.__module__, llmcourse.tokenizers.__name__
('llmcourse.config', 'llmcourse.tokenizers')
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# name -> module that defines it (imported on first use)
_EXPORTS = {
    "GPT": "model", "GPTConfig": "config",
    "TransformerBlock": "block",
    "MultiHeadAttention": "attention", "scaled_dot_product_attention": "attention",
    "causal_mask": "attention", "softmax": "attention",
    "LayerNorm": "norm", "RMSNorm": "norm",
    "MLP": "feedforward", "gelu": "feedforward",
    "InputEmbedding": "embedding",
    "generate": "sampling", "sample": "sampling", "probabilities": "sampling",
    "CharTokenizer": "tokenizers", "BPETokenizer": "tokenizers",
    "load_corpus": "data",
    "check": "grading",
    "setup": "env",
}
_SUBMODULES = {"config", "tokenizers", "tokenizer", "embedding", "norm", "attention", "feedforward", "block", "model",
               "sampling", "scaling", "data", "train", "training", "pretrained", "viz", "widgets", "grading",
               "env", "hf", "experiments"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'llmcourse' has no attribute {name!r}")


def __dir__():
    return __all__
