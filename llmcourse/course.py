"""The course table: twenty lessons, their file names, and the repository URL, in one place.

Tools (notebook stamping, exercise generation), tests, the README and the grader all read this
module, so renaming a lesson or moving the repository is a one-line change here.

>>> lesson(10).title
'Causal Masking'
>>> lesson("10").notebook
'notebooks/10_causal_masking.ipynb'
>>> lesson(10).exercises
'exercises/10_causal_masking_exercises.ipynb'
>>> colab_url("notebooks/10_causal_masking.ipynb")
'https://colab.research.google.com/github/llmcourse/llmcourse/blob/main/notebooks/10_causal_masking.ipynb'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Where the course lives. A fork sets its own with
#: ``python tools/stamp_notebooks.py --repo URL --ref REF``, which rewrites these lines and restamps.
REPO_URL = "https://github.com/llmcourse/llmcourse"
#: The git tag (or commit, or branch) of ``REPO_URL`` that the notebooks' Colab setup cell installs:
#: the release the notebooks were stamped from, so notebooks and package never drift apart.
REF = "v0.1.0"
#: The branch Colab badges open.
BRANCH = "main"
#: How many lessons the course has (titles say "Lesson N of 20").
N_LESSONS = 20


@dataclass(frozen=True)
class Lesson:
    """One lesson: its number (1-20), slug (``"causal_masking"``) and title (the article's)."""

    number: int
    slug: str
    title: str

    @property
    def id(self) -> str:
        """Two-digit lesson id used in exercise ids: ``"07"`` for lesson 7."""
        return f"{self.number:02d}"

    @property
    def stem(self) -> str:
        """File stem shared by the lesson's notebooks: ``"10_causal_masking"``."""
        return f"{self.id}_{self.slug}"

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.stem}.ipynb"

    @property
    def exercises(self) -> str:
        return f"exercises/{self.stem}_exercises.ipynb"

    @property
    def solutions(self) -> str:
        return f"solutions/{self.stem}_exercises.ipynb"


LESSONS: tuple[Lesson, ...] = tuple(Lesson(n, slug, title) for n, slug, title in [
    (1, "introduction", "Introduction to Large Language Models"),
    (2, "tokenization", "Tokenization Basics"),
    (3, "token_embeddings", "Token Embeddings"),
    (4, "position_embeddings", "Position Embeddings"),
    (5, "input_embedding", "The Combined Input Embedding"),
    (6, "layer_norm", "Layer Normalization"),
    (7, "self_attention", "Self-Attention Part 1"),
    (8, "multi_head_attention", "Self-Attention Part 2 (Multi-Head)"),
    (9, "query_key_value", "Query, Key, Value"),
    (10, "causal_masking", "Causal Masking"),
    (11, "attention_softmax", "Attention Scores and Softmax"),
    (12, "projection", "Projection Layer"),
    (13, "feed_forward", "Feed-Forward Networks"),
    (14, "residual_connections", "Residual Connections"),
    (15, "transformer_block", "Complete Transformer Block"),
    (16, "stacking_layers", "Stacking Layers"),
    (17, "output_layer", "Output Layer"),
    (18, "output_softmax", "Output Softmax"),
    (19, "scaling", "Scaling LLMs: From nano-GPT to GPT-3"),
    (20, "complete_pipeline", "Complete Pipeline"),
])
assert len(LESSONS) == N_LESSONS


def lesson(key: int | str) -> Lesson:
    """Look a lesson up by number (``10``), id (``"10"``), stem or any file name that starts
    with its ``NN_`` prefix (``"exercises/10_causal_masking_exercises.ipynb"``)."""
    if isinstance(key, str):
        m = re.match(r"(\d{1,2})(?:_|$|\.)", key.rsplit("/", 1)[-1])
        if not m:
            raise KeyError(f"cannot tell the lesson from {key!r}: expected a number like 10 or '10' "
                           f"or a file name starting with 'NN_'.")
        key = int(m.group(1))
    if isinstance(key, bool) or not isinstance(key, int) or not 1 <= key <= N_LESSONS:
        raise KeyError(f"there is no lesson {key!r}: lessons are numbered 1 to {N_LESSONS}.")
    return LESSONS[key - 1]


def colab_url(path: str) -> str:
    """The "Open in Colab" address of a notebook given its path inside the repository."""
    owner_repo = REPO_URL.rstrip("/").split("github.com/", 1)[-1]
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{path}"


def pip_install_spec() -> str:
    """What the Colab setup cell passes to ``pip install``: the package at ``REF``.

    >>> pip_install_spec()
    'llmcourse @ git+https://github.com/llmcourse/llmcourse@v0.1.0'
    """
    return f"llmcourse @ git+{REPO_URL.rstrip('/')}@{REF}"


#: One line per lesson for the README's table: what the learner builds and sees.
SUMMARIES: dict[int, str] = {
    1: "the whole pipeline on a trained model: text → tokens → next-token distribution → generated text",
    2: "a character tokenizer; BPE by hand on “low lower lowest lowly”; byte-level BPE equal to tiktoken",
    3: "embedding lookup = one-hot × matrix; cosine similarity; the trained model's character embeddings",
    4: "why attention is order-blind; sinusoidal, learned and rotary (RoPE) positions",
    5: "token + position embeddings with dropout: the input the transformer sees",
    6: "LayerNorm by hand = `nn.LayerNorm`; BatchNorm; RMSNorm; pre-LN vs post-LN stability",
    7: "single-head attention; the series' 3-token worked example to two decimals",
    8: "splitting and merging heads; equal to `nn.MultiheadAttention`",
    9: "the query, key and value projections; fused QKV; the attention explorer",
    10: "the causal mask; what leaks without it",
    11: "stable softmax; why scores are divided by √d_k (saturation and gradients measured)",
    12: "concatenating heads and the output projection W_O; parameter count",
    13: "GELU vs ReLU; the 4× position-wise MLP; its share of the parameters",
    14: "gradient flow through a deep stack with and without residuals",
    15: "the pre-LN block, equal to GPT-2's block given the same weights",
    16: "stacking blocks; parameters by formula and by module; depth vs loss",
    17: "final norm, LM head with weight tying, cross-entropy, loss at init = ln(vocab), perplexity",
    18: "greedy, temperature, top-k and top-p with the series' tables; sliders; the sampling loop",
    19: "parameter and FLOP formulas vs GPT-2/GPT-3; Chinchilla; KV-cache speed-up; a scaling law live",
    20: "one prompt traced through every stage; train a GPT on Tiny Shakespeare; checkpoint; generate",
}
assert set(SUMMARIES) == {les.number for les in LESSONS}


def readme_table() -> str:
    """The README's lesson table (Markdown), written by ``tools/stamp_notebooks.py --readme``.

    >>> readme_table().splitlines()[0]
    '| # | Lesson | You build | Exercises | Colab |'
    """
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    rows = ["| # | Lesson | You build | Exercises | Colab |", "|---|---|---|---|---|"]
    for les in LESSONS:
        rows.append(f"| {les.id} | [{les.title}]({les.notebook}) | {SUMMARIES[les.number]} | "
                    f"[exercises]({les.exercises}) · [solutions]({les.solutions}) | "
                    f"[![Open in Colab]({badge})]({colab_url(les.notebook)}) "
                    f"[exercises]({colab_url(les.exercises)}) |")
    return "\n".join(rows)
