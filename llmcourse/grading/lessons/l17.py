"""Lesson 17 (Output Layer) exercises.

17.1 ``OutputLayer(token_embedding)``: final LayerNorm ``ln_f`` and a bias-free LM head ``lm_head``
     whose weight *is* the token embedding's matrix (weight tying); ``forward(x)`` returns logits.
17.2 ``cross_entropy(logits, targets)``: mean next-token loss by hand, with a stable log-softmax.
17.3 ``perplexity(logits, targets)``: ``exp`` of the mean cross-entropy.

>>> z = torch.tensor([[2.0, 1.0, 0.5, 0.0]])          # the seed's logits for on / the / mat / in
>>> round(cross_entropy(z, torch.tensor([0])).item(), 4)   # the next token is "on"
0.546
>>> round(perplexity(torch.zeros(3, 65), torch.tensor([0, 1, 2])).item(), 3)   # uniform over 65 -> 65
65.0
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse.grading import Case, Mistake, close, exercise
from llmcourse.grading.registry import Alternative
from llmcourse.grading.runner import SubmissionError
from llmcourse.norm import LayerNorm


# --- 17.1 the output layer with a tied head --------------------------------------------------------
class OutputLayer(nn.Module):
    """Reference: ``ln_f`` then ``lm_head``, the head sharing the token embedding's (V, d) matrix."""

    def __init__(self, token_embedding: nn.Embedding):
        super().__init__()
        vocab_size, n_embd = token_embedding.weight.shape
        self.ln_f = LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = token_embedding.weight  # tying: one Parameter, used twice

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.ln_f(x))  # (B, T, n_embd) -> (B, T, vocab_size)


class _Untied(OutputLayer):
    def __init__(self, token_embedding):
        super().__init__(token_embedding)
        self.lm_head.weight = nn.Parameter(token_embedding.weight.detach().clone())  # a copy, not a tie


class _NoFinalNorm(OutputLayer):
    def forward(self, x):
        return self.lm_head(x)


class _HeadBias(OutputLayer):
    def __init__(self, token_embedding):
        super().__init__(token_embedding)
        V, d = token_embedding.weight.shape
        self.lm_head = nn.Linear(d, V)  # bias=True by default
        self.lm_head.weight = token_embedding.weight


class _Softmaxed(OutputLayer):
    def forward(self, x):
        return torch.softmax(self.lm_head(self.ln_f(x)), dim=-1)


class _FreshHead(OutputLayer):
    def __init__(self, token_embedding):
        super().__init__(token_embedding)
        V, d = token_embedding.weight.shape
        self.lm_head = nn.Linear(d, V, bias=False)  # random matrix: the embedding is not used


class _TiedThroughData(OutputLayer):
    def __init__(self, token_embedding):
        super().__init__(token_embedding)
        self.lm_head.weight = nn.Parameter(torch.empty(0))
        self.lm_head.weight.data = token_embedding.weight.data  # shared storage, a second Parameter


class _FunctionalHead(nn.Module):
    def __init__(self, token_embedding: nn.Embedding):
        super().__init__()
        self.ln_f = LayerNorm(token_embedding.weight.shape[1])
        self.wte = token_embedding  # the embedding module itself; its matrix is the head

    def forward(self, x):
        return F.linear(self.ln_f(x), self.wte.weight)


def _run_output_layer(cls, case):
    """Build the learner's module on a fresh embedding, set ``ln_f``'s gain and shift, then change
    the embedding in place (as an optimizer step would): a tied head must see the change."""
    cls = type(cls) if isinstance(cls, nn.Module) else cls
    (weight, ln_gain, ln_shift, update, x), _ = case.inputs()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(17)
        emb = nn.Embedding(*weight.shape)
        with torch.no_grad():
            emb.weight.copy_(weight)
        mod = cls(emb)
        if not isinstance(mod, nn.Module):
            raise SubmissionError(f"building your class returned {type(mod).__name__}, not an nn.Module.")
        ln = getattr(mod, "ln_f", None)
        if not isinstance(getattr(ln, "weight", None), torch.Tensor) or \
                not isinstance(getattr(ln, "bias", None), torch.Tensor):
            raise SubmissionError("your module needs self.ln_f = LayerNorm(n_embd), with a gain "
                                  "(ln_f.weight) and a shift (ln_f.bias).")
        if tuple(ln.weight.shape) != tuple(ln_gain.shape):
            raise SubmissionError(f"ln_f.weight has shape {tuple(ln.weight.shape)}, expected "
                                  f"{tuple(ln_gain.shape)}: LayerNorm(n_embd) with n_embd = "
                                  f"token_embedding.weight.shape[1].")
        with torch.no_grad():
            ln.weight.copy_(ln_gain)
            ln.bias.copy_(ln_shift)
            emb.weight.add_(update)  # a training step changes the embedding...
        with torch.enable_grad():
            logits = mod.eval()(x)  # ...and a tied head computes with the new matrix
            logits.square().sum().backward()  # the head's gradient must reach the one shared matrix
        grad = emb.weight.grad if emb.weight.grad is not None else torch.zeros_like(emb.weight)
        return {"logits": logits.detach(), "gradient reaching the token embedding": grad}


def _head_case(r, V, d, B, T, label=None):
    case = Case(r.randn(V, d), 1.0 + 0.3 * r.randn(d), 0.3 * r.randn(d), r.randn(V, d, scale=0.5),
                r.randn(B, T, d, scale=2.0))
    return case.named(label or f"vocab {V}, n_embd {d}, x of shape ({B}, {T}, {d})")


def _head_visible(r):
    return [_head_case(r, 4, 8, 1, 3, "the seed's 4-word vocabulary (on, the, mat, in), n_embd 8")]


def _head_hidden(r):
    return [_head_case(r, r.integer(5, 70), 16, r.integer(1, 3), r.integer(1, 6)),
            _head_case(r, 65, 32, 2, 4, "the character vocabulary: 65 tokens, n_embd 32"),
            _head_case(r, 3, 4, 1, 1, "one position"),
            _head_case(r, 9, 8, 3, 4, "a batch of three sequences")]


exercise(
    "17.1", "The output layer with a tied head", points=2,
    reference=OutputLayer,
    run=_run_output_layer,
    visible=_head_visible,
    hidden=_head_hidden,
    compare=close(atol=1e-5, rtol=1e-5),
    hint="self.ln_f = LayerNorm(n_embd); self.lm_head = nn.Linear(n_embd, vocab_size, bias=False); "
         "self.lm_head.weight = token_embedding.weight; forward: return self.lm_head(self.ln_f(x)).",
    mistakes=[
        Mistake("a copy instead of a tie", _Untied,
                hint="Assign the embedding's Parameter itself: self.lm_head.weight = "
                     "token_embedding.weight. A clone is a second matrix that stops following the "
                     "embedding after the first training step (the check changes the embedding)."),
        Mistake("no final LayerNorm", _NoFinalNorm,
                hint="Normalise before the head: return self.lm_head(self.ln_f(x))."),
        Mistake("a bias in the head", _HeadBias,
                hint="GPT-2's head has no bias: nn.Linear(n_embd, vocab_size, bias=False)."),
        Mistake("softmax applied", _Softmaxed,
                hint="Return the logits themselves; softmax comes later (inside the loss, and for sampling in lesson 18)."),
        Mistake("a fresh head matrix", _FreshHead,
                hint="The head must reuse token_embedding.weight; a new nn.Linear starts from random "
                     "weights unrelated to the embedding."),
        Mistake("tied through .data", _TiedThroughData,
                hint="Assign the Parameter itself: self.lm_head.weight = token_embedding.weight. Sharing "
                     ".data makes a second Parameter on the same numbers: the model counts it twice and "
                     "the head's gradient never reaches the embedding."),
    ],
    alternatives=[Alternative("F.linear with the embedding's weight", _FunctionalHead)],
)


# --- 17.2 cross-entropy by hand ------------------------------------------------------------------
def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Reference: ``F.cross_entropy`` over all positions; logits ``(..., V)``, targets ``(...)``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long())


def _ce_naive(logits, targets):
    p = logits.exp() / logits.exp().sum(-1, keepdim=True)  # overflows for logits above ~88
    return -p.gather(-1, targets.long().unsqueeze(-1)).log().mean()


def _ce_sum(logits, targets):
    return cross_entropy(logits, targets) * targets.numel()


def _ce_sign(logits, targets):
    return -cross_entropy(logits, targets)


def _ce_forgot_max(logits, targets):
    m = logits.amax(-1, keepdim=True)
    lse = (logits - m).exp().sum(-1, keepdim=True).log()  # the max is never added back
    return (lse - logits).gather(-1, targets.long().unsqueeze(-1)).mean()


def _ce_argmax(logits, targets):
    return cross_entropy(logits, logits.argmax(-1))


def _ce_mean_over_vocab(logits, targets):
    return -torch.log_softmax(logits, -1).mean()


def _ce_log_softmax(logits, targets):
    lp = torch.log_softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return -lp.gather(1, targets.reshape(-1, 1).long()).mean()


def _ce_logsumexp(logits, targets):
    flat, t = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long()
    return (torch.logsumexp(flat, dim=-1) - flat[torch.arange(len(t)), t]).mean()


def _ce_visible(r):
    seed = torch.tensor([[2.0, 1.0, 0.5, 0.0]])  # on, the, mat, in
    return [Case(seed, torch.tensor([0])).named("the seed's logits, next token 'on'"),
            Case(seed.repeat(2, 1), torch.tensor([0, 3])).named("the seed's logits, next tokens 'on' and 'in'")]


def _ce_hidden(r):
    n = r.integer(2, 9)
    return [Case(r.randn(n, 11, scale=2.0), r.randint(0, 11, n)).named("random logits (N, 11)"),
            Case(r.randn(2, 5, 65, scale=3.0), r.randint(0, 65, 2, 5)).named("a batch (B, T, V) = (2, 5, 65)"),
            Case(r.randn(4, 7, scale=300.0), r.randint(0, 7, 4)).named("huge logits (hundreds)"),
            Case(r.randn(3, 50257, scale=0.02), r.randint(0, 50257, 3)).named("GPT-2's vocabulary at init"),
            Case(r.randn(1, 1, 9), r.randint(0, 9, 1, 1)).named("one token (B = T = 1)"),
            Case(r.randn(6, 5), torch.full((6,), r.integer(0, 4))).named("the same target six times")]


exercise(
    "17.2", "Cross-entropy loss by hand", points=2,
    reference=cross_entropy,
    visible=_ce_visible,
    hidden=_ce_hidden,
    compare=close(atol=1e-4, rtol=1e-5),
    hint="loss_i = logsumexp(z_i) - z_i[y_i], with logsumexp(z) = m + log(sum(exp(z - m))) and m the "
         "row maximum; return the mean over all positions as a 0-dim tensor.",
    mistakes=[
        Mistake("softmax without the max trick", _ce_naive,
                hint="exp() of a logit above ~88 is inf in float32. Subtract each row's maximum before "
                     "exp and add it back after the log (or use torch.logsumexp)."),
        Mistake("sum instead of mean", _ce_sum,
                hint="Average over all positions (divide by the number of targets), as F.cross_entropy does."),
        Mistake("wrong sign", _ce_sign,
                hint="The loss is -log p(target): a positive number (log p is negative)."),
        Mistake("max subtracted but not added back", _ce_forgot_max,
                hint="logsumexp(z) = m + log(sum(exp(z - m))): add the maximum m back after the log."),
        Mistake("loss of the predicted token", _ce_argmax,
                hint="Pick the log-probability of the target token targets[i], not of the most likely one."),
        Mistake("mean over the whole vocabulary", _ce_mean_over_vocab,
                hint="Take one entry per position, log p[target] (e.g. with gather or fancy indexing), "
                     "then average over positions; do not average over all V entries."),
    ],
    alternatives=[Alternative("log_softmax and gather", _ce_log_softmax),
                  Alternative("logsumexp minus the target's logit", _ce_logsumexp),
                  Alternative("F.nll_loss(F.log_softmax)", lambda lg, t: F.nll_loss(
                      F.log_softmax(lg.view(-1, lg.size(-1)), -1), t.view(-1)))],
)


# --- 17.3 perplexity -----------------------------------------------------------------------------
def perplexity(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Reference: ``exp`` of the mean cross-entropy (natural log), a 0-dim tensor."""
    return cross_entropy(logits, targets).exp()


def _ppl_mean_of_exp(logits, targets):
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(),
                                reduction="none")
    return per_token.exp().mean()


def _ppl_base2(logits, targets):
    return 2 ** cross_entropy(logits, targets)


def _ppl_exp_sum(logits, targets):
    return _ce_sum(logits, targets).exp()


def _ppl_inverse_mean_prob(logits, targets):
    p = torch.softmax(logits, -1).reshape(-1, logits.shape[-1])  # (N, V)
    return 1.0 / p.gather(-1, targets.reshape(-1, 1).long()).mean()


def _ppl_hidden(r):
    n = r.integer(3, 8)
    return [Case(r.randn(n, 13, scale=2.0), r.randint(0, 13, n)).named("random logits (N, 13)"),
            Case(r.randn(2, 6, 65, scale=3.0), r.randint(0, 65, 2, 6)).named("a batch (B, T, V) = (2, 6, 65)"),
            Case(torch.zeros(4, r.integer(2, 500)), torch.zeros(4, dtype=torch.long)).named("uniform logits")]


exercise(
    "17.3", "Perplexity", points=1,
    reference=perplexity,
    visible=[Case(torch.zeros(3, 65), torch.tensor([0, 1, 2])).named("uniform logits over 65 characters"),
             Case(torch.tensor([[2.0, 1.0, 0.5, 0.0]]), torch.tensor([0])).named("the seed's logits, next token 'on'")],
    hidden=_ppl_hidden,
    compare=close(atol=1e-4, rtol=1e-4),
    hint="perplexity = exp(mean cross-entropy), with the natural log: uniform logits over k tokens "
         "give exactly k.",
    mistakes=[
        Mistake("mean of per-token perplexities", _ppl_mean_of_exp,
                hint="Average the losses first, then take exp once: exp(mean), not mean(exp)."),
        Mistake("base 2", _ppl_base2,
                hint="The loss uses the natural log, so the matching perplexity is e**loss (torch.exp), not 2**loss."),
        Mistake("exp of the summed loss", _ppl_exp_sum,
                hint="Use the mean loss per token; exp of the sum grows with the length of the text."),
        Mistake("1 / mean probability", _ppl_inverse_mean_prob,
                hint="Perplexity is a geometric mean: exp(mean(-log p)), not 1 / mean(p)."),
    ],
    alternatives=[Alternative("exp of the mean negative log-probability", lambda lg, t: torch.exp(_ce_log_softmax(lg, t))),
                  Alternative("geometric mean of 1 / p", lambda lg, t: torch.exp(-torch.log(torch.softmax(
                      lg.reshape(-1, lg.shape[-1]).double(), -1).gather(1, t.reshape(-1, 1).long())).mean()).float())],
)
