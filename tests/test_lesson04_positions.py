"""Lesson 4: the exercise references (llmcourse/grading/lessons/l04.py) agree with closed-form
formulas computed independently, and RoPE has the properties the lesson claims."""

from __future__ import annotations

import math

import pytest
import torch

from llmcourse.grading.lessons import l04


def test_sinusoidal_reference_equals_the_formula_with_math_sin():
    P, d = 40, 12
    table = l04.sinusoidal_table(P, d)
    for p in range(P):
        for i in range(d // 2):
            a = p / 10000 ** (2 * i / d)
            assert abs(table[p, 2 * i].item() - math.sin(a)) < 1e-6
            assert abs(table[p, 2 * i + 1].item() - math.cos(a)) < 1e-6


def test_seed_pos_enc_2_is_not_sinusoidal():
    row = [round(v, 2) for v in l04.sinusoidal_table(3, 4)[2].tolist()]
    assert row == [0.91, -0.42, 0.02, 1.0]
    seed = [0.91, -0.42, 0.14, -0.99]
    assert [round(f(a), 2) for a in (2, 3) for f in (math.sin, math.cos)] == seed  # sin 2, cos 2, sin 3, cos 3
    assert row != seed


@pytest.mark.parametrize("offset", [0, 3, 17])
def test_rope_reference_equals_complex_multiplication(offset):
    torch.manual_seed(offset)
    x = torch.randn(2, 3, 5, 8, dtype=torch.float64)                         # (B, nh, T, hd)
    T, hd = x.shape[-2], x.shape[-1]
    z = torch.view_as_complex(x.reshape(2, 3, T, hd // 2, 2).contiguous())  # (B, nh, T, hd/2)
    theta = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    pos = torch.arange(offset, offset + T, dtype=torch.float64).unsqueeze(1)
    want = torch.view_as_real(z * torch.polar(torch.ones(T, hd // 2, dtype=torch.float64), pos * theta))
    got = l04.rope(x, offset=offset)  # the package's angles are float32: agreement to ~1e-7
    torch.testing.assert_close(got, want.reshape(x.shape), atol=1e-6, rtol=0)


def test_rope_keeps_lengths_and_scores_depend_on_distance_only():
    torch.manual_seed(0)
    q, k = torch.randn(1, 16, dtype=torch.float64), torch.randn(1, 16, dtype=torch.float64)
    torch.testing.assert_close(l04.rope(q, offset=41).norm(), q.norm())
    s = lambda m, n: (l04.rope(q, offset=m) * l04.rope(k, offset=n)).sum().item()  # noqa: E731
    assert abs(s(5, 3) - s(105, 103)) < 1e-5 and abs(s(5, 3) - s(5, 4)) > 1e-3


def test_rope_offset_equals_slicing_a_longer_sequence():
    # a new token at position 7 (KV cache) gets the same rotation as row 7 of a full sequence
    torch.manual_seed(1)
    x = torch.randn(10, 6)
    full = l04.rope(x)
    torch.testing.assert_close(l04.rope(x[7:8], offset=7), full[7:8], atol=1e-6, rtol=0)


def test_alibi_reference_has_the_paper_slopes_and_penalises_only_the_past():
    bias = l04.alibi_bias(8, 5)  # (8, 5, 5)
    assert bias.shape == (8, 5, 5)
    slopes = -bias[:, 1, 0]  # distance 1
    torch.testing.assert_close(slopes, torch.tensor([2.0 ** -k for k in range(1, 9)]))
    assert torch.equal(bias, bias.tril())  # keys after the query get 0
    torch.testing.assert_close(bias[3, 4, 1], -3 * slopes[3])
    torch.testing.assert_close(-l04.alibi_bias(2, 2)[:, 1, 0], torch.tensor([1 / 16, 1 / 256]))
