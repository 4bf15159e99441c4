"""llmcourse.data: the bundled corpus, the split and the random-window batches (lesson 20)."""

import hashlib

import pytest
import torch

from llmcourse import data
from llmcourse.data import BatchSampler, load_corpus, train_val_split


def test_corpus_is_shipped_and_exact():
    text = load_corpus("tinyshakespeare", verify=True)
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    raw = data.corpus_path().read_bytes()
    assert hashlib.sha256(raw).hexdigest() == data.CORPORA["tinyshakespeare"][1]
    assert len(set(text)) == 65


def test_package_exports_load_corpus():
    import llmcourse

    assert llmcourse.load_corpus is load_corpus


def test_unknown_corpus_lists_known():
    with pytest.raises(ValueError, match="tinyshakespeare"):
        load_corpus("war-and-peace")


def test_verify_detects_a_damaged_file(monkeypatch, tmp_path):
    bad = tmp_path / "tinyshakespeare.txt"
    bad.write_text("not shakespeare", encoding="utf-8")
    monkeypatch.setattr(data, "DATA_DIR", tmp_path)
    with pytest.raises(ValueError, match="damaged"):
        load_corpus("tinyshakespeare", verify=True)


def test_split_is_contiguous_head_and_tail():
    ids = torch.arange(100)
    train, val = train_val_split(ids, 0.1)
    assert train.tolist() == list(range(90)) and val.tolist() == list(range(90, 100))
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="val_fraction"):
            train_val_split(ids, bad)


def test_batches_are_shifted_windows_of_the_data():
    ids = torch.arange(1000) * 7 % 65  # a stream where we can check windows by value
    s = BatchSampler(ids, batch_size=5, block_size=16, seed=3)
    x, y = s.next_batch()
    assert x.shape == y.shape == (5, 16) and x.dtype == torch.long
    for row_x, row_y in zip(x, y):
        start = next(i for i in range(len(ids) - 16) if torch.equal(ids[i:i + 16], row_x))
        assert torch.equal(ids[start + 1:start + 17], row_y)


def test_same_seed_same_batches_and_state_round_trip():
    ids = torch.arange(5000)
    a, b = BatchSampler(ids, 4, 8, seed=1), BatchSampler(ids, 4, 8, seed=1)
    assert all(torch.equal(a.next_batch()[0], b.next_batch()[0]) for _ in range(3))
    first = BatchSampler(ids, 4, 8, seed=1).next_batch()[0]
    assert not torch.equal(first, BatchSampler(ids, 4, 8, seed=2).next_batch()[0])
    state = a.state_dict()
    expected = [a.next_batch()[0] for _ in range(3)]
    d = BatchSampler(ids, 4, 8, seed=99)
    d.load_state_dict(state)
    assert all(torch.equal(e, d.next_batch()[0]) for e in expected)


def test_ranks_share_one_global_batch():
    ids = torch.arange(5000)
    full = BatchSampler(ids, 6, 8, seed=5).next_batch()[0]
    parts = [BatchSampler(ids, 6, 8, seed=5, rank=r, world_size=3).next_batch()[0] for r in range(3)]
    assert torch.equal(torch.cat(parts), full)


def test_sampler_errors_are_clear():
    with pytest.raises(ValueError, match="divisible"):
        BatchSampler(torch.arange(100), 5, 8, world_size=2)
    with pytest.raises(ValueError, match="block_size"):
        BatchSampler(torch.arange(10), 2, 16)
    with pytest.raises(TypeError, match="1-D"):
        BatchSampler(torch.zeros(4, 4, dtype=torch.long), 2, 2)
