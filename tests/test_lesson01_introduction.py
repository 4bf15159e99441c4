"""Lesson 1: the exercise references (llmcourse/grading/lessons/l01.py) agree with independent
implementations and with the package (``generate``, ``num_parameters``, ``scaling``)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from llmcourse import scaling
from llmcourse.grading.lessons import l01
from llmcourse.sampling import generate
from llmcourse.tokenizers import CharTokenizer


def test_count_parameters_on_gpts_matches_the_closed_form():
    for tie, pos in [(True, "learned"), (False, "learned"), (True, "rope")]:
        m = l01._tiny_gpt(0, tie_weights=tie, pos_embedding=pos)
        n = l01.count_parameters(m)
        assert n == m.num_parameters() == scaling.count_parameters(m.config)
    tied, untied = l01._tiny_gpt(0), l01._tiny_gpt(0, tie_weights=False)
    assert l01.count_parameters(untied) - l01.count_parameters(tied) == 11 * 16  # one (V, C) matrix more
    assert l01.count_parameters(nn.Linear(4, 3)) == 15
    assert l01.count_parameters(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))) == 20 + 8  # buffers not counted


def test_greedy_next_token_uses_the_last_row():
    tok = CharTokenizer(list("abcd"))
    logits = torch.tensor([[0.0, 1.0, 5.0, 2.0], [3.0, 0.5, 1.0, 4.0]])
    assert l01.greedy_next_token(logits, tok) == (3, "d")
    got = l01.greedy_next_token(logits[:1], tok)
    assert got == (2, "c") and isinstance(got[0], int)


def _loop_by_hand(model, idx, n):
    """Independent greedy loop in plain Python lists."""
    block = model.config.block_size
    rows = [list(r) for r in idx.tolist()]
    with torch.no_grad():
        for _ in range(n):
            for r in rows:
                logits = model(torch.tensor([r[-block:]]))[0, -1]  # (V,)
                r.append(max(range(len(logits)), key=lambda v: logits[v].item()))
    return torch.tensor(rows)


@pytest.mark.parametrize("prompt_len,n", [(3, 4), (5, 9)])
def test_greedy_generate_equals_a_loop_by_hand_and_the_cache(prompt_len, n):
    torch.manual_seed(prompt_len)
    m = l01._tiny_gpt(1, vocab_size=13, block_size=6)
    idx = torch.randint(0, 13, (2, prompt_len))
    got = l01.greedy_generate(m, idx, n)
    assert got.shape == (2, prompt_len + n) and got.dtype == torch.long
    assert torch.equal(got, _loop_by_hand(m, idx, n))  # crops to the last 6 tokens once it is longer
    assert torch.equal(got, generate(m, idx, n, temperature=0, use_cache=True))


def test_window_sum_model_depends_on_the_whole_context():
    m = l01.WindowSumModel(7, 4)
    idx = torch.tensor([[3, 5, 6]])
    logits = m(idx)  # (1, 3, 7)
    assert logits.argmax(-1).tolist() == [[3, 1, 0]]  # 3, 3+5=8=1, 14=0 (mod 7)
    with pytest.raises(ValueError, match="block_size=4"):
        m(torch.zeros(1, 5, dtype=torch.long))
    # cropping the first vs the last block_size tokens gives different continuations
    out = l01.greedy_generate(m, torch.tensor([[1, 2, 3]]), 4)
    assert out.tolist() == _loop_by_hand(m, torch.tensor([[1, 2, 3]]), 4).tolist()
    first = l01._loop(m, torch.tensor([[1, 2, 3]]), 4, crop="first")
    assert not torch.equal(out, first)
