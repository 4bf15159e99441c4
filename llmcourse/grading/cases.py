"""Test cases for exercises: :class:`Case` (the inputs of one call) and :class:`Rand` (the fresh
random source hidden cases are drawn from).

>>> c = Case(4)
>>> c.args, c.kwargs
((4,), {})
>>> Case(torch.zeros(2, 3), dim=-1).describe()
'x0 = tensor of shape (2, 3) float32: tensor([[0., 0., 0.], [0., 0., 0.]]), dim = -1'
>>> r = Rand(0)
>>> r.randn(2, 3).shape, 2 <= r.integer(2, 9) <= 9
(torch.Size([2, 3]), True)
"""

from __future__ import annotations

import copy
import random

import torch

from .show import show


class Case:
    """The inputs of one call: ``Case(*args, **kwargs)`` calls ``submission(*args, **kwargs)``.

    For module exercises, ``.build_with(*a, **kw)`` sets the constructor arguments: the grader
    builds ``Submission(*a, **kw)``, copies the reference's weights in and calls it on the
    inputs. ``.named("...")`` gives the case a label shown in failure messages.
    """

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        self.init_args: tuple = ()
        self.init_kwargs: dict = {}
        self.label: str | None = None
        self.visible = False

    def build_with(self, *args, **kwargs) -> "Case":
        """Constructor arguments for module exercises (returns the case, so it chains)."""
        self.init_args, self.init_kwargs = args, kwargs
        return self

    def named(self, label: str) -> "Case":
        self.label = label
        return self

    def inputs(self):
        """Fresh deep copies of the call's arguments, so a submission that edits its inputs in
        place cannot change what the reference sees."""
        return copy.deepcopy(self.args), copy.deepcopy(self.kwargs)

    def describe(self, names: list[str] | None = None) -> str:
        """Inputs in one line for messages; ``names`` are the parameter names if known."""
        parts = []
        if self.init_args or self.init_kwargs:
            init = [show(a, 60) for a in self.init_args]
            init += [f"{k}={show(v, 60)}" for k, v in self.init_kwargs.items()]
            parts.append(f"built with ({', '.join(init)})")
        for i, a in enumerate(self.args):
            name = names[i] if names and i < len(names) else f"x{i}"
            parts.append(f"{name} = {show(a, 240)}")
        parts += [f"{k} = {show(v, 240)}" for k, v in self.kwargs.items()]
        text = ", ".join(parts) or "no arguments"
        return f"{self.label}: {text}" if self.label else text

    def __repr__(self) -> str:
        return f"Case({self.describe()})"


class Rand:
    """Random inputs for hidden cases, from one seed (a fresh seed for every check, printed in
    failure messages so a case can be replayed with ``check(..., seed=...)``)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.py = random.Random(seed)

    def randn(self, *shape: int, scale: float = 1.0, dtype=torch.float32) -> torch.Tensor:
        """Standard normal tensor of ``shape`` times ``scale``."""
        return torch.randn(*shape, generator=self.generator, dtype=dtype) * scale

    def rand(self, *shape: int, dtype=torch.float32) -> torch.Tensor:
        """Uniform ``[0, 1)`` tensor of ``shape``."""
        return torch.rand(*shape, generator=self.generator, dtype=dtype)

    def randint(self, low: int, high: int, *shape: int) -> torch.Tensor:
        """Integer tensor in ``[low, high)`` of ``shape`` (``torch.long``)."""
        return torch.randint(low, high, shape, generator=self.generator)

    def integer(self, low: int, high: int) -> int:
        """One Python int in ``[low, high]`` (both ends included)."""
        return self.py.randint(low, high)

    def choice(self, options):
        return self.py.choice(list(options))

    def seed_torch(self) -> int:
        """A seed derived from this one, for code that draws from torch's global generator."""
        return self.py.randrange(2**31)
