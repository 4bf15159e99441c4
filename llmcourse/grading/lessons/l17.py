"""Lesson 17 (Output Layer) exercises.

17.1 ``OutputLayer(token_embedding)`` (find the bug): final LayerNorm ``ln_f`` and a bias-free LM
     head ``lm_head`` whose weight *is* the token embedding's matrix; the given code ties it with a
     copy.
17.2 ``cross_entropy(logits, targets)`` (rebuild): mean next-token loss by hand, with a stable
     log-softmax.
17.3 ``masked_cross_entropy(logits, targets, ignore_index)`` (transfer): the mean loss over the
     positions whose target is not ``ignore_index`` (padding).

>>> z = torch.tensor([[2.0, 1.0, 0.5, 0.0]])          # the article's logits for on / the / mat / in
>>> round(cross_entropy(z, torch.tensor([0])).item(), 4)   # the next token is "on"
0.546
>>> z = torch.tensor([[[2.0, 0.0], [0.0, 2.0]]])     # (B, T, V) = (1, 2, 2)
>>> round(masked_cross_entropy(z, torch.tensor([[0, -100]])).item(), 4)   # the second position is padding
0.1269
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
    return [_head_case(r, 4, 8, 1, 3, "the article's 4-word vocabulary (on, the, mat, in), n_embd 8")]


def _head_hidden(r):
    return [_head_case(r, r.integer(5, 70), 16, r.integer(1, 3), r.integer(1, 6)),
            _head_case(r, 65, 32, 2, 4, "the character vocabulary: 65 tokens, n_embd 32"),
            _head_case(r, 3, 4, 1, 1, "one position"),
            _head_case(r, 9, 8, 3, 4, "a batch of three sequences")]


exercise(
    "17.1", "The output layer with a tied head", points=2, kind="find the bug",
    given=_Untied,
    reference=OutputLayer,
    run=_run_output_layer,
    visible=_head_visible,
    hidden=_head_hidden,
    compare=close(atol=1e-5, rtol=1e-5),
    hint="A tied head uses the embedding's Parameter itself (self.lm_head.weight = token_embedding.weight); "
         "a copy is a second matrix that stops following the embedding after the first training step "
         "(the check changes the embedding in place, then runs backward).",
    mistakes=[
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
    return [Case(seed, torch.tensor([0])).named("the article's logits, next token 'on'"),
            Case(seed.repeat(2, 1), torch.tensor([0, 3])).named("the article's logits, next tokens 'on' and 'in'")]


def _ce_hidden(r):
    n = r.integer(2, 9)
    return [Case(r.randn(n, 11, scale=2.0), r.randint(0, 11, n)).named("random logits (N, 11)"),
            Case(r.randn(2, 5, 65, scale=3.0), r.randint(0, 65, 2, 5)).named("a batch (B, T, V) = (2, 5, 65)"),
            Case(r.randn(4, 7, scale=300.0), r.randint(0, 7, 4)).named("huge logits (hundreds)"),
            Case(r.randn(3, 50257, scale=0.02), r.randint(0, 50257, 3)).named("GPT-2's vocabulary at init"),
            Case(r.randn(1, 1, 9), r.randint(0, 9, 1, 1)).named("one token (B = T = 1)"),
            Case(r.randn(6, 5), torch.full((6,), r.integer(0, 4))).named("the same target six times")]


exercise(
    "17.2", "Cross-entropy loss by hand", points=2, kind="rebuild",
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


# --- 17.3 a loss that skips padding ------------------------------------------------------------
def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Reference: the mean cross-entropy over the positions whose target is not ``ignore_index``;
    logits ``(..., V)``, targets ``(...)``."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long(),
                           ignore_index=ignore_index)


def _per_position(logits, targets, ignore_index):
    flat, t = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).long()
    keep = t != ignore_index
    loss = torch.logsumexp(flat, -1) - flat.gather(1, t.clamp(0, flat.shape[-1] - 1).unsqueeze(1)).squeeze(1)
    return loss, keep


def _mce_padding_in_denominator(logits, targets, ignore_index=-100):
    loss, keep = _per_position(logits, targets, ignore_index)
    return (loss * keep).sum() / keep.numel()  # padding counted as a loss of 0, but still counted


def _mce_padding_as_token_zero(logits, targets, ignore_index=-100):
    t = torch.where(targets == ignore_index, torch.zeros_like(targets), targets)
    return cross_entropy(logits, t)  # padding scored as if token 0 came next


def _mce_mean_of_row_means(logits, targets, ignore_index=-100):
    loss, keep = _per_position(logits, targets, ignore_index)
    loss, keep = loss.view(targets.shape), keep.view(targets.shape).float()
    rows = keep.sum(-1) > 0
    return ((loss * keep).sum(-1)[rows] / keep.sum(-1)[rows]).mean()  # short rows weigh as much as long ones


def _mce_fixed_minus_100(logits, targets, ignore_index=-100):
    return masked_cross_entropy(logits, targets, -100)  # the argument is ignored


def _mce_by_mask(logits, targets, ignore_index=-100):
    loss, keep = _per_position(logits, targets, ignore_index)
    return loss[keep].mean()


def _mce_nll(logits, targets, ignore_index=-100):
    lp = F.log_softmax(logits.double(), -1).reshape(-1, logits.shape[-1])
    t = targets.reshape(-1).long()
    keep = t != ignore_index
    return (-lp[keep].gather(1, t[keep].unsqueeze(1))).sum().div(keep.sum()).float()


def _padded(r, B, T, V, ignore_index=-100, scale=2.0):
    """Logits (B, T, V) and targets (B, T) whose rows end in different amounts of padding; every
    row keeps at least one real target."""
    targets = r.randint(0, V, B, T)
    if ignore_index >= 0:  # the padding id is a real id: keep it out of the real targets
        targets = torch.where(targets == ignore_index, (targets + 1) % V, targets)
    for b in range(B):
        n_pad = r.integer(0, T - 1)
        if n_pad:
            targets[b, T - n_pad:] = ignore_index
    return r.randn(B, T, V, scale=scale), targets


def _mce_visible(r):
    z = torch.tensor([[[2.0, 1.0, 0.5, 0.0], [2.0, 1.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]]])  # (1, 3, 4)
    return [Case(z, torch.tensor([[0, 3, -100]])).named("the article's logits twice, then one padded position")]


def _mce_hidden(r):
    cases = []
    lg, t = _padded(r, 3, 6, 11)
    t[0, 1:] = -100  # one row with a single real target, one without padding
    t[2] = torch.randint(0, 11, (6,))
    cases.append(Case(lg, t).named("three rows: 1, some and 6 real targets"))
    lg, t = _padded(r, 4, 8, 65)
    cases.append(Case(lg, t).named("a batch (4, 8, 65) padded at the end"))
    lg, t = _padded(r, 2, 5, 9, ignore_index=0)
    cases.append(Case(lg, t, ignore_index=0).named("padding id 0 (ignore_index=0)"))
    lg, t = _padded(r, 2, 4, 7, ignore_index=6)
    cases.append(Case(lg, t, ignore_index=6).named("padding id 6 = the last token id"))
    lg, t = _padded(r, 1, 1, 5)
    cases.append(Case(lg, t).named("one position, not padded"))
    lg = r.randn(2, 3, 13, scale=2.0)
    cases.append(Case(lg, r.randint(0, 13, 2, 3)).named("no padding at all: the plain mean"))
    return cases


exercise(
    "17.3", "A loss that skips padding", points=2, kind="transfer",
    reference=masked_cross_entropy,
    visible=_mce_visible,
    hidden=_mce_hidden,
    compare=close(atol=1e-4, rtol=1e-5),
    hint="Compute the loss of every position (reduction='none' or your 17.2 without the mean), keep "
         "the positions where targets != ignore_index, and average over those only.",
    mistakes=[
        Mistake("padding counted in the denominator", _mce_padding_in_denominator,
                hint="Divide by the number of real targets, not by B * T: zeroing the padded losses "
                     "still lets the padding pull the mean down."),
        Mistake("padding scored as token 0", _mce_padding_as_token_zero,
                hint="Drop the padded positions; replacing ignore_index by a real id makes the model "
                     "pay for predicting padding."),
        Mistake("mean of the rows' means", _mce_mean_of_row_means,
                hint="Average over all real positions of the batch at once: a row with one real "
                     "target must not weigh as much as a row with six."),
        Mistake("ignore_index fixed at -100", _mce_fixed_minus_100,
                hint="Use the ignore_index argument: the padding id may be 0 or any other number."),
    ],
    alternatives=[Alternative("per-position losses, then a boolean mask", _mce_by_mask),
                  Alternative("log_softmax in float64, summed and divided by the count", _mce_nll)],
)
