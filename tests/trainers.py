"""``tiny_trainer(**overrides)``: a quiet :class:`llmcourse.train.Trainer` of the ``tiny`` preset
(no progress bar, no log lines), the run most training tests start from."""

from llmcourse.train import Trainer


def tiny_trainer(**kw) -> Trainer:
    kw.setdefault("progress", False)
    kw.setdefault("log", None)
    return Trainer("tiny", **kw)
