"""Muon, the optimiser the 5-minute preset uses for the blocks' weight matrices (lesson 20).

AdamW (the trainer's default) gives every single weight its own step size, from that weight's
own gradient history. Muon looks at a weight *matrix* as a whole. It keeps a running average of
the matrix's gradient (momentum), then replaces that average by the nearest matrix whose singular
values are all about 1 (it "orthogonalises" it) and steps along that. Directions that the raw
gradient barely touches get as large a step as the dominant ones, so a small model learns more
per step. The orthogonalisation is a few matrix products (a Newton-Schulz iteration), cheap next
to a forward and backward pass.

Muon is only for 2-D weights inside the blocks. The token embedding (which is also the LM head
here), position embeddings, biases and norm gains stay with AdamW; :class:`OptimizerSet` steps the
two as one optimiser. The update is PyTorch's ``torch.optim.Muon`` (PyTorch >= 2.9) with its
``adjust_lr_fn="match_rms_adamw"``, so AdamW's learning rate and weight decay carry over unchanged,
except that the Newton-Schulz iteration runs in float32 by default (PyTorch's runs in bfloat16,
which a CPU without bfloat16 instructions emulates, many times slower; the trainer asks for
bfloat16 where the hardware has it, see ``TrainConfig.precision``) and same-shaped matrices go through it
together, as one batched product.

>>> import torch
>>> w = torch.nn.Parameter(torch.eye(2))
>>> opt = Muon([w], lr=0.1, weight_decay=0.0)
>>> w.grad = torch.tensor([[4.0, 0.0], [0.0, 0.1]])    # one direction 40x stronger
>>> opt.step()
>>> step = torch.eye(2) - w.detach()                     # how far each direction moved
>>> round(step[0, 0].item(), 2), round(step[1, 1].item(), 2)   # plain SGD at lr 0.1: 0.4 and 0.01
(0.02, 0.03)
"""

from __future__ import annotations

import math

import torch

#: The quintic Newton-Schulz coefficients of Keller Jordan's Muon (and of ``torch.optim.Muon``):
#: chosen to push small singular values up fast, at the price of not landing exactly on 1.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(G: torch.Tensor, steps: int = 5, eps: float = 1e-7,
                  coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
                  dtype: torch.dtype | None = None) -> torch.Tensor:
    """Lesson 20: approximately orthogonalise ``G`` (shape ``(m, n)``, or ``(k, m, n)`` for ``k``
    matrices at once): the same singular vectors, singular values moved into roughly [0.7, 1.2].
    The products run in ``dtype`` (default: ``G``'s), and so does the result.

    Divide by the Frobenius norm (so every singular value is at most 1), then repeat
    ``X <- a X + (b A + c A^2) X`` with ``A = X X^T``, which acts on each singular value ``s`` as
    the polynomial ``a s + b s^3 + c s^5``.

    >>> G = torch.tensor([[3.0, 0.0], [0.0, 0.1]])          # singular values 3 and 0.1
    >>> [round(s, 2) for s in torch.linalg.svdvals(newton_schulz(G)).tolist()]
    [1.13, 0.7]
    """
    if G.dim() not in (2, 3):
        raise ValueError(f"newton_schulz expects a matrix (m, n) or a stack (k, m, n), got shape {tuple(G.shape)}.")
    a, b, c = coefficients
    one = G.dim() == 2
    X = G.unsqueeze(0) if one else G                         # (k, rows, cols)
    X = X if dtype is None else X.to(dtype)
    tall = X.size(-2) > X.size(-1)
    X = X.mT if tall else X                                  # (k, m, n) with m <= n: A is the smaller square
    X = X / X.norm(dim=(-2, -1), keepdim=True).clamp(min=eps)
    for _ in range(steps):
        A = X @ X.mT                                         # (k, m, m)
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)          # b A + c A @ A, in one call
        X = torch.baddbmm(X, B, X, beta=a)                   # a X + B @ X: (k, m, n)
    X = X.mT if tall else X                                  # (k, rows, cols)
    return X.squeeze(0) if one else X


class Muon(torch.optim.Optimizer):
    """Lesson 20: momentum, then orthogonalise, then step; for 2-D weights only.

    Per matrix ``W`` with gradient ``g`` (as ``torch.optim.Muon`` with
    ``adjust_lr_fn="match_rms_adamw"``): ``m <- momentum * m + (1 - momentum) * g``; the update
    direction is ``newton_schulz(lerp(g, m, momentum))`` (Nesterov) or ``newton_schulz(m)``;
    ``W <- W (1 - lr * weight_decay) - lr * 0.2 * sqrt(max(rows, cols)) * direction``. The factor
    0.2 sqrt(max(rows, cols)) gives the step about the size AdamW's would have, so AdamW's
    learning rate works here too. ``ns_dtype``: the arithmetic of the iteration (float32, or
    bfloat16 as in ``torch.optim.Muon``, faster where the hardware multiplies bf16). A
    worked example is in the module's docstring.
    """

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 0.1, momentum: float = 0.95,
                 nesterov: bool = True, ns_steps: int = 5, eps: float = 1e-7,
                 ns_dtype: torch.dtype = torch.float32):
        if lr < 0 or weight_decay < 0 or not 0 <= momentum < 1 or ns_steps < 1:
            raise ValueError(f"Muon needs lr >= 0, weight_decay >= 0, 0 <= momentum < 1 and ns_steps >= 1; "
                             f"got lr={lr}, weight_decay={weight_decay}, momentum={momentum}, ns_steps={ns_steps}.")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                      nesterov=nesterov, ns_steps=ns_steps, eps=eps))
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(f"Muon updates 2-D weight matrices only, got a parameter of shape "
                                     f"{tuple(p.shape)}; give biases, norm gains and embeddings to AdamW.")
        if ns_dtype not in (torch.float32, torch.bfloat16, torch.float64):
            raise ValueError(f"ns_dtype must be torch.float32, torch.bfloat16 or torch.float64, got {ns_dtype}.")
        # the arithmetic of the iteration, not a hyperparameter: kept out of the state dict, so a
        # run resumed on another machine uses what suits that machine
        self.ns_dtype = ns_dtype

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            mom = group["momentum"]
            by_shape: dict[tuple, list] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - mom)
                update = p.grad.lerp(buf, mom) if group["nesterov"] else buf
                by_shape.setdefault(tuple(p.shape), []).append((p, update))
            for shape, items in by_shape.items():
                stacked = torch.stack([u.to(self.ns_dtype) for _, u in items])  # (k, rows, cols)
                ortho = newton_schulz(stacked, group["ns_steps"], group["eps"])
                scale = group["lr"] * 0.2 * math.sqrt(max(shape))
                for (p, _), o in zip(items, ortho):
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    p.add_(o.to(p.dtype), alpha=-scale)
        return loss


class OptimizerSet:
    """Lesson 20: several optimisers used as one (``step``, ``zero_grad``, ``param_groups``,
    ``state_dict``), e.g. Muon for the blocks' matrices and AdamW for everything else.

    ``param_groups`` lists every member's groups, so setting ``group["lr"]`` on each (as the
    trainer's schedule does) reaches all of them.

    >>> a, b = torch.nn.Parameter(torch.ones(2, 2)), torch.nn.Parameter(torch.ones(2))
    >>> opt = OptimizerSet(muon=Muon([a]), adamw=torch.optim.AdamW([b]))
    >>> len(opt.param_groups), sorted(opt.state_dict())
    (2, ['adamw', 'muon'])
    """

    def __init__(self, **optimizers: torch.optim.Optimizer):
        if not optimizers:
            raise ValueError("OptimizerSet needs at least one optimiser, e.g. OptimizerSet(adamw=...).")
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [g for opt in self.optimizers.values() for g in opt.param_groups]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in self.optimizers.values():
            opt.step()

    def state_dict(self) -> dict:
        return {name: opt.state_dict() for name, opt in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != set(self.optimizers):
            raise ValueError(f"this optimiser state holds {sorted(state)}, but the run uses "
                             f"{sorted(self.optimizers)}; resume with the optimizer setting it was saved with.")
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state[name])
