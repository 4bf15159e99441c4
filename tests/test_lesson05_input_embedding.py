"""Lesson 5: the exercise references (llmcourse/grading/lessons/l05.py) equal the package's
InputEmbedding, Hugging Face GPT-2's input and PyTorch's dropout, and the article's sums."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from llmcourse.embedding import InputEmbedding as PackageInputEmbedding
from llmcourse.grading.lessons import l05


def _same_tables(V=11, P=9, C=6):
    torch.manual_seed(0)
    ref = l05.InputEmbedding(V, P, C).eval()
    pkg = PackageInputEmbedding(V, P, C).eval()
    with torch.no_grad():
        pkg.tok.weight.copy_(ref.wte.weight)
        pkg.pos.weight.copy_(ref.wpe.weight)
    return ref, pkg


def test_reference_module_equals_the_package():
    ref, pkg = _same_tables()
    idx = torch.randint(0, 11, (3, 9))
    for T in (1, 4, 9):
        assert torch.equal(ref(idx[:, :T]), pkg(idx[:, :T]))


def test_reference_module_equals_hugging_face_gpt2_input():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(vocab_size=11, n_positions=9, n_embd=6, n_layer=1, n_head=2,
                                  bos_token_id=None, eos_token_id=None)
    hf = transformers.GPT2Model(cfg).eval()
    ref = l05.InputEmbedding(11, 9, 6).eval()
    with torch.no_grad():
        ref.wte.weight.copy_(hf.wte.weight)
        ref.wpe.weight.copy_(hf.wpe.weight)
        idx = torch.randint(0, 11, (2, 7))
        assert torch.equal(hf(idx, output_hidden_states=True).hidden_states[0], ref(idx))


def test_article_sum_and_the_dropout_prediction():
    cat = torch.tensor([0.78, 0.30, -0.12, 0.45])
    assert [round(v, 2) for v in (cat + torch.tensor([0.91, -0.42, 0.14, -0.99])).tolist()] == [1.69, -0.12, 0.02, -0.54]
    torch.manual_seed(0)
    assert l05.dropout_max() == pytest.approx(F.dropout(torch.ones(10_000), p=0.2, training=True).max().item())
    assert l05.dropout_max() == pytest.approx(1.25)


def test_the_given_module_is_wrong_only_when_shorter_than_block_size():
    torch.manual_seed(0)
    ref = l05.InputEmbedding(11, 9, 6).eval()
    given = l05._LastRows(11, 9, 6).eval()
    given.load_state_dict(ref.state_dict())
    idx = torch.randint(0, 11, (2, 9))
    with torch.no_grad():
        assert torch.equal(given(idx), ref(idx))  # T == block_size: the last T rows are all rows
        assert not torch.allclose(given(idx[:, :5]), ref(idx[:, :5]))


def test_dropout_reference_equals_torch_dropout_given_its_mask():
    torch.manual_seed(3)
    x = torch.randn(64, 32) + 5.0  # no exact zeros in x, so zeros in the output mark dropped entries
    for p in (0.1, 0.5):
        out = F.dropout(x, p=p, training=True)
        torch.testing.assert_close(l05.dropout(x, out != 0, p, True), out, atol=1e-6, rtol=1e-6)
        assert torch.equal(l05.dropout(x, out != 0, p, False), x)
