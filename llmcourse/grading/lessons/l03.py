"""Lesson 3 (Token Embeddings) exercises.

03.1 ``embedding_lookup(ids, E)`` (rebuild): the rows of the table ``E`` ``(V, d)`` for token ids
     of any shape ``(...)`` -> ``(..., d)``.
03.2 ``cosine_similarity(a, b)`` (find the bug): cosine of the angle between vectors along the last
     dimension; the given version divides by the lengths of the whole tensors.
03.3 ``analogy(E, a, b, c, k)`` (transfer): "a is to b as c is to ?", the rows nearest (by cosine)
     to ``E[b] - E[a] + E[c]``, the three given rows excluded.

The article's table, four words with four numbers each:

>>> embedding_lookup(torch.tensor([0, 1, 2]), SEED_E)[1]        # "cat"
tensor([ 0.7800,  0.3000, -0.1200,  0.4500])
>>> round(float(cosine_similarity(SEED_E[0], SEED_E[1])), 4)    # "the" vs "cat"
0.269
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from llmcourse import embedding
from llmcourse.grading import Case, Mistake, close, exact, exercise
from llmcourse.grading.registry import Alternative

#: The article's embedding matrix: "the"=0, "cat"=1, "sat"=2, "on"=3, d = 4.
SEED_WORDS = ["the", "cat", "sat", "on"]
SEED_E = torch.tensor([[0.12, -0.50, 0.33, 0.78],
                       [0.78, 0.30, -0.12, 0.45],
                       [0.45, -0.10, 0.67, -0.23],
                       [0.33, 0.89, 0.11, 0.56]])


# --- 03.1 embedding lookup -----------------------------------------------------------------------
def embedding_lookup(ids: torch.Tensor, E: torch.Tensor) -> torch.Tensor:
    """Reference: row ``ids[...]`` of ``E`` for every id, via PyTorch's own ``F.embedding``."""
    return F.embedding(ids, E)  # (..., d)


def _lookup_cases(r):
    V, d = r.integer(5, 30), r.choice([3, 6, 8])
    E = r.randn(V, d)
    B, T = r.integer(2, 4), r.integer(2, 7)
    return [
        Case(r.randint(0, V, T), E).named(f"a sequence of {T} ids into a ({V}, {d}) table"),
        Case(r.randint(0, V, B, T), E).named(f"a batch of ids, shape ({B}, {T})"),
        Case(torch.tensor([0, V - 1, 0, 0]), E).named("the first and the last row, repeated"),
        Case(r.randint(0, V, T), r.randn(V, 1)).named(f"a table of width d = 1, shape ({V}, 1)"),
        Case(r.randint(0, V, 1, T), E).named(f"a batch of one sequence, shape (1, {T})"),
        Case(r.randint(0, V, B, 1), E).named(f"{B} sequences of one id each, shape ({B}, 1)"),
        Case(torch.tensor(r.integer(0, V - 1)), E).named("a single id (a 0-dimensional tensor)"),
        Case(r.randint(0, 50257, 3), r.randn(50257, 4)).named("GPT-2's vocabulary size, 50257 rows"),
    ]


exercise(
    "03.1", "Embedding lookup", points=1, kind="rebuild",
    reference=embedding_lookup,
    visible=[Case(torch.tensor([0, 1, 2]), SEED_E).named('the article\'s table, "the cat sat" = ids [0, 1, 2]')],
    hidden=_lookup_cases,
    compare=close(atol=1e-6, rtol=1e-6),
    hint="Index the table with the id tensor: E[ids] returns one row per id and keeps the shape of "
         "ids, adding the dimension d at the end.",
    mistakes=[
        Mistake("one-hot vectors, not rows", lambda ids, E: F.one_hot(ids, E.shape[0]).float(),
                hint="one_hot(ids) is only half of the computation: multiply it by the table "
                     "(one_hot(ids).float() @ E), or simply index the table, E[ids]."),
        Mistake("off by one", lambda ids, E: E[ids - 1],
                hint="Ids count from 0: id 0 is row 0 of E, so use E[ids], not E[ids - 1]."),
        Mistake("the vectors summed", lambda ids, E: E[ids].sum(dim=-2),
                hint="Return one vector per token, shape (..., d); do not add the rows of a "
                     "sequence together."),
        Mistake("size-1 dimensions squeezed away", lambda ids, E: E[ids].squeeze(),
                hint="Do not .squeeze() the result: a batch of one sequence (1, T) must give (1, T, d), "
                     "and a table of width d = 1 still gives a last dimension of size 1."),
        Mistake("batch flattened", lambda ids, E: E[ids.reshape(-1)],
                hint="Keep the shape of ids: a (B, T) batch of ids gives a (B, T, d) result. "
                     "E[ids] does this without any reshape."),
    ],
    alternatives=[Alternative("plain indexing E[ids]", lambda ids, E: E[ids]),
                  Alternative("one-hot rows times E", lambda ids, E: F.one_hot(ids, E.shape[0]).to(E.dtype) @ E),
                  Alternative("index_select, then reshape",
                              lambda ids, E: E.index_select(0, ids.reshape(-1)).reshape(*ids.shape, E.shape[-1]))],
)


# --- 03.2 cosine similarity ----------------------------------------------------------------------
def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Reference: ``a . b / (|a| |b|)`` along the last dimension (inputs broadcast)."""
    return (a * b).sum(dim=-1) / (a.norm(dim=-1) * b.norm(dim=-1))  # (...)


def _scaled_rows(r, n, d, low=-2.0, high=2.0):
    """Random rows whose lengths differ by orders of magnitude (10**low .. 10**high)."""
    lengths = 10 ** (low + (high - low) * r.rand(n, 1))  # (n, 1)
    return r.randn(n, d) * lengths


def _cosine_cases(r):
    d = r.choice([3, 5, 8, 16])
    N, B, T = r.integer(4, 9), r.integer(2, 3), r.integer(2, 5)
    a = r.randn(d, scale=3.0)
    return [
        Case(_scaled_rows(r, N, d), _scaled_rows(r, N, d)).named(f"{N} pairs of rows of very different lengths"),
        Case(a, 3.0 * a).named("b = 3 a (same direction: cosine 1)"),
        Case(a, -0.5 * a).named("b = -a / 2 (opposite: cosine -1)"),
        Case(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])).named("orthogonal vectors"),
        Case(r.randn(B, T, d), r.randn(B, T, d, scale=0.1)).named(f"3-D inputs ({B}, {T}, {d})"),
        Case(a, _scaled_rows(r, N, d)).named("one vector (d,) against a table (N, d): broadcasting"),
        Case(r.randn(1, d), r.randn(1, d, scale=5.0)).named(f"one pair in a batch of one, shape (1, {d})"),
    ]


def _dot(a, b):
    return (a * b).sum(dim=-1)


def _one_length(a, b):
    """The given bug: the norms of the whole tensors, so a batch of pairs shares one length."""
    return (a * b).sum(dim=-1) / (a.norm() * b.norm())


exercise(
    "03.2", "Cosine similarity for a batch", points=1, kind="find the bug", given=_one_length,
    reference=cosine_similarity,
    visible=[Case(SEED_E[0], SEED_E[1]).named('the article\'s "the" and "cat"')],
    hidden=_cosine_cases,
    compare=close(atol=1e-5, rtol=1e-4),
    hint="Divide each dot product by the lengths of ITS two vectors: cos(a, b) = (a * b).sum(-1) / "
         "(a.norm(dim=-1) * b.norm(dim=-1)), everything along the last dimension. a.norm() without dim "
         "is the length of the whole tensor.",
    mistakes=[
        Mistake("dot product, not normalised", _dot,
                hint="The dot product grows with the vectors' lengths. Divide it by |a| * |b| so that "
                     "only the angle counts (the result is always between -1 and 1)."),
        Mistake("only a normalised", lambda a, b: _dot(a, b) / a.norm(dim=-1),
                hint="Divide by the lengths of BOTH vectors: a.norm(dim=-1) * b.norm(dim=-1)."),
        Mistake("divided by squared lengths",
                lambda a, b: _dot(a, b) / ((a * a).sum(-1) * (b * b).sum(-1)),
                hint="The length is the square root of the sum of squares: use .norm(dim=-1) (or "
                     ".pow(2).sum(-1).sqrt()), not the sum of squares itself."),
        Mistake("Euclidean distance", lambda a, b: (a - b).norm(dim=-1),
                hint="That is the distance |a - b|. Cosine similarity is about the angle: "
                     "a . b / (|a| |b|)."),
        Mistake("summed over the first dimension", lambda a, b: (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0)),
                hint="Reduce over the LAST dimension (dim=-1), the d numbers of each vector; the "
                     "dimensions before it are separate vectors. (F.cosine_similarity's default "
                     "dim=1 is only right for 2-D inputs.)"),
    ],
    alternatives=[Alternative("F.cosine_similarity", lambda a, b: F.cosine_similarity(a, b, dim=-1)),
                  Alternative("normalise, then dot",
                              lambda a, b: (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(-1)),
                  Alternative("einsum and sqrt", lambda a, b: torch.einsum("...d,...d->...", a, b)
                              / torch.sqrt((a * a).sum(-1) * (b * b).sum(-1)))],
)


# --- 03.3 analogies (transfer) ---------------------------------------------------------------------
def analogy(E: torch.Tensor, a: int, b: int, c: int, k: int) -> torch.Tensor:
    """Reference: "a is to b as c is to ?". The ids ``(k,)`` of the rows of ``E`` most similar (by
    cosine) to ``E[b] - E[a] + E[c]``, most similar first, with ``a``, ``b`` and ``c`` excluded."""
    target = E[b] - E[a] + E[c]  # (d,)
    sims = F.normalize(E, dim=-1) @ F.normalize(target, dim=0)  # (V,) cosines
    sims[[a, b, c]] = float("-inf")  # the three given words are never the answer
    return torch.topk(sims, k).indices  # (k,)


@functools.lru_cache(maxsize=1)
def _trained_table():
    from llmcourse import pretrained

    model, tok = pretrained.load("shakespeare-char")
    return model.embed.tok.weight.detach().clone(), tok


def _analogy_visible(r):
    E, tok = _trained_table()
    a, b, c = (tok.encode(ch)[0] for ch in "aAe")
    return [Case(E, a, b, c, 3).named("the shipped model's table: 'a' is to 'A' as 'e' is to ? (answer 'E' first)")]


def _near_c_table(r, d=6, n=8):
    """Row c = 0 with two rows like it, every other row pointing the opposite way; b is a copy of a
    (among the opposite rows) plus a tiny change, so the target E[b] - E[a] + E[c] is almost E[c]."""
    base = r.randn(d)
    similar = base + 0.3 * r.randn(2, d)  # (2, d)
    opposite = -base + 0.3 * r.randn(n, d)  # (n, d)
    E = torch.cat([base.unsqueeze(0), similar, opposite])  # (n + 3, d)
    E[4] = E[3] + 0.01 * r.randn(d)  # b = row 4, a near copy of a = row 3
    return E


def _analogy_cases(r):
    V, d = r.integer(12, 40), r.choice([4, 8, 16])
    E = _scaled_rows(r, V, d, low=-1.0, high=1.5)
    a, b, c = r.py.sample(range(V), 3)
    E2 = r.randn(V, d)
    a2, b2, c2 = r.py.sample(range(V), 3)
    return [
        Case(E, a, b, c, r.integer(2, 5)).named(f"random table ({V}, {d}), rows of very different lengths"),
        Case(_near_c_table(r), 3, 4, 0, 5).named("b is almost a, so the target is almost c (and most cosines are negative)"),
        Case(E2, a2, b2, c2, 1).named("k = 1"),
        Case(E2, a2, b2, c2, V - 3).named("k = V - 3: every other row, ordered"),
    ]


def _analogy_no_exclusion(E, a, b, c, k):
    sims = F.normalize(E, dim=-1) @ F.normalize(E[b] - E[a] + E[c], dim=0)
    return torch.topk(sims, k).indices


def _analogy_reversed(E, a, b, c, k):
    return analogy(E, b, a, c, k)  # E[a] - E[b] + E[c]: the offset the wrong way round


def _analogy_dot(E, a, b, c, k):
    sims = E @ (E[b] - E[a] + E[c])  # unnormalised: long rows win
    sims[[a, b, c]] = float("-inf")
    return torch.topk(sims, k).indices


def _analogy_zeroed(E, a, b, c, k):
    sims = F.normalize(E, dim=-1) @ F.normalize(E[b] - E[a] + E[c], dim=0)
    sims[[a, b, c]] = 0.0  # 0 is not low enough: cosines go down to -1
    return torch.topk(sims, k).indices


def _analogy_only_c(E, a, b, c, k):
    sims = F.normalize(E, dim=-1) @ F.normalize(E[b] - E[a] + E[c], dim=0)
    sims[c] = float("-inf")
    return torch.topk(sims, k).indices


def _analogy_argsort(E, a, b, c, k):
    t = (E[b] - E[a] + E[c]).unsqueeze(0)  # (1, d)
    sims = F.cosine_similarity(E, t, dim=-1)  # (V,)
    order = [int(j) for j in torch.argsort(sims, descending=True) if int(j) not in (a, b, c)]
    return torch.tensor(order[:k])


exercise(
    "03.3", "Analogies in an embedding table", points=2, kind="transfer",
    reference=analogy,
    visible=_analogy_visible,
    hidden=_analogy_cases,
    compare=exact(),
    hint="Build the target E[b] - E[a] + E[c], take the cosine of every row of E with it "
         "(F.normalize the rows and the target, then a matrix-vector product), set the entries of a, b "
         "and c to float('-inf'), and return torch.topk(sims, k).indices.",
    mistakes=[
        Mistake("the three given words not excluded", _analogy_no_exclusion,
                hint="The target is built from E[a], E[b] and E[c], so it is often closest to one of "
                     "them. Exclude a, b and c (set their similarities to float('-inf'))."),
        Mistake("the offset the wrong way round", _analogy_reversed,
                hint="'a is to b as c is to ?' moves c by the step from a to b: E[b] - E[a] + E[c], "
                     "not E[a] - E[b] + E[c]."),
        Mistake("dot product instead of cosine", _analogy_dot,
                hint="Rank by cosine, not by the dot product, which favours long rows: normalise the "
                     "rows (F.normalize(E, dim=-1)) before comparing."),
        Mistake("the given words excluded with 0", _analogy_zeroed,
                hint="Cosines can be negative (down to -1), so a similarity of 0 can still beat other "
                     "rows. Use float('-inf') to exclude a, b and c."),
        Mistake("only c excluded", _analogy_only_c,
                hint="Exclude all three given words, a and b as well as c: when b is close to a, "
                     "the target is close to them too."),
    ],
    alternatives=[Alternative("F.cosine_similarity, argsort, skip a, b, c", _analogy_argsort)],
)
