"""The depth sweep trains one model per (depth, seed): seeds change the result, the same seed
repeats it exactly, and every depth reports one final loss per seed."""

import pytest

from llmcourse.experiments.depth_sweep import summarise, train_depths

SMALL = dict(n_embd=16, n_head=2, block_size=16, batch_size=2, eval_iters=1)


def test_every_depth_gets_one_loss_per_seed_and_seeds_differ():
    runs = train_depths([1, 2], seeds=[0, 1, 0], steps=3, **SMALL)
    assert list(runs) == [1, 2]
    for r in runs.values():
        assert len(r["val"]) == len(r["curves"]) == 3
        assert r["val"][0] == r["val"][2]  # the same seed repeats the run exactly
        assert r["val"][0] != r["val"][1]  # another seed is another run
    assert runs[2]["params"] > runs[1]["params"]
    assert len(summarise(runs)) == 2


def test_an_empty_sweep_is_refused_before_training():
    with pytest.raises(ValueError, match="at least one depth"):
        train_depths([], seeds=[0], steps=3)
