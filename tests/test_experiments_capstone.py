"""Lesson 20's step-count and final-loss estimate."""

import math

import pytest

from llmcourse.data import load_corpus
from llmcourse.experiments.capstone import FIVE_MINUTE_RUNS, expected_final_loss, time_steps
from llmcourse.tokenizers import CharTokenizer


def test_expected_final_loss_follows_the_measured_runs():
    # more steps, lower loss, and within 0.02 of every measured run
    assert expected_final_loss(1700) > expected_final_loss(2700) > expected_final_loss(4000)
    for steps, loss in FIVE_MINUTE_RUNS:
        assert abs(expected_final_loss(steps) - loss) < 0.02, (steps, loss)
    with pytest.raises(ValueError, match="positive"):
        expected_final_loss(0)


def test_time_steps_gives_seconds_per_step():
    text = load_corpus("tinyshakespeare")[:20000]
    tok = CharTokenizer.from_text(text)
    seconds = time_steps("tiny", text=text, tokenizer=tok, steps=2)
    assert math.isfinite(seconds) and 0 < seconds < 5
    with pytest.raises(ValueError, match="at least 1"):
        time_steps("tiny", text=text, tokenizer=tok, steps=0)
