"""Device selection (issue 4): CUDA, then Apple MPS, then CPU, never required; an explicit choice
wins. The machines that run this have no GPU, so the accelerators are simulated."""

import torch

from llmcourse.env import get_device


def test_cpu_when_nothing_else(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")


def test_cuda_first_then_mps(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device() == torch.device("mps")


def test_explicit_choice_wins(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("cuda:1") == torch.device("cuda", 1)
