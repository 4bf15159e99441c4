"""The norm-placement helper of lesson 6: pre-LN lets the stream grow, post-LN pins it at 1."""

import pytest

from llmcourse.experiments.norm_placement import stream_std_by_depth


def test_pre_ln_stream_grows_and_post_ln_stays_at_one():
    pre = stream_std_by_depth(n_layers=12, norm_position="pre")
    post = stream_std_by_depth(n_layers=12, norm_position="post")
    assert len(pre) == len(post) == 13
    assert pre[0] == pytest.approx(post[0]) == pytest.approx(0.02, rel=0.1)  # the same embeddings
    assert all(b > a for a, b in zip(pre[1:], pre[2:]))  # grows after every layer
    assert pre[12] == pytest.approx(12 ** 0.5, rel=0.25)  # about sqrt(depth)
    assert all(s == pytest.approx(1.0, abs=1e-2) for s in post[1:])


def test_same_seed_same_numbers_and_bad_position_refused():
    assert stream_std_by_depth(3, seed=1) == stream_std_by_depth(3, seed=1)
    with pytest.raises(ValueError, match="'pre' or 'post'"):
        stream_std_by_depth(3, norm_position="Pre")
