"""Lesson 1: the exercise references (llmcourse/grading/lessons/l01.py) agree with independent
implementations and with the package (``generate``)."""

from __future__ import annotations

import math

import pytest
import torch

from llmcourse.grading.lessons import l01
from llmcourse.sampling import generate


def test_untrained_loss_is_near_ln_vocab_and_far_from_the_planted_answers():
    got = l01.untrained_loss()
    assert abs(got - math.log(65)) < 0.1  # an untrained model spreads its probability evenly
    assert got == l01.untrained_loss()  # the same fresh model every time
    for wrong in (math.log2(65), 1 / 65, 65.0, math.log10(65)):
        assert abs(wrong - got) > 0.25  # each planted prediction is outside the tolerance


def _until_by_hand(model, idx, n, stop_id):
    """Independent: the full greedy continuation, cut after the first new stop token."""
    full = generate(model, idx, n, temperature=0, use_cache=False)[0].tolist()
    T = idx.shape[1]
    new = full[T:]
    if stop_id in new:
        new = new[:new.index(stop_id) + 1]
    return torch.tensor([full[:T] + new])


@pytest.mark.parametrize("seed", range(4))
def test_generate_until_equals_the_full_loop_cut_at_the_stop(seed):
    m = l01.WindowSumModel(7, 4)
    g = torch.Generator().manual_seed(seed)
    for _ in range(20):
        idx = torch.randint(0, 7, (1, int(torch.randint(1, 4, (1,), generator=g))), generator=g)
        stop = int(torch.randint(0, 8, (1,), generator=g))  # 7 never comes
        assert torch.equal(l01.generate_until(m, idx, 9, stop), _until_by_hand(m, idx, 9, stop))
    assert l01.generate_until(m, torch.tensor([[1, 2]]), 10, 5).tolist() == [[1, 2, 3, 6, 5]]


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
