"""Lesson 1 (Introduction to Large Language Models) exercises.

01.1 (predict) the cross-entropy loss of an untrained model: about ln(vocab_size).
01.2 ``greedy_generate(model, idx, max_new_tokens)`` (rebuild): the autoregressive loop, predict,
     pick, append, repeat, with the context cropped to the model's ``block_size``.
01.3 ``generate_until(model, idx, max_new_tokens, stop_id)`` (transfer): greedy generation that
     ends once it has appended an end token.

>>> import torch
>>> generate_until(WindowSumModel(7, 4), torch.tensor([[1, 2]]), 10, stop_id=5)
tensor([[1, 2, 3, 6, 5]])
"""

from __future__ import annotations

import math

import torch

from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.lessons._common import WindowSumModel
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPT, GPTConfig
from llmcourse.sampling import generate


# --- 01.1 the loss of an untrained model (predict) -------------------------------------------------
def untrained_loss() -> float:
    """Reference: the cross-entropy (nats) of a freshly initialised GPT with the lesson's
    configuration (65 characters, 4 blocks, 128 wide) on the first 4 x 256 characters of Tiny
    Shakespeare. It lands near ln(65) = 4.17: an untrained model spreads its probability almost
    evenly over the 65 characters."""
    import torch.nn.functional as F

    from llmcourse import pretrained
    from llmcourse.data import load_corpus

    trained, tok = pretrained.load("shakespeare-char")
    cfg = trained.config
    ids = torch.tensor(tok.encode(load_corpus("tinyshakespeare")[:4 * cfg.block_size + 1]))
    x, y = ids[:-1].view(4, -1), ids[1:].view(4, -1)  # (4, 256) inputs and next-token targets
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = GPT(cfg).eval()
    with torch.no_grad():
        return F.cross_entropy(fresh(x).flatten(0, 1), y.flatten()).item()


exercise(
    "01.1", "The loss of an untrained model", points=1, kind="predict",
    reference=untrained_loss,
    visible=[Case().named("a fresh GPT (65 characters) on 1,024 characters of Shakespeare")],
    compare=close(atol=0.25, rtol=0),
    hint="Before training the model has no preference: it gives each of the 65 characters about the "
         "same probability, 1/65. The loss is -ln(probability of the right character).",
    mistakes=[
        Mistake("log base 2", lambda: math.log2(65),
                hint="The loss uses the natural logarithm (nats), as F.cross_entropy does: ln(65), "
                     "not log2(65) bits."),
        Mistake("the probability, not the loss", lambda: 1 / 65,
                hint="1/65 is the probability of the right character. The loss is minus its natural "
                     "logarithm, -ln(1/65). (A loss of 0 would be a perfect model, not an untrained one.)"),
        Mistake("the vocabulary size", lambda: 65.0,
                hint="The loss is a logarithm: -ln(1/65), a number near 4, not 65 itself."),
        Mistake("log base 10", lambda: math.log10(65),
                hint="Use the natural logarithm (math.log), not log10."),
    ],
    alternatives=[Alternative("ln(65)", lambda: math.log(65)),
                  Alternative("minus the log of a uniform probability", lambda: -math.log(1 / 65))],
)


def _tiny_gpt(seed: int, vocab_size: int = 11, block_size: int = 8, n_layer: int = 2, n_embd: int = 16,
              tie_weights: bool = True, pos_embedding: str = "learned") -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=2,
                         n_embd=n_embd, tie_weights=tie_weights, pos_embedding=pos_embedding)).eval()


# --- 01.3 generation that stops at a token (transfer) ---------------------------------------------
def generate_until(model, idx: torch.Tensor, max_new_tokens: int, stop_id: int) -> torch.Tensor:
    """Reference: the greedy loop of 01.2 for one prompt ``(1, T)``, which also ends as soon as it
    has appended ``stop_id`` (kept in the result)."""
    block = model.config.block_size
    with torch.no_grad():
        for _ in range(max_new_tokens):
            nxt = model(idx[:, -block:])[:, -1, :].argmax(dim=-1, keepdim=True)  # (1, 1)
            idx = torch.cat([idx, nxt], dim=1)  # (1, T + 1)
            if nxt.item() == stop_id:
                break
    return idx


def _until(model, idx, n, stop_id, keep=True, check="new"):
    """A configurable version of the loop for the planted bugs below."""
    block = model.config.block_size
    with torch.no_grad():
        for _ in range(n):
            if check == "before" and idx[0, -1].item() == stop_id:
                break
            nxt = model(idx[:, -block:])[:, -1, :].argmax(dim=-1, keepdim=True)
            if not keep and nxt.item() == stop_id:
                break
            idx = torch.cat([idx, nxt], dim=1)
            if check == "new" and nxt.item() == stop_id:
                break
            if check == "all" and (idx == stop_id).any():
                break
    return idx


def _until_explicit(model, idx, n, stop_id):
    block = model.config.block_size
    out = idx[0].tolist()
    for _ in range(n):
        with torch.no_grad():
            logits = model(torch.tensor([out[-block:]]))  # (1, <= block, V)
        out.append(int(logits[0, -1].argmax()))
        if out[-1] == stop_id:
            break
    return torch.tensor([out])


def _stop_cases(r):
    m = WindowSumModel(7, 4)
    cases = []
    # a stop token that first appears a few steps in, and not in the prompt
    while True:
        p = r.randint(0, 7, 1, r.integer(1, 3))
        new = greedy_generate(m, p, 12)[0, p.shape[1]:].tolist()
        ks = [k for k in range(1, 8) if new[k] not in new[:k] and new[k] not in p[0].tolist()]
        if ks:
            cases.append(Case(m, p, 12, new[r.choice(ks)]).named("the stop token comes after a few steps"))
            break
    # the prompt contains the stop token, and the first new token is something else
    while True:
        p = r.randint(0, 7, 1, 3)
        first = greedy_generate(m, p, 1)[0, -1].item()
        inside = [t for t in p[0, :-1].tolist() if t != first and t != p[0, -1].item()]
        if inside:
            cases.append(Case(m, p, 6, r.choice(inside)).named("the prompt already contains the stop token"))
            break
    # the prompt ends with the stop token
    while True:
        p = r.randint(0, 7, 1, 2)
        if greedy_generate(m, p, 1)[0, -1].item() != p[0, -1].item():
            cases.append(Case(m, p, 5, p[0, -1].item()).named("the prompt ends with the stop token"))
            break
    with torch.random.fork_rng(devices=[]):
        g = _tiny_gpt(r.seed_torch(), vocab_size=13, block_size=6)
    cases += [
        Case(m, r.randint(0, 7, 1, 3), r.integer(6, 9), 7).named("a stop id the model never produces: "
                                                               "all max_new_tokens tokens"),
        Case(g, r.randint(0, 13, 1, 5), r.integer(7, 9), 13).named("no stop, and the text grows past "
                                                                 "block_size = 6"),
        Case(m, r.randint(0, 7, 1, 2), 0, 3).named("max_new_tokens = 0 returns the prompt"),
    ]
    return cases


exercise(
    "01.3", "Stop at an end token", points=2, kind="transfer",
    reference=generate_until,
    visible=[Case(WindowSumModel(7, 4), torch.tensor([[1, 2]]), 10, 5)
             .named("the sum-mod-7 model, prompt [1, 2], stop at 5: [1, 2, 3, 6, 5]")],
    hidden=_stop_cases,
    compare=exact(),
    hint="Run the greedy loop (crop to block_size, last position, argmax, append) at most "
         "max_new_tokens times, and after appending a token, break if it equals stop_id. Return the "
         "whole sequence, stop token included.",
    mistakes=[
        Mistake("the stop token never checked", lambda m, idx, n, s: greedy_generate(m, idx, n),
                hint="After appending each new token, compare it with stop_id and leave the loop "
                     "(break) when they are equal."),
        Mistake("the stop token left out", lambda m, idx, n, s: _until(m, idx, n, s, keep=False),
                hint="Keep the stop token: append it first, then break. A caller needs to see that "
                     "the text ended, not that it was cut."),
        Mistake("the prompt searched for the stop token", lambda m, idx, n, s: _until(m, idx, n, s, check="all"),
                hint="Only the NEW token decides: compare the token you just appended with stop_id, "
                     "not the whole sequence (the prompt may already contain it)."),
        Mistake("checked before generating", lambda m, idx, n, s: _until(m, idx, n, s, check="before"),
                hint="Check the token the model has just produced, after appending it. Checking "
                     "idx[0, -1] at the top of the loop stops on a prompt that merely ends with "
                     "stop_id."),
    ],
    alternatives=[Alternative("a Python list of ids, one forward per step", _until_explicit)],
)


# --- 01.2 greedy generation ----------------------------------------------------------------------
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
    "01.2", "Greedy generation: predict, pick, append, repeat", points=2, kind="rebuild",
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
