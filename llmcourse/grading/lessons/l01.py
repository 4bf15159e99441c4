"""Lesson 1 (Introduction to Large Language Models) exercises.

01.1 ``count_parameters(module)``: how many numbers a model learns (shared tensors counted once).
01.2 ``greedy_next_token(logits, tokenizer)``: the id and text of the token greedy decoding
     appends, from the logits ``(T, V)`` of one sequence.
01.3 ``greedy_generate(model, idx, max_new_tokens)``: the autoregressive loop, predict, pick,
     append, repeat, with the context cropped to the model's ``block_size``.

>>> import torch
>>> from llmcourse.tokenizer import CharTokenizer
>>> greedy_next_token(torch.tensor([[0.0, 5.0, 1.0], [3.0, 0.0, 1.0]]), CharTokenizer("abc"))
(0, 'a')
"""

from __future__ import annotations

import torch
import torch.nn as nn

from llmcourse.grading import Case, Mistake, exact, exercise
from llmcourse.grading.lessons._common import WindowSumModel
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPT, GPTConfig
from llmcourse.sampling import generate
from llmcourse.tokenizer import CharTokenizer


# --- 01.1 counting parameters ------------------------------------------------------------------
def count_parameters(module: nn.Module) -> int:
    """Reference: every parameter tensor once (``module.parameters()`` skips repeats), all numbers."""
    return sum(p.numel() for p in module.parameters())


def _tiny_gpt(seed: int, vocab_size: int = 11, block_size: int = 8, n_layer: int = 2, n_embd: int = 16,
              tie_weights: bool = True, pos_embedding: str = "learned") -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=2,
                         n_embd=n_embd, tie_weights=tie_weights, pos_embedding=pos_embedding)).eval()


def _mlp(r, bias: bool = True) -> nn.Module:
    sizes = [r.integer(2, 9) for _ in range(r.integer(2, 4))]
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Linear(a, b, bias=bias), nn.ReLU()]
    return nn.Sequential(*layers)


def _frozen(r) -> nn.Module:
    m = nn.Sequential(nn.Embedding(r.integer(5, 20), 6), nn.Linear(6, r.integer(2, 7)))
    m[0].weight.requires_grad_(False)  # a frozen table still holds parameters
    return m


def _params_cases(r):
    with torch.random.fork_rng(devices=[]):
        gpt = _tiny_gpt(r.seed_torch(), vocab_size=r.integer(5, 40), n_embd=r.choice([8, 16, 24]))
        untied = _tiny_gpt(r.seed_torch(), tie_weights=False)
        rope = _tiny_gpt(r.seed_torch(), pos_embedding="rope")  # RoPE keeps cos/sin tables as buffers
        return [
            Case(_mlp(r)).named("a random stack of Linear layers with biases"),
            Case(_mlp(r, bias=False)).named("Linear layers without biases"),
            Case(gpt).named("a small GPT whose output layer shares the token embedding (tied)"),
            Case(untied).named("a small GPT without weight tying"),
            Case(rope).named("a GPT with RoPE (its sin/cos tables are buffers, not parameters)"),
            Case(_frozen(r)).named("a model with a frozen (requires_grad=False) embedding"),
            Case(nn.ReLU()).named("a module with no parameters at all"),
        ]


def _via_state_dict(module):
    return sum(v.numel() for v in module.state_dict(keep_vars=True).values())


def _per_module(module):
    # each module's own tensors: a matrix shared by two modules is met twice
    return sum(p.numel() for m in module.modules() for p in m.parameters(recurse=False))


def _trainable_only(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _tensors_not_numbers(module):
    return len(list(module.parameters()))


def _weights_only(module):
    return sum(p.numel() for name, p in module.named_parameters() if not name.endswith("bias"))


def _first_dim(module):
    return sum(p.shape[0] for p in module.parameters())


def _dedup_by_id(module):
    seen = {}
    for _, p in module.named_parameters(remove_duplicate=False):
        seen[id(p)] = p.numel()
    return sum(seen.values())


exercise(
    "01.1", "Count the parameters of a model", points=1,
    reference=count_parameters,
    visible=lambda r: [Case(nn.Linear(4, 3)).named("nn.Linear(4, 3): a 3x4 weight and 3 biases"),
                       Case(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
                       .named("Linear + BatchNorm1d (its running statistics are buffers, not parameters)"),
                       Case(_tiny_gpt(0)).named("a small tied GPT (vocab 11, 2 layers, 16 wide)")],
    hidden=_params_cases,
    compare=exact(),
    hint="Add up p.numel() for every p in module.parameters(): parameters() lists each tensor once, "
         "even when two layers share it. Return a Python int.",
    mistakes=[
        Mistake("the shared matrix counted twice", _per_module,
                hint="A tied model uses ONE matrix as token embedding and output layer; count it once. "
                     "module.parameters() already skips tensors it has seen."),
        Mistake("counted the state_dict", _via_state_dict,
                hint="state_dict() lists the tied matrix under two names and also holds buffers, which "
                     "are not learned. Use module.parameters()."),
        Mistake("only trainable parameters", _trainable_only,
                hint="Count every parameter, frozen ones too (requires_grad=False still stores numbers "
                     "the model uses); do not filter on p.requires_grad."),
        Mistake("counted tensors, not numbers", _tensors_not_numbers,
                hint="len(list(module.parameters())) is the number of tensors. Each tensor holds "
                     "p.numel() numbers: add those up."),
        Mistake("biases forgotten", _weights_only,
                hint="Biases are parameters too: count every tensor from module.parameters()."),
        Mistake("only the first dimension", _first_dim,
                hint="p.shape[0] is one side of the tensor; p.numel() is the number of entries "
                     "(the product of all sizes)."),
    ],
    alternatives=[Alternative("named_parameters()", lambda m: sum(p.numel() for _, p in m.named_parameters())),
                  Alternative("every tensor, de-duplicated by id()", _dedup_by_id)],
)


# --- 01.2 greedy next token ----------------------------------------------------------------------
def greedy_next_token(logits: torch.Tensor, tokenizer) -> tuple[int, str]:
    """Reference: arg-max of the last position's logits, as ``(int id, decoded text)``."""
    i = int(torch.argmax(logits[-1]))
    return i, tokenizer.decode([i])


_SHAKESPEARE_CHARS = list("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _rows_disagree(r, T, V, scale=2.0):
    """Random logits (T, V) whose first and last rows have different arg-maxes (when T > 1)."""
    while True:
        x = r.randn(T, V, scale=scale)
        if T == 1 or int(x[0].argmax()) != int(x[-1].argmax()):
            return x


def _next_cases(r):
    shakespeare = CharTokenizer(_SHAKESPEARE_CHARS)
    abc = CharTokenizer(list("abcdefgh"))
    T = r.integer(3, 9)
    return [
        Case(_rows_disagree(r, T, 65), shakespeare).named(f"{T} positions, the 65 Shakespeare characters"),
        Case(_rows_disagree(r, 1, 8), abc).named("a single position (T = 1)"),
        Case(_rows_disagree(r, r.integer(2, 6), 8, scale=50.0), abc).named("large logits"),
        Case(_rows_disagree(r, r.integer(2, 6), 8) - 100.0, abc).named("all logits negative"),
    ]


def _first_position(logits, tokenizer):
    i = int(torch.argmax(logits[0]))
    return i, tokenizer.decode([i])


def _argmin(logits, tokenizer):
    i = int(torch.argmin(logits[-1]))
    return i, tokenizer.decode([i])


def _id_only(logits, tokenizer):
    return int(torch.argmax(logits[-1]))


def _max_value(logits, tokenizer):
    v = logits[-1].max()
    return float(v), tokenizer.decode([int(torch.argmax(logits[-1]))])


exercise(
    "01.2", "Greedy next token from logits", points=1,
    reference=greedy_next_token,
    visible=[Case(torch.tensor([[0.0, 1.0, 5.0, 2.0], [3.0, 0.5, 1.0, 4.0]]), CharTokenizer(list("abcd")))
             .named("two positions over the vocabulary a, b, c, d")],
    hidden=_next_cases,
    compare=exact(),
    hint="Take the LAST row, logits[-1] (the prediction after the whole text), find its largest "
         "entry with torch.argmax, convert it with int(...), and decode [id] with the tokenizer. "
         "Return the tuple (id, text).",
    mistakes=[
        Mistake("the first position's prediction", _first_position,
                hint="Row t of the logits predicts the token after position t. The next token of the "
                     "whole text comes from the last row: logits[-1], not logits[0]."),
        Mistake("arg-min instead of arg-max", _argmin,
                hint="Greedy decoding takes the MOST likely token: torch.argmax, the largest logit."),
        Mistake("only the id", _id_only,
                hint="Return a tuple of two things, (id, text): the id as an int and "
                     "tokenizer.decode([id])."),
        Mistake("the largest logit instead of its position", _max_value,
                hint="logits.max() is the value of the largest logit; the token id is its position, "
                     "torch.argmax(...)."),
    ],
    alternatives=[Alternative("max(...).indices and .item()", lambda lg, tok: (
                      lg[-1].max(dim=-1).indices.item(), tok.decode([lg[-1].max(dim=-1).indices.item()]))),
                  Alternative("topk(1) on the last row", lambda lg, tok: (
                      int(torch.topk(lg[lg.shape[0] - 1], 1).indices[0]),
                      tok.decode([int(torch.topk(lg[lg.shape[0] - 1], 1).indices[0])])))],
)


# --- 01.3 greedy generation ----------------------------------------------------------------------
def greedy_generate(model, idx: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Reference: ``llmcourse.sampling.generate`` with ``temperature=0`` (greedy), no cache."""
    return generate(model, idx, max_new_tokens, temperature=0, use_cache=False)


def _loop(model, idx, n, pick=lambda logits: logits[:, -1, :].argmax(dim=-1), crop="last", append=True,
          steps=None):
    """A configurable greedy loop for the planted bugs below."""
    block = model.config.block_size
    out = idx
    with torch.no_grad():
        for _ in range(n if steps is None else steps):
            ctx = {"last": out[:, -block:], "first": out[:, :block], "last1": out[:, -(block - 1):]}[crop]
            nxt = pick(model(ctx))  # (B,)
            out = torch.cat([out, nxt.unsqueeze(1)], dim=1) if append else torch.cat([idx, nxt.unsqueeze(1)], 1)
    return out


def _distinct_sums(r, B, T, V):
    """B prompts of length T whose token sums differ mod V, so WindowSumModel continues each
    differently."""
    while True:
        idx = r.randint(0, V, B, T)
        if len(set((idx.sum(dim=1) % V).tolist())) == B:
            return idx


def _row0_for_all(model, idx, n):
    return _loop(model, idx, n, pick=lambda lg: lg[0, -1, :].argmax(dim=-1).expand(lg.shape[0]))


def _explicit_loop(model, idx, n):
    block = model.config.block_size
    for _ in range(n):
        ctx = idx if idx.shape[1] <= block else idx[:, idx.shape[1] - block:]
        with torch.no_grad():
            nxt = model(ctx)[:, -1, :].max(dim=-1, keepdim=True).indices  # (B, 1)
        idx = torch.cat((idx, nxt), dim=1)
    return idx


def _gen_cases(r):
    with torch.random.fork_rng(devices=[]):
        m = _tiny_gpt(r.seed_torch(), vocab_size=r.integer(6, 20), block_size=8)
        m2 = _tiny_gpt(r.seed_torch(), vocab_size=13, block_size=6)
    V, V2 = m.config.vocab_size, 13
    return [
        Case(m, r.randint(0, V, 1, 3), r.integer(2, 4)).named("a short prompt, a few new tokens"),
        Case(m, r.randint(0, V, 2, 4), 3).named("a batch of two prompts"),
        Case(m, r.randint(0, V, 1, 1), 1).named("one token in, one token out"),
        Case(WindowSumModel(7, 4), _distinct_sums(r, 3, 2, 7), r.integer(3, 6))
        .named("three prompts that continue differently (sum mod 7 model)"),
        Case(WindowSumModel(7, 4), _distinct_sums(r, 2, 4, 7), r.integer(2, 4))
        .named("prompts of exactly block_size = 4 tokens"),
        Case(m2, r.randint(0, V2, 1, 5), r.integer(6, 10))
        .named("the text grows past block_size = 6 (crop to the last 6 tokens)"),
        Case(WindowSumModel(7, 4), r.randint(0, 7, 1, 3), r.integer(5, 8))
        .named("a model that predicts the sum of its context mod 7, block_size = 4"),
        Case(m, r.randint(0, V, 1, 2), 0).named("max_new_tokens = 0 returns the prompt"),
    ]


exercise(
    "01.3", "Greedy generation: predict, pick, append, repeat", points=2,
    reference=greedy_generate,
    visible=lambda r: [Case(_tiny_gpt(0), torch.tensor([[1, 2, 3]]), 4)
                       .named("a small GPT (vocab 11, block_size 8), prompt [1, 2, 3], 4 new tokens")],
    hidden=_gen_cases,
    compare=exact(),
    hint="Repeat max_new_tokens times: crop idx to its last model.config.block_size tokens, run the "
         "model, take the last position's logits (logits[:, -1, :]), argmax over the vocabulary "
         "(dim=-1), and append with torch.cat([idx, next_id.unsqueeze(1)], dim=1). Return the whole "
         "sequence (prompt + new tokens).",
    mistakes=[
        Mistake("picked from the first position",
                lambda m, idx, n: _loop(m, idx, n, pick=lambda lg: lg[:, 0, :].argmax(dim=-1)),
                hint="The prediction for the NEXT token is at the last position: logits[:, -1, :]."),
        Mistake("kept the first block_size tokens", lambda m, idx, n: _loop(m, idx, n, crop="first"),
                hint="Once the text is longer than block_size, keep its LAST block_size tokens "
                     "(idx[:, -block_size:]): the newest tokens are the ones that matter."),
        Mistake("one step too few", lambda m, idx, n: _loop(m, idx, n, steps=max(n - 1, 0)),
                hint="Run the loop exactly max_new_tokens times: the result has T + max_new_tokens tokens."),
        Mistake("new tokens not fed back", lambda m, idx, n: _loop(m, idx, n, append=False),
                hint="Append every new token to the running sequence and feed that sequence back in: "
                     "the model must see what it has just written."),
        Mistake("returned only the new tokens", lambda m, idx, n: greedy_generate(m, idx, n)[:, idx.shape[1]:],
                hint="Return the prompt followed by the new tokens, shape (B, T + max_new_tokens), "
                     "as llmcourse.generate does."),
        Mistake("least likely token",
                lambda m, idx, n: _loop(m, idx, n, pick=lambda lg: lg[:, -1, :].argmin(dim=-1)),
                hint="Greedy decoding appends the token with the LARGEST logit (argmax over the "
                     "vocabulary, dim=-1)."),
        Mistake("the first prompt's token for every row", _row0_for_all,
                hint="Each row of the batch is its own text: take the arg-max of every row, "
                     "logits[:, -1, :].argmax(dim=-1), shape (B,), not row 0's token for all."),
        Mistake("cropped to block_size - 1", lambda m, idx, n: _loop(m, idx, n, crop="last1"),
                hint="The model sees up to block_size tokens: crop with idx[:, -block_size:], "
                     "keeping exactly block_size of them."),
    ],
    alternatives=[Alternative("explicit loop with max(...).indices", _explicit_loop)],
)
