"""``tiny_trainer(**overrides)``: a quiet :class:`llmcourse.train.Trainer` of the ``tiny`` preset
(no progress bar, no log lines), the run most training tests start from. It trains on the CPU
unless told otherwise: these tests compare runs number for number, which holds on the CPU (with
deterministic kernels), and compare with files loaded onto the CPU, so a machine with a GPU runs
them the same way."""

from llmcourse.training import Trainer


def tiny_trainer(**kw) -> Trainer:
    kw.setdefault("progress", False)
    kw.setdefault("log", None)
    kw.setdefault("device", "cpu")
    return Trainer("tiny", **kw)
