"""Device selection: CUDA, then Apple MPS, then CPU, never required; an explicit choice
wins. The machines that run this have no GPU, so the accelerators are simulated."""

import pytest
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
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert get_device("cpu") == torch.device("cpu")
    assert get_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match=r"'cuda:2' does not exist: this machine has 2 GPU\(s\), cuda:0 to cuda:1"):
        get_device("cuda:2")


def test_a_device_this_machine_lacks_is_explained_before_use(monkeypatch):
    import llmcourse.env as env

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device 'cuda' is not available: .*Use the CPU"):
        env.check_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu': expected cpu, cuda, cuda:N or mps"):
        get_device("gpu")
    assert env.check_device("cpu") == torch.device("cpu")
