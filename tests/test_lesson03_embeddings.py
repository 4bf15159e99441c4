"""Lesson 3: the exercise references (llmcourse/grading/lessons/l03.py) and
``llmcourse.embedding.nearest_neighbours`` agree with PyTorch and with brute force, reproduce the
article's worked numbers, and the shipped model's table shows the structure the lesson describes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from llmcourse import embedding, pretrained
from llmcourse.grading.lessons import l03


def test_seed_table_lookup_reproduces_the_seed_rows():
    got = l03.embedding_lookup(torch.tensor([0, 1, 2]), l03.SEED_E)  # "the cat sat"
    want = torch.tensor([[0.12, -0.50, 0.33, 0.78], [0.78, 0.30, -0.12, 0.45], [0.45, -0.10, 0.67, -0.23]])
    assert torch.equal(got, want)
    assert l03.SEED_WORDS == ["the", "cat", "sat", "on"]


def test_lookup_equals_one_hot_product_and_nn_embedding():
    g = torch.Generator().manual_seed(0)
    E = torch.randn(37, 8, generator=g)
    ids = torch.randint(0, 37, (3, 5), generator=g)  # (B, T)
    emb = nn.Embedding.from_pretrained(E)
    assert torch.equal(l03.embedding_lookup(ids, E), emb(ids))  # (3, 5, 8)
    assert torch.equal(l03.embedding_lookup(ids, E), F.one_hot(ids, 37).float() @ E)  # exact: 1s and 0s


def test_cosine_reference_matches_torch_and_the_seed():
    # the seed's table: cos(the, cat), the matrix the lesson prints (rounded to 2 decimals)
    assert round(float(l03.cosine_similarity(l03.SEED_E[0], l03.SEED_E[1])), 4) == 0.2690
    C = l03.cosine_similarity(l03.SEED_E.unsqueeze(1), l03.SEED_E.unsqueeze(0))  # (4, 4)
    assert [round(v, 2) for v in C[1].tolist()] == [0.27, 1.0, 0.17, 0.72]
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 5, 8, generator=g), torch.randn(2, 5, 8, generator=g) * 100
    torch.testing.assert_close(l03.cosine_similarity(a, b), F.cosine_similarity(a, b, dim=-1),
                               atol=1e-6, rtol=1e-5)


def _brute_force_neighbours(E, i, k):
    """Independent: Python sort of cosines computed one pair at a time in float64."""
    E = E.double()
    sims = [(float(E[j] @ E[i] / (E[j].norm() * E[i].norm())), j) for j in range(E.shape[0]) if j != i]
    return [j for _, j in sorted(sims, reverse=True)[:k]]


@pytest.mark.parametrize("seed", range(5))
def test_nearest_neighbours_equals_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    V, d = 30, 6
    E = torch.randn(V, d, generator=g) * 10 ** (3 * torch.rand(V, 1, generator=g) - 1)  # lengths 0.1 .. 100
    i, k = seed, 7
    ids, sims = embedding.nearest_neighbours(E, i, k)
    assert ids.tolist() == _brute_force_neighbours(E, i, k)
    assert ids.dtype == torch.long and ids.shape == (k,)
    assert i not in ids.tolist()
    assert torch.all(sims[:-1] >= sims[1:])  # most similar first
    want = F.cosine_similarity(E[ids], E[i].unsqueeze(0), dim=-1)
    torch.testing.assert_close(sims, want, atol=1e-6, rtol=1e-5)


def test_nearest_neighbours_seed_and_negative_cosines():
    assert embedding.nearest_neighbours(l03.SEED_E, 1, 2)[0].tolist() == [3, 0]  # cat: on 0.72, the 0.27
    # every other row points away from row 0: the self row must still never be picked
    E = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [-1.0, -0.3], [-0.5, 1.0]])  # cosines -0.995, -0.958, -0.447
    ids, sims = embedding.nearest_neighbours(E, 0, 3)
    assert ids.tolist() == [3, 2, 1] and bool((sims < 0).all())


def test_nearest_neighbours_errors_say_what_to_fix():
    E = torch.randn(4, 3)
    with pytest.raises(ValueError, match="between 1 and 3"):
        embedding.nearest_neighbours(E, 0, 4)
    with pytest.raises(IndexError, match="rows 0..3"):
        embedding.nearest_neighbours(E, 4, 1)
    with pytest.raises(ValueError, match=r"\(vocab_size, n_embd\)"):
        embedding.nearest_neighbours(torch.randn(4), 0, 1)
    w = nn.Parameter(torch.randn(4, 3))  # a trainable table: no graph is recorded
    ids, sims = embedding.nearest_neighbours(w, 0, 2)
    assert not sims.requires_grad


PT = Path(pretrained.__file__).parent / "data" / "shakespeare-char.pt"


@pytest.mark.skipif(not PT.is_file(), reason="the shipped model is not there yet")
def test_shipped_table_groups_characters_and_random_init_does_not():
    """The lesson's claims: training groups capitals, punctuation, the rare characters and case twins;
    a fresh table has no such groups."""
    from llmcourse.model import GPT

    model, tok = pretrained.load("shakespeare-char")
    E = model.embed.tok.weight.detach()  # (65, n_embd)
    torch.manual_seed(0)
    E0 = GPT(model.config).embed.tok.weight.detach()

    def within_minus_between(table, members):
        S = F.normalize(table, dim=1) @ F.normalize(table, dim=1).T  # (65, 65)
        ids = torch.tensor(tok.encode(members))
        inside = torch.zeros(65, dtype=torch.bool)
        inside[ids] = True
        pair_in = inside.unsqueeze(0) & inside.unsqueeze(1) & ~torch.eye(65, dtype=torch.bool)
        pair_out = inside.unsqueeze(1) & ~inside.unsqueeze(0)
        return S[pair_in].mean().item() - S[pair_out].mean().item()

    for members in ["ABCDEFGHIJKLMNOPQRSTUVWXYZ", ".,;:!?'-", "$&3"]:
        assert within_minus_between(E, members) > 0.15, members
        assert abs(within_minus_between(E0, members)) < 0.1, members

    # a letter's nearest neighbour is often its other-case twin (a/A, e/E, t/T in the lesson)
    twins = sum(int(embedding.nearest_neighbours(E, tok.encode(c)[0], 1)[0]) == tok.encode(c.upper())[0]
                for c in "abcdefghijklmnopqrstuvwxyz")
    twins0 = sum(int(embedding.nearest_neighbours(E0, tok.encode(c)[0], 1)[0]) == tok.encode(c.upper())[0]
                 for c in "abcdefghijklmnopqrstuvwxyz")
    assert twins >= 15 and twins0 <= 3, (twins, twins0)


def _brute_force_analogy(E, a, b, c, k):
    """Independent: float64 cosines one row at a time, Python sort, a, b and c skipped."""
    E = E.double()
    t = E[b] - E[a] + E[c]
    sims = [(float(E[j] @ t / (E[j].norm() * t.norm())), j) for j in range(E.shape[0]) if j not in (a, b, c)]
    return [j for _, j in sorted(sims, reverse=True)[:k]]


@pytest.mark.parametrize("seed", range(5))
def test_analogy_equals_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    E = torch.randn(30, 8, generator=g) * 10 ** (2 * torch.rand(30, 1, generator=g) - 1)
    a, b, c = torch.randperm(30, generator=g)[:3].tolist()
    assert l03.analogy(E, a, b, c, 6).tolist() == _brute_force_analogy(E, a, b, c, 6)


@pytest.mark.skipif(not PT.is_file(), reason="the shipped model is not there yet")
def test_shipped_table_solves_the_case_analogy():
    model, tok = pretrained.load("shakespeare-char")
    E = model.embed.tok.weight.detach()
    a, b, c = (tok.encode(ch)[0] for ch in "aAe")
    assert tok.decode(l03.analogy(E, a, b, c, 3).tolist())[0] == "E"  # a : A :: e : E
