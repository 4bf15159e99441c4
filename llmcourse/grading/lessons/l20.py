"""Lesson 20 (Complete Pipeline) exercises: the training step, gradient accumulation, generation.

20.1 ``train_step(model, optimizer, x, y, grad_clip=1.0)`` (rebuild): one optimisation step, as in
     the lesson's loop (zero the gradients, forward with targets, backward, clip the gradient
     norm, step); returns the loss.
20.2 ``accumulate_step(model, optimizer, xs, ys, grad_clip=1.0)`` (transfer): one optimisation
     step over ``k`` micro-batches ``xs[i], ys[i]`` whose gradients add up to the gradient of the
     one big batch (each micro-batch's loss divided by ``k``); returns the mean loss.
20.3 ``generate_tokens(model, idx, max_new_tokens, temperature=1.0, seed=0)`` (find the bug):
     the sampling loop without a KV cache, given with a context that is never cropped.

The models in the checks are small random GPTs whose token embeddings are scaled up so that
their next-token distributions are far from uniform (mistakes then change the output clearly).

>>> model, tok = _model_and_tokenizer(0)
>>> model(torch.tensor([tok.encode("ROMEO:")])).shape
torch.Size([1, 6, 52])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse import sampling
from llmcourse.data import load_corpus
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.lessons._common import WindowSumModel
from llmcourse.grading.registry import Alternative
from llmcourse.model import GPT, GPTConfig
from llmcourse.tokenizers import CharTokenizer

_TEXT = load_corpus("tinyshakespeare")[:3000]
_TOK = CharTokenizer.from_text(_TEXT)
BLOCK = 16


def _model_and_tokenizer(seed: int, dropout: float = 0.0, block_size: int = BLOCK, emb_std: float = 0.12):
    """A 2-layer GPT over the characters of the corpus's first 3000 characters, built from
    ``seed`` without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cfg = GPTConfig(vocab_size=_TOK.vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=32,
                        dropout=dropout)
        model = GPT(cfg)
        with torch.no_grad():
            model.embed.tok.weight.normal_(0.0, emb_std)  # peaked distributions (tied LM head)
    return model.eval(), _TOK


class _one_thread:
    """Run tiny models on one thread: on a busy machine, thread hand-offs can make a 30k-parameter
    forward pass a hundred times slower and push a correct solution over the time limit."""

    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)


def _plain_run(submission, case):
    args, kwargs = case.inputs()
    with _one_thread():
        return submission(*args, **kwargs)


# --- 20.1 one training step ---------------------------------------------------------------------
def train_step(model, optimizer, x: torch.Tensor, y: torch.Tensor, grad_clip: float = 1.0) -> float:
    """Reference: the step of the lesson's loop, returning a float."""
    optimizer.zero_grad(set_to_none=True)
    _, loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


def _step_buggy(*, zero=True, clip="norm", step=True):
    def fn(model, optimizer, x, y, grad_clip=1.0):
        if zero:
            optimizer.zero_grad(set_to_none=True)
        _, loss = model(x, y)
        loss.backward()
        if clip == "norm":
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        elif clip == "value":
            torch.nn.utils.clip_grad_value_(model.parameters(), grad_clip)
        if step:
            optimizer.step()
        return loss.item()
    return fn


def _step_by_hand(model, optimizer, x, y, grad_clip=1.0):
    for p in model.parameters():
        p.grad = None
    logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=grad_clip)
    optimizer.step()
    return float(loss)


def _loss_value(out) -> float:
    if isinstance(out, torch.Tensor) and out.numel() == 1:
        return float(out.detach())
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return float(out)
    raise TypeError(f"train_step must return the loss as a Python float (loss.item()), got {type(out).__name__} "
                    f"{out!r:.60}")


def _run_steps(submission, case):
    """Run ``submission`` once per batch in ``x``/``y`` (stacked along dim 0) and return the losses
    and every parameter afterwards (flattened)."""
    (model, optimizer, xs, ys), kwargs = case.inputs()  # copied together: the optimizer keeps its params
    model.train()
    with _one_thread():
        losses = [_loss_value(submission(model, optimizer, x, y, **kwargs)) for x, y in zip(xs, ys)]
    params = torch.cat([p.detach().flatten() for p in model.parameters()])
    return torch.tensor(losses), params


def _step_case(r, opt: str, grad_clip: float, n_steps: int = 3) -> Case:
    model, _ = _model_and_tokenizer(r.seed_torch(), block_size=8)
    if opt == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    else:
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    V, B, T = model.config.vocab_size, 4, 8
    data = r.randint(0, V, n_steps, B, T + 1)  # (steps, B, T + 1) random windows
    xs, ys = data[..., :-1].contiguous(), data[..., 1:].contiguous()  # (steps, B, T) each; .view works
    label = f"{n_steps} steps with {'SGD' if opt == 'sgd' else 'AdamW'}, grad_clip={grad_clip:g}"
    return Case(model, optimizer, xs, ys, grad_clip=grad_clip).named(label)


exercise(
    "20.1", "One training step, from memory", points=1, kind="rebuild",
    reference=train_step,
    visible=lambda r: [_step_case(r, "sgd", 0.05)],
    hidden=lambda r: [_step_case(r, "adamw", 1.0), _step_case(r, "sgd", 1e6, n_steps=2),
                      _step_case(r, "sgd", r.choice([0.02, 0.05, 0.1]), n_steps=4)],
    compare=close(atol=1e-5, rtol=1e-4),
    run=_run_steps,
    hint="Order: optimizer.zero_grad(), logits, loss = model(x, y), loss.backward(), "
         "torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip), optimizer.step(); "
         "return loss.item().",
    mistakes=[
        Mistake("gradients never cleared", _step_buggy(zero=False),
                hint="PyTorch adds new gradients to the old ones: call optimizer.zero_grad() at the start "
                     "of every step."),
        Mistake("no clipping", _step_buggy(clip=None),
                hint="Clip after backward() and before step(): "
                     "torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)."),
        Mistake("clipped each value instead of the norm", _step_buggy(clip="value"),
                hint="clip_grad_value_ cuts every entry separately and changes the gradient's direction; "
                     "clip_grad_norm_ rescales the whole gradient so that its norm is at most grad_clip."),
        Mistake("no optimizer step", _step_buggy(step=False),
                hint="After backward() and clipping, call optimizer.step() to update the weights (and do "
                     "not zero the gradients between backward() and step())."),
    ],
    alternatives=[Alternative("logits, F.cross_entropy, grads set to None by hand", _step_by_hand)],
)


# --- 20.2 gradient accumulation -----------------------------------------------------------------
def accumulate_step(model, optimizer, xs: torch.Tensor, ys: torch.Tensor, grad_clip: float = 1.0) -> float:
    """Reference: one step over ``k = len(xs)`` micro-batches; each loss is divided by ``k`` so that
    the summed gradients are the gradient of the mean loss over the big batch."""
    k = len(xs)
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for x, y in zip(xs, ys):  # each (b, T)
        loss = model(x, y)[1] / k
        loss.backward()  # gradients add up in p.grad
        total += loss.item()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return total


def _accum_buggy(*, divide=True, step_each=False, zero_each=False, last_loss=False):
    def fn(model, optimizer, xs, ys, grad_clip=1.0):
        k = len(xs)
        optimizer.zero_grad(set_to_none=True)
        losses = []
        for x, y in zip(xs, ys):
            if zero_each:
                optimizer.zero_grad(set_to_none=True)
            _, loss = model(x, y)
            (loss / k if divide else loss).backward()
            losses.append(loss.item())
            if step_each:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
        if not step_each:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        return losses[-1] if last_loss else sum(losses) / k
    return fn


def _accum_one_big_batch(model, optimizer, xs, ys, grad_clip=1.0):
    """The same step on the k micro-batches stacked into one batch of k * b rows."""
    x, y = xs.flatten(0, 1), ys.flatten(0, 1)  # (k * b, T)
    optimizer.zero_grad()
    _, loss = model(x, y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss)


def _accum_case(r, grad_clip: float, k: int, b: int, n_steps: int = 2, opt: str = "sgd") -> Case:
    model, _ = _model_and_tokenizer(r.seed_torch(), block_size=8)
    if opt == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    V, T = model.config.vocab_size, 8
    data = r.randint(0, V, n_steps, k, b, T + 1)  # (steps, k, b, T + 1)
    xs, ys = data[..., :-1].contiguous(), data[..., 1:].contiguous()  # (steps, k, b, T) each
    what = "SGD" if opt == "sgd" else "SGD with momentum"
    return Case(model, optimizer, xs, ys, grad_clip=grad_clip).named(
        f"{n_steps} steps with {what}, k={k} micro-batches of {b} rows, grad_clip={grad_clip:g}")


exercise(
    "20.2", "Gradient accumulation", points=2, kind="transfer",
    reference=accumulate_step,
    visible=lambda r: [_accum_case(r, 1e6, k=4, b=2)],
    hidden=lambda r: [_accum_case(r, 1e6, k=r.integer(2, 5), b=r.integer(1, 3), n_steps=3),
                      _accum_case(r, 1e6, k=1, b=4),
                      _accum_case(r, 0.05, k=3, b=2, n_steps=3),
                      _accum_case(r, 1e6, k=2, b=r.integer(1, 4), n_steps=3, opt="momentum")],
    compare=close(atol=1e-5, rtol=1e-4),
    run=_run_steps,
    hint="Zero the gradients once; for each micro-batch: loss = model(x, y)[1], (loss / k).backward(); "
         "then clip the gradient norm once and call optimizer.step() once. Return the mean of the k losses.",
    mistakes=[
        Mistake("losses not divided by k", _accum_buggy(divide=False),
                hint="backward() adds each micro-batch's gradient to p.grad, so k of them sum to k times the "
                     "big batch's gradient: call (loss / k).backward()."),
        Mistake("a step after every micro-batch", _accum_buggy(step_each=True),
                hint="Accumulate first, step once: clip and call optimizer.step() after the loop over the "
                     "micro-batches, not inside it."),
        Mistake("gradients cleared for every micro-batch", _accum_buggy(zero_each=True),
                hint="Call optimizer.zero_grad() once, before the loop: inside it, it throws away the "
                     "gradients of the earlier micro-batches."),
        Mistake("returned the last micro-batch's loss", _accum_buggy(last_loss=True),
                hint="Return the loss of the whole big batch: the mean of the k micro-batch losses."),
    ],
    alternatives=[Alternative("the k micro-batches stacked into one big batch", _accum_one_big_batch)],
)


# --- 20.3 the sampling loop -----------------------------------------------------------------------
def generate_tokens(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    seed: int = 0) -> torch.Tensor:
    """Reference: ``llmcourse.sampling.generate`` without the KV cache, with one seeded generator."""
    g = torch.Generator().manual_seed(seed)
    return sampling.generate(model, idx, max_new_tokens, temperature=temperature, use_cache=False, generator=g)


def _gen_buggy(*, crop="last", position=-1, temp="divide", greedy=False, feed=True, reseed=False):
    def fn(model, idx, max_new_tokens, temperature=1.0, seed=0):
        model.eval()
        g = torch.Generator().manual_seed(seed)
        out, ctx = idx, idx
        B = model.config.block_size
        with torch.no_grad():
            for _ in range(max_new_tokens):
                cond = {"last": ctx[:, -B:], "first": ctx[:, :B], "last1": ctx[:, -(B - 1):], "none": ctx}[crop]
                logits = model(cond)[:, position, :]  # (B, V)
                if temperature == 0 or greedy:
                    nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
                else:
                    z = logits / temperature if temp == "divide" else logits * temperature
                    if reseed:
                        g = torch.Generator().manual_seed(seed)
                    nxt = torch.multinomial(F.softmax(z, dim=-1), 1, generator=g)  # (B, 1)
                out = torch.cat([out, nxt], dim=1)  # (B, T + 1)
                ctx = out if feed else idx
        return out
    return fn


def _gen_visible(r):
    model, tok = _model_and_tokenizer(0)
    prompt = torch.tensor([tok.encode("ROMEO:")])  # (1, 6)
    return [Case(model, prompt, 20, temperature=0.0).named("greedy, 20 tokens after 'ROMEO:'"),
            Case(model, prompt, 20, temperature=1.0, seed=3).named("sampled at T=1, seed 3")]


def _gen_hidden(r):
    cases = []
    for B, T0, n, temperature in ((1, r.integer(2, 8), 25, r.choice([0.7, 1.0, 1.3])),
                                  (2, r.integer(3, 10), 15, 1.0),
                                  (1, r.integer(BLOCK + 1, 2 * BLOCK), 10, r.choice([0.8, 1.5])),
                                  (1, r.integer(2, 6), 25, 0.0)):
        model, _ = _model_and_tokenizer(r.seed_torch())
        prompt = r.randint(0, model.config.vocab_size, B, T0)  # (B, T0)
        cases.append(Case(model, prompt, n, temperature=temperature, seed=r.integer(0, 10_000)))
    model, _ = _model_and_tokenizer(r.seed_torch())
    cases.append(Case(model, r.randint(0, model.config.vocab_size, 2, BLOCK), 6, temperature=1.0,
                      seed=r.integer(0, 10_000)).named(f"two prompts of exactly block_size={BLOCK} tokens"))
    summer = _SharpWindowSum(13, 8)
    cases.append(Case(summer, _distinct_rows(r, 3, 8, 13), 8, temperature=1.0, seed=r.integer(0, 10_000))
                 .named("a model that predicts the sum of its last 8 tokens mod 13: three prompts of exactly "
                        "block_size = 8 tokens"))
    return cases


class _SharpWindowSum(WindowSumModel):
    """Lesson 1's sum-of-the-context model with sharper logits: sampling at T = 1 picks its
    prediction with probability above 0.999, so every token of the window visibly matters."""

    def forward(self, idx):
        return 6.0 * super().forward(idx)


def _distinct_rows(r, B, T, V):
    while True:
        idx = r.randint(0, V, B, T)
        if len(set((idx.sum(dim=1) % V).tolist())) == B:
            return idx


def _generate_by_hand(model, idx, max_new_tokens, temperature=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    model.eval()
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(idx[:, -model.config.block_size:])[:, -1, :]
        if temperature == 0:
            nxt = torch.argmax(logits, dim=-1, keepdim=True)
        else:
            nxt = torch.multinomial(torch.softmax(logits / temperature, dim=-1), num_samples=1, generator=g)
        idx = torch.cat((idx, nxt), dim=1)
    return idx


exercise(
    "20.3", "A generation loop that forgets the context window", points=1, kind="find the bug",
    reference=generate_tokens, given=_gen_buggy(crop="none"),
    visible=_gen_visible,
    hidden=_gen_hidden,
    compare=exact(),
    run=_plain_run,
    hint="Make g = torch.Generator().manual_seed(seed) once. Each step: crop to the last block_size "
         "tokens, logits of the last position, divide by the temperature, softmax, "
         "torch.multinomial(probs, 1, generator=g), append to idx. temperature=0: argmax instead.",
    mistakes=[
        Mistake("kept the first block_size tokens", _gen_buggy(crop="first"),
                hint="Once the sequence is longer than block_size, feed the model its LAST block_size "
                     "tokens: idx[:, -block_size:]."),
        Mistake("logits of the first position", _gen_buggy(position=0),
                hint="Use the logits of the last position, logits[:, -1, :]: that is the prediction for "
                     "the token that comes next."),
        Mistake("temperature multiplied", _gen_buggy(temp="multiply"),
                hint="Divide the logits by the temperature before the softmax."),
        Mistake("always greedy", _gen_buggy(greedy=True),
                hint="For temperature > 0, sample with torch.multinomial(probs, 1, generator=g); argmax "
                     "only when temperature == 0."),
        Mistake("new token not fed back", _gen_buggy(feed=False),
                hint="Append each new token to the sequence and feed the longer sequence at the next step."),
        Mistake("generator re-seeded every step", _gen_buggy(reseed=True),
                hint="Create and seed the generator once, before the loop; re-seeding it every step makes "
                     "every draw use the same random number."),
        Mistake("cropped to block_size - 1", _gen_buggy(crop="last1"),
                hint="Crop the context to its last block_size tokens, idx[:, -block_size:]: the model can "
                     "read all of them, and the newest token must stay in."),
    ],
    alternatives=[Alternative("loop with torch.multinomial, cropped by hand", _generate_by_hand)],
)
