"""``with torch_threads(1): ...``: run a block on a set number of torch threads, then restore."""

import contextlib

import torch


@contextlib.contextmanager
def torch_threads(n: int):
    """Tiny models run fastest on one thread, and one thread per test process keeps parallel
    test workers from oversubscribing the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
